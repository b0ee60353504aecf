"""The engines' own failures that the session's table knows by kind (`session.failure_of`).

A protocol's engine raises a subclass of one of these (the IMAP engine's `SyncCancelled`,
`FolderNotFoundError`, `ImapProtocolError`); the session names the base class, so it never
imports a protocol's package.
"""

from __future__ import annotations


class EngineCancelled(Exception):
    """The caller set `cancel`; everything committed so far stays."""


class FolderMissing(Exception):
    """A folder asked for is not on the server."""


class ServerProtocolError(Exception):
    """The server sent something malformed or unreasonable; the message says what, in words."""
