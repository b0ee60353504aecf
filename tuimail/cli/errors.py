"""Exit statuses of the `tuimail` commands, and `CommandError`, a failure to report with one.

Exit status: 0 success, 1 the command ran and something failed (a server check, a password),
2 bad usage or a bad configuration (nothing was started), 130 interrupted. The engines report
failure kinds (`tuimail.core.failure`); `exit_status` turns a kind into a status.
"""

from __future__ import annotations

from tuimail.core.failure import FailureKind

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure to report as `tuimail: error: ...` with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def exit_status(kind: str) -> int:
    """The exit status of a headless command for an account that failed with `kind`: another
    process syncing the account is no failure (it brings the mail)."""
    return EXIT_OK if kind == FailureKind.BUSY else EXIT_FAILED
