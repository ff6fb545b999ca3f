"""Modal screens: help, save and load dialogs, the prime-sample dialog, confirmation."""

from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.load_dialog import LoadDialog
from tui.screens.prime_dialog import PrimeDialog
from tui.screens.save_dialog import SaveDialog

__all__ = ["ConfirmScreen", "HelpScreen", "LoadDialog", "PrimeDialog", "SaveDialog"]
