"""The console's widgets: loss panel, samples panel, status line, message line."""

from tui.widgets.loss_panel import LossPanel
from tui.widgets.message_line import MessageLine
from tui.widgets.samples_panel import SamplesPanel
from tui.widgets.status_line import StatusLine

__all__ = ["LossPanel", "MessageLine", "SamplesPanel", "StatusLine"]
