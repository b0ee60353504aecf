"""The account's folder patterns (`accounts.NAME.notify_folders`): which folders they name.

The app announces new mail in those folders (tuimail.app.notify); the IMAP live session, on a
server without NOTIFY, watches them over connections of their own (tuimail.sync.imap.watchers).
A pattern is an fnmatch pattern, case-sensitive like folder names, except INBOX, which IMAP makes
case-insensitive.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence


def folder_notifies(patterns: Sequence[str], folder: str) -> bool:
    """Whether `folder` matches one of the account's `notify_folders` patterns (fnmatch, case
    sensitive like folder names, except INBOX, which IMAP makes case-insensitive)."""
    return pattern_rank(patterns, (folder,)) is not None


def pattern_rank(patterns: Sequence[str], names: Iterable[str]) -> int | None:
    """The position of the first pattern that matches one of `names` (a folder's names: its
    full name on the server, the name shown), or None when none does."""
    wanted = [name if name.upper() != "INBOX" else "INBOX" for name in names if name]
    for rank, pattern in enumerate(patterns):
        pattern = "INBOX" if pattern.upper() == "INBOX" else pattern
        if any(fnmatch.fnmatchcase(name, pattern) for name in wanted):
            return rank
    return None
