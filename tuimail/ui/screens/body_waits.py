"""What the main screen's actions do with a message that is not whole on this computer.

A reply needs the message's text; saving or opening an attachment, or forwarding it, needs its
exact bytes. When they are not local yet, `BodyWaits` asks the app to download them
(`BodyWanted`), keeps the action, and carries it out when a store update brings them
(`run_waiting`), or gives it up when the download fails or the message goes (`failed`). While
a whole message is downloaded the status bar says so, and afterwards what it said before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from textual.notifications import SeverityLevel
from textual.screen import Screen

from tuimail.mail.attachments import listed_attachments
from tuimail.store import read
from tuimail.ui.host import app_host
from tuimail.ui.messages import AccountState, BodyWanted
from tuimail.ui.widgets.message_view import MESSAGE_GONE
from tuimail.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tuimail.mail.attachments import ListedAttachment


class BodyWaits:
    """The actions of `screen` that wait for a message's text or its whole body."""

    def __init__(self, screen: Screen[None], conn: sqlite3.Connection) -> None:
        self.screen = screen
        self.conn = conn
        # Actions waiting for a message's whole body (save, open): message id -> what to do.
        self._for_body: dict[int, Callable[[bytes], None]] = {}
        # Replies waiting for a message's text (r/R pressed before it was downloaded).
        self._for_text: dict[int, Callable[[bytes], None]] = {}
        # What the status bar said of the account before a whole body was asked for.
        self._status_before: dict[int, tuple[str, tuple[AccountState, str] | None]] = {}

    def _notify(self, text: str, *, severity: SeverityLevel = "information") -> None:
        self.screen.notify(text, severity=severity, markup=False)

    def text_of(self, row: read.MessageRow) -> bytes | None:
        """The message's bytes as far as they are local (its text is all a reply needs)."""
        raw = read.body(self.conn, row.id)
        if raw is None:
            partial = read.partial_body(self.conn, row.id)
            raw = partial.raw if partial is not None else None
        return raw

    def attachments_of(self, row: read.MessageRow) -> list[ListedAttachment] | None:
        """The message's attachments (local or not); None, with a notice, when its body has
        not arrived yet."""
        raw = read.body(self.conn, row.id)
        if raw is not None:
            return listed_attachments(raw)
        partial = read.partial_body(self.conn, row.id)
        if partial is not None:
            return listed_attachments(partial.raw, partial.omitted)
        self.say_not_here_yet()
        return None

    def network_closed(self, doing: str) -> str | None:
        """The app's network gate (None: open); offline, why not, in words."""
        return app_host(self.screen.app).network_closed(doing)

    def say_not_here_yet(self) -> None:
        """A message's text is not local yet: it is on its way, or (offline) it cannot come."""
        closed = self.network_closed("downloaded")
        if closed is not None:
            self._notify(f"{closed} The message is not on this computer yet.")
        else:
            self.screen.notify("The message is still being downloaded; try again in a moment.")

    def with_text(self, row: read.MessageRow, then: Callable[[bytes], None]) -> None:
        """Call `then` with the message's text: at once when it is local, else once the app has
        downloaded it (the user pressed the key on this message; offline, say why not)."""
        raw = self.text_of(row)
        if raw is not None:
            then(raw)
            return
        closed = self.network_closed("downloaded")
        if closed is not None:
            self.say_not_here_yet()
            return
        self._for_text[row.id] = then
        self.screen.notify("Downloading the message first; the composer opens when it is here.")
        self.screen.post_message(BodyWanted(row.id))

    def with_whole_body(self, row: read.MessageRow, then: Callable[[bytes], None]) -> None:
        """Call `then` with the message's exact bytes: at once when they are local, else
        once the app has downloaded them (the status bar says so meanwhile)."""
        raw = read.body(self.conn, row.id)
        if raw is not None:
            then(raw)
            return
        closed = self.network_closed("downloaded")
        if closed is not None:  # offline: say so, rather than wait for a download that never comes
            self._notify(f"{closed} The message is not whole on this computer yet.")
            return
        self._for_body[row.id] = then
        folder = read.folder(self.conn, row.folder_id)
        if folder is not None:
            bar = self.screen.query_one(StatusBar)
            self._status_before[row.id] = (folder.account, bar.entry(folder.account))
            bar.set_account(
                folder.account, AccountState.BUSY, "downloading the attachments of a message…"
            )
        self.screen.post_message(BodyWanted(row.id, full=True))

    def with_whole_bodies(
        self, rows: Sequence[read.MessageRow], then: Callable[[list[bytes]], None]
    ) -> None:
        """Call `then` once with the exact bytes of every message, in the order of `rows`: at
        once when all are local, else once the app has downloaded the missing ones (offline,
        say why not, and do nothing)."""
        if self._some_gone(rows):
            return
        missing = [row for row in rows if read.body(self.conn, row.id) is None]
        if missing:
            closed = self.network_closed("downloaded")
            if closed is not None:
                self._notify(
                    f"{closed} {len(missing)} of the messages are not whole on this computer yet."
                )
                return
        waiting = {row.id for row in missing}

        def all_here() -> None:
            bodies = [read.body(self.conn, row.id) for row in rows]
            if not self._some_gone(rows) and all(raw is not None for raw in bodies):
                then([raw for raw in bodies if raw is not None])

        def arrived(message_id: int) -> Callable[[bytes], None]:
            def one_more(_raw: bytes) -> None:
                waiting.discard(message_id)
                if not waiting:
                    all_here()

            return one_more

        if not missing:
            all_here()
        for row in missing:
            self.with_whole_body(row, arrived(row.id))

    def _some_gone(self, rows: Sequence[read.MessageRow]) -> bool:
        """True, with a notice, when some of `rows` are no longer in the store (moved or
        deleted elsewhere since the key was pressed): an action on all of them is not done."""
        gone = len(rows) - len(read.rows(self.conn, [row.id for row in rows]))
        if gone:
            self._notify(
                f"{gone} of the messages went meanwhile (moved or deleted elsewhere): nothing"
                " was done."
            )
        return bool(gone)

    def run_waiting(self) -> None:
        """Carry out the actions whose message has arrived (its text, or whole)."""
        for message_id in list(self._for_text):
            row = read.row(self.conn, message_id)
            raw = self.text_of(row) if row is not None else None
            if row is None or raw is not None:
                then = self._for_text.pop(message_id)
                if row is None:
                    self._notify(MESSAGE_GONE)
                elif raw is not None and self.screen.app.screen is self.screen:
                    then(raw)  # only over the main screen: never over what the user opened since
        for message_id in list(self._for_body):
            if read.row(self.conn, message_id) is None:
                self._waited_in_vain(message_id, MESSAGE_GONE)
                continue
            raw = read.body(self.conn, message_id)
            if raw is None:
                continue
            then = self._for_body.pop(message_id)
            account, before = self._status_before.pop(message_id, ("", None))
            if account:
                state, text = before or (AccountState.IDLE, "attachments downloaded")
                self.screen.query_one(StatusBar).set_account(account, state, text)
            then(raw)

    def _waited_in_vain(self, message_id: int, words: str) -> None:
        """An action waiting for a message's whole body gives up, quietly: the message is gone.
        The status bar says again what it said before the download."""
        self._for_body.pop(message_id, None)
        account, before = self._status_before.pop(message_id, ("", None))
        if account:
            state, text = before or (AccountState.IDLE, "")
            self.screen.query_one(StatusBar).set_account(account, state, text)
        self._notify(words)

    def failed(self, message_id: int, reason: str, *, gone: bool, words: str) -> None:
        """The message's body could not be downloaded, for `reason` (`words` say so): a reply
        waiting for it is not opened; an action waiting for the whole message gives up when the
        message is `gone` (moved or deleted elsewhere meanwhile, which is no error)."""
        if self._for_text.pop(message_id, None) is not None:
            if gone:
                self._notify(words)
            else:
                self._notify(
                    f"Could not download the message to reply to: {reason}", severity="error"
                )
        if gone and (message_id in self._for_body or message_id in self._status_before):
            self._waited_in_vain(message_id, words)
