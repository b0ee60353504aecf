"""Textual messages of the app. The app turns engine events into these; widgets see only them."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from tuimail.config.schema import AccountConfig
from tuimail.ui.pipe import PipeJob, PipeOutcome


class StoreUpdated(Message):
    """The store changed for these folders, up to `revision` (None: not known, re-query all
    that is shown): re-query what changed.

    Updates coalesce: while one is posted and not yet taken by its handler, later changes are
    merged into it (`merge`), so a burst of committed batches is handled once. The handler
    calls `take` first; a change merged before that is in what it takes, one after it is
    refused and posted as a new update.
    """

    def __init__(self, folder_ids: tuple[int, ...], revision: int | None = None) -> None:
        super().__init__()
        self.folder_ids = folder_ids
        self.revision = revision
        self._lock = threading.Lock()  # merged into from worker threads, taken on the UI's
        self._taken = False

    def merge(self, folder_ids: tuple[int, ...], revision: int | None) -> bool:
        """Any thread: add a later change to this pending update; False when its handler
        has already taken it (post a new update then)."""
        with self._lock:
            if self._taken:
                return False
            self.folder_ids = tuple(dict.fromkeys((*self.folder_ids, *folder_ids)))
            if self.revision is not None:
                # An unknown revision stays unknown: what is shown is re-queried whole.
                self.revision = None if revision is None else max(self.revision, revision)
            return True

    def take(self) -> tuple[tuple[int, ...], int | None]:
        """The handler: the folders and revision to show; nothing merges into it from now."""
        with self._lock:
            self._taken = True
            return self.folder_ids, self.revision


class AccountState(enum.StrEnum):
    """What an account's worker is doing, for the status bar."""

    IDLE = "idle"
    BUSY = "busy"
    ERROR = "error"


class AccountStatus(Message):
    """One account's state line for the status bar (text already sanitized by the app).

    Busy updates of the same account replace each other in the queue, so a fast engine never
    floods the UI.
    """

    def __init__(self, account: str, state: AccountState, text: str) -> None:
        super().__init__()
        self.account = account
        self.state = state
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, AccountStatus)
            and message.account == self.account
            and message.state is AccountState.BUSY
            and self.state is AccountState.BUSY
        )


class DeletedLeft(Message):
    """A replay left `count` messages of a folder marked deleted on a server without UIDPLUS
    (imap.expunge = "ask"): the user is told, and can expunge the folder."""

    def __init__(self, account: str, folder_id: int, count: int) -> None:
        super().__init__()
        self.account = account
        self.folder_id = folder_id
        self.count = count


class UserNotice(Message):
    """Something the user should see as a notification (text already sanitized)."""

    def __init__(self, text: str, *, title: str = "", error: bool = False) -> None:
        super().__init__()
        self.text = text
        self.title = title
        self.error = error


class BodyWanted(Message):
    """The user opened a message whose body is not in the store: the app should fetch it.

    Without `full` the text is enough (a message with attachments gets a partial body); with
    it the whole message is wanted (to save or open an attachment).
    """

    def __init__(self, message_id: int, *, full: bool = False) -> None:
        super().__init__()
        self.message_id = message_id
        self.full = full


class BodyFailed(Message):
    """The body a `BodyWanted` asked for could not be downloaded (`reason` already sanitized);
    `gone`: because the message is gone (from the store or the server), nothing went wrong."""

    def __init__(self, message_id: int, reason: str, *, gone: bool = False) -> None:
        super().__init__()
        self.message_id = message_id
        self.reason = reason
        self.gone = gone


class OpenWanted(Message):
    """Open a file (an attachment saved into a private directory) with the system's opener;
    with `browser`, a message's HTML (written by `ui.browse`) with the web browser."""

    def __init__(self, path: Path, *, browser: bool = False) -> None:
        super().__init__()
        self.path = path
        self.browser = browser


class IntentQueued(Message):
    """The user changed messages of an account (flags, moves, deletes): replay it to the server."""

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id


class PrefetchWanted(Message):
    """The cursor rests near these messages, whose bodies are not here: bring them now, so
    that opening one does not wait for the server."""

    def __init__(self, message_ids: tuple[int, ...]) -> None:
        super().__init__()
        self.message_ids = message_ids


class ServerBack(Message):
    """An account's server answers again after an outage: what waited for it may go."""

    def __init__(self, account: str) -> None:
        super().__init__()
        self.account = account


class OutboxQueued(Message):
    """A message was queued in the outbox; it is due in `delay` seconds (undo-send grace)."""

    def __init__(self, account_id: int, outbox_id: int, delay: float) -> None:
        super().__init__()
        self.account_id = account_id
        self.outbox_id = outbox_id
        self.delay = delay


class SetupCheck(Message):
    """The setup screen asks: can this account connect and log in with this password?"""

    def __init__(self, account: AccountConfig, password: str) -> None:
        super().__init__()
        self.account = account
        self.password = password


class SetupSave(Message):
    """The setup screen asks to add this account (its TOML) and store the password."""

    def __init__(self, account: AccountConfig, toml: str, password: str) -> None:
        super().__init__()
        self.account = account
        self.toml = toml
        self.password = password


class DraftSaved(Message):
    """The composer closed with a draft kept, or went idle: copy the account's drafts to the
    server soon."""

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id


class PipeWanted(Message):
    """Run a command with a message (or one of its parts) on its standard input (`|`), in a
    worker; `done` is called on the app's thread with how it ended."""

    def __init__(self, job: PipeJob, done: Callable[[PipeOutcome], None]) -> None:
        super().__init__()
        self.job = job
        self.done = done
