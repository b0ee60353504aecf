"""Textual messages of the app. The app turns engine events into these; widgets see only them."""

from __future__ import annotations

import enum
from pathlib import Path

from textual.message import Message

from tuimail.config import AccountConfig


class StoreUpdated(Message):
    """The store changed for these folders: re-query what is shown."""

    def __init__(self, folder_ids: tuple[int, ...]) -> None:
        super().__init__()
        self.folder_ids = folder_ids


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
    """Open a file (an attachment saved into a private directory) with the system's opener."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class IntentQueued(Message):
    """The user changed messages of an account (flags, moves, deletes): replay it to the server."""

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id


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
