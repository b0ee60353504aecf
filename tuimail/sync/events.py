"""The closed vocabulary of events that engines report. Events carry ids and counts, never mail.

Engines call `emit(event)` from their worker thread; the app turns each event into a Textual
message, and headless commands print progress from them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tuimail.model import Protocol


@dataclass(frozen=True, slots=True)
class StoreChanged:
    """The store changed for these folders (re-query them); `revision` is the store's revision."""

    account: str
    folder_ids: tuple[int, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class SyncStarted:
    """An engine started a pass over an account."""

    account: str
    protocol: Protocol


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """Progress of a pass: `done` of `total` items (messages) of `folder` (None: the account).

    Progress events may be dropped or coalesced by a consumer: each one carries the full state.
    """

    account: str
    protocol: Protocol
    folder: str | None
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class NewMail:
    """New messages arrived in a folder (for notifications).

    `first`: the folder's first download (a POP3 maildrop fetched for the first time): what it
    counts was already there, so it is not news. IMAP says nothing for a first sync at all.
    """

    account: str
    folder_id: int
    count: int
    first: bool = False


@dataclass(frozen=True, slots=True)
class MarkedDeleted:
    """A replay left messages marked \\Deleted in a folder of a server without UIDPLUS (the
    account's `imap.expunge` is "ask"): `count` messages of the folder are marked now, and only
    an EXPUNGE of the whole folder removes them."""

    account: str
    folder_id: int
    count: int


@dataclass(frozen=True, slots=True)
class SyncFinished:
    """A pass over an account ended well; `summary` is one line for people.

    `quiet`: nothing happened worth replacing what the status line says (the inbox watcher's
    first resync, right after the account's sync said what it did).
    """

    account: str
    protocol: Protocol
    summary: str
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class SyncFailed:
    """A pass over an account failed; `kind` is a ConnectError kind or "store", "protocol", ...

    `message` is one printable line, already fit to show (server text sanitized).
    """

    account: str
    protocol: Protocol
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class AuthNeeded:
    """No usable password (none stored, or the server refused it): the user must act."""

    account: str
    protocol: Protocol
    message: str


Event = (
    StoreChanged
    | SyncStarted
    | SyncProgress
    | NewMail
    | MarkedDeleted
    | SyncFinished
    | SyncFailed
    | AuthNeeded
)
Emit = Callable[[Event], None]


def discard(event: Event) -> None:
    """An `emit` that ignores every event."""
