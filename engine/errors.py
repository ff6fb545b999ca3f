"""The one exception type whose message is meant for the user, verbatim."""


class CharrnnError(ValueError):
    """Bad input the user can fix: the command line prints the message on one line and exits 2."""
