"""The closed vocabulary of events that engines report. Events carry ids, counts and folder
names, never mail.

Engines call `emit(event)` from their worker thread; the app turns each event into a Textual
message, and headless commands print progress from them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tuimail.core.model import FLAGGED, Protocol
from tuimail.mail.sanitize import sanitize_line


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


# Why a user action was given up for good (GivenUp.reason).
GIVEN_UP_FOLDER_CHANGED = "folder_changed"  # the folder's name stands for another mailbox now
GIVEN_UP_NOT_CONFIRMED = "not_confirmed"  # the message under the UID could not be confirmed
GIVEN_UP_RENUMBERED = "renumbered"  # the folder's UIDVALIDITY changed
GIVEN_UP_UNPLACED = "unplaced"  # the message's UID in the folder is not known
GIVEN_UP_NO_TARGET = "no_target"  # the folder to move or copy to is gone
GIVEN_UP_REFUSED = "refused"  # the server refused it, too many times
GIVEN_UP_FOLDER_GONE = "folder_gone"  # the folder to rename is not on the server
GIVEN_UP_NEW_MAIL = "new_mail"  # the folder to delete got mail the user has not seen


@dataclass(frozen=True, slots=True)
class GivenUp:
    """One user action that the replay gave up for good: `kind` (an ops.OpKind value) on
    `count` messages of the folder shown as `folder`; `target` is where a move or copy went
    (None: not known any more); `reason` is a GIVEN_UP_* code and `detail` the server's words
    for a refusal. The store already shows the server's truth again (see ops.mark_failed)."""

    kind: str
    count: int
    folder: str
    target: str | None
    reason: str
    detail: str = ""
    flag: str | None = None


@dataclass(frozen=True, slots=True)
class ActionsGivenUp:
    """A replay gave up user actions for good: the user is told, in words (`given_up_text`)."""

    account: str
    actions: tuple[GivenUp, ...]


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


@dataclass(frozen=True, slots=True)
class BodyNotFetched:
    """The body of a message the user opened could not be brought (`reason` already fit to
    show); `gone`: the message is no longer there (not a failure of the account)."""

    account: str
    message_id: int
    reason: str
    gone: bool = False


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """An account's live connection is down; the next try is in `seconds` (or at once when the
    user asks for something). `reason`: the failure in words, fit to show."""

    account: str
    protocol: Protocol
    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionBack:
    """An account's server answers again after its connection was lost: what waited for it
    (the outbox) may go now."""

    account: str
    protocol: Protocol


Event = (
    StoreChanged
    | SyncStarted
    | SyncProgress
    | NewMail
    | MarkedDeleted
    | ActionsGivenUp
    | SyncFinished
    | SyncFailed
    | AuthNeeded
    | BodyNotFetched
    | Reconnecting
    | ConnectionBack
)
Emit = Callable[[Event], None]


def discard(event: Event) -> None:
    """An `emit` that ignores every event."""


def shows_failures(emit: Emit) -> bool:
    """Whether `emit` prints the failures it is given on the terminal itself (a headless
    command's progress, or a command that prints its results), so that the engine's log line
    of a failure would say it there a second time. An `emit` says so with a true
    `failures_shown` attribute; the app's does not, and prints the log lines after it ends."""
    return bool(getattr(emit, "failures_shown", False))


class SaidByCaller:
    """An `emit` that draws nothing, for a command that prints what happened from the results
    (failures included) once the engine is done."""

    failures_shown = True

    def __call__(self, event: Event) -> None:
        """Ignore the event: the caller reports from the result."""


def given_up_text(action: GivenUp) -> str:
    """What could not be done and why, in one sentence for people (folder names and server
    text sanitized here)."""
    if action.kind.endswith("_folder"):
        return _folder_given_up_text(action)
    folder = sanitize_line(action.folder)
    target = sanitize_line(action.target) if action.target is not None else None
    count = f"{action.count} message{'s' if action.count != 1 else ''}"
    match action.kind:
        case "move":
            what = f"Moving {count} from {folder} to {target or 'another folder'}"
        case "copy":
            what = f"Copying {count} from {folder} to {target or 'another folder'}"
        case "delete":
            what = f"Deleting {count} for good from {folder}"
        case "expunge" if action.count == 0:
            what = f"Removing the messages marked deleted from {folder}"
        case "expunge":
            what = f"Removing {count} marked deleted from {folder}"
        case "seen" | "unseen":
            what = f"Marking {count} {'read' if action.kind == 'seen' else 'unread'} in {folder}"
        case "flag" | "unflag" if action.flag == FLAGGED:
            what = f"{'Flagging' if action.kind == 'flag' else 'Unflagging'} {count} in {folder}"
        case _:
            what = f"Changing the flags of {count} in {folder}"
    unchanged = "nothing was changed on the server"
    match action.reason:
        case "folder_changed":
            why = (
                f"the name {folder} now stands for another folder on the server (renamed or"
                f" swapped by another client); {unchanged}, and {folder} is fetched again"
            )
        case "not_confirmed":
            why = (
                "the server could not confirm that the message is still the one meant (it has"
                f" no Message-ID to compare); {unchanged}"
            )
        case "renumbered":
            why = f"the server renumbered {folder} (its UIDVALIDITY changed); {unchanged}"
        case "unplaced":
            why = (
                f"where the message is in {folder} on the server is not known (the action that"
                " put it there did not tell); it was not acted on"
            )
        case "no_target":
            why = f"the folder to {action.kind} to is no longer there; {unchanged}"
        case _:
            detail = sanitize_line(action.detail).strip()
            why = "the server refused it" + (f": {detail}" if detail else "")
    return f"{what} was not carried out: {why}. The messages are shown where the server has them."


def _folder_given_up_text(action: GivenUp) -> str:
    """`given_up_text` for a folder action (create, rename, delete, (un)subscribe)."""
    folder = sanitize_line(action.folder)
    match action.kind:
        case "create_folder":
            what = f"Creating the folder {folder}"
        case "rename_folder":
            what = f"Renaming the folder {folder} to {sanitize_line(action.target or '')}"
        case "subscribe_folder":
            what = f"Subscribing to the folder {folder}"
        case "unsubscribe_folder":
            what = f"Unsubscribing from the folder {folder}"
        case _:
            what = f"Deleting the folder {folder}"
    match action.reason:
        case "folder_changed":
            why = f"the name {folder} now stands for another folder on the server"
        case "folder_gone":
            why = f"the server has no folder {folder} (another client removed or renamed it)"
        case "new_mail":
            why = "messages came into it on the server that are not shown here yet"
        case _:
            detail = sanitize_line(action.detail).strip()
            why = "the server refused it" + (f": {detail}" if detail else "")
    return f"{what} was not carried out: {why}. The folders are shown as the server has them."
