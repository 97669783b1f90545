"""User errors: one clear line, no traceback.

Library code raises ``ValueError`` (bad hyperparameters, like torch.optim) or :class:`DescentError` (bad files,
bad data, bad command-line values). The command line turns both into ``descent: error: <message>`` on stderr
and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DescentError(Exception):
    """An error caused by the user's input (a file, a name, a value), reported in one line."""


def one_line(message: object) -> str:
    """Collapse a message onto one line so the CLI never prints a multi-line error."""
    return " ".join(str(message).split())
