"""The message view (the reading pane): a message's headers and its rendered, sanitized body.

It reads the message from the store: the whole body, or a partial one (its text, with the
attachments listed as not downloaded). When neither is here it says so and posts `BodyWanted`
to the app, to download it; the screen tells it when that failed (`download_failed`). It also
shows what stands in for a message: a notice (the message is gone, nothing is highlighted) or,
with no folder in the store, how mail gets here. Its keys are the pager's (widgets/pager.py).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tuimail.mail.attachments import partial_pieces
from tuimail.mail.lists import list_info, unsubscribe_summary
from tuimail.mail.parse import parse_message
from tuimail.mail.render import Piece, message_pieces
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.auth_line import server_verdicts, verdict_text
from tuimail.ui.format import addresses_text
from tuimail.ui.host import app_host
from tuimail.ui.messages import BodyWanted
from tuimail.ui.widgets.body_view import BodyView
from tuimail.ui.widgets.conversation import Conversation
from tuimail.ui.widgets.pager import Pager

DISPLACED = (
    "The highlighted message was moved or deleted elsewhere, or its conversation got new mail:"
    " no message is highlighted now. Move the cursor (j/k) to pick one."
)
RENDERED_KEPT = 8  # rendered bodies kept, the most recently shown
# A body is kept with its bytes (to tell when they changed) only up to this size: eight bodies
# with large attachments would otherwise stay in memory.
RENDERED_MAX_BYTES = 1 << 20
RENDERED_KEPT = 8  # rendered bodies kept, the most recently shown
# A body is kept with its bytes (to tell when they changed) only up to this size: eight bodies
# with large attachments would otherwise stay in memory.
RENDERED_MAX_BYTES = 1 << 20
# A message that went from the store while it was shown, opened or waited for: nothing failed.
MESSAGE_GONE = "This message is no longer in this folder: it was moved or deleted elsewhere."


class MessageView(Pager):
    """The pane below the message list (id "view" in tuimail.tcss): headers above the body."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], datetime],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.conn = conn
        self.clock = clock  # its time zone is the one dates are shown in
        self.shown_id: int | None = None  # the message shown (or last asked for)
        self._headers_shown: str | Text | None = None  # what the headers part shows now
        # Bodies rendered lately, by message id: what they were rendered from, and the pieces.
        self._rendered: OrderedDict[int, tuple[object, list[Piece]]] = OrderedDict()
        self.conversation = Conversation(self, conn, clock)  # a whole one shown instead

    def compose(self) -> ComposeResult:
        yield Static(id="view-headers")
        yield BodyView(id="view-body")

    def show_message(self, message_id: int) -> None:
        """Show headers and the rendered, sanitized body of a message (of the conversation
        shown: bring it into view)."""
        shown_before, self.shown_id = self.shown_id, message_id
        if message_id in self.conversation.ids:
            self.conversation.follow(message_id)
            return
        self.end_conversation()
        if message_id != shown_before:
            self.new_page()
        row = read.row(self.conn, message_id)
        if row is None:
            self.show_notice(MESSAGE_GONE)
            return
        env = row.envelope
        header_text = Text()
        for name, value in (
            ("From", addresses_text(env.from_)),
            ("To", addresses_text(env.to)),
            ("Cc", addresses_text(env.cc)),
            (
                "Date",
                env.date.astimezone(self.clock().tzinfo).strftime("%a, %d %b %Y %H:%M")
                if env.date
                else "",
            ),
            ("Subject", sanitize_line(env.subject)),
        ):
            if value:
                header_text.append(f"{name}: ", style="bold")
                header_text.append(value + "\n")
        header_text.rstrip()
        raw = read.body(self.conn, message_id)
        partial = read.partial_body(self.conn, message_id) if raw is None else None
        source = raw if raw is not None else partial.raw if partial is not None else None
        if source is not None and (ways := unsubscribe_summary(list_info(source))):
            header_text.append("\nUnsubscribe: ", style="bold")  # RFC 2369 List-Unsubscribe
            header_text.append(ways)
        shown_headers: Text = header_text
        if self.full_headers and source is not None:
            shown_headers = self.full_header_text(source)
        elif source is not None:  # the account's own server's SPF / DKIM / DMARC verdicts
            accounts = app_host(self.app).config.accounts
            if found := server_verdicts(self.conn, accounts, row, source):
                header_text.append("\n")
                header_text.append_text(verdict_text(found, self.app.theme_variables))
        self._show_headers(shown_headers)
        if raw is None and partial is None:
            waiting = "Downloading the message…"
            if app_host(self.app).offline:
                waiting = "Not downloaded yet: offline, the body comes when tuimail runs online."
            self._show_body(Text(waiting, style="italic"))
            # To the app itself: bubbling up from here would stop at the screen when the
            # screen is what called this (Textual does not bubble past a message's sender).
            self.app.post_message(BodyWanted(message_id))
        else:
            pieces = self._pieces_of(message_id, raw, partial)
            self.query_one(BodyView).show_pieces(self.page_pieces(pieces), self.app.theme_variables)
        if message_id != shown_before:  # the same one again (a store update): stay put
            self.scroll_home(animate=False)

    def repaint(self) -> None:
        if self.conversation.ids:
            self.conversation.redraw()
        elif self.shown_id is not None:
            self.show_message(self.shown_id)

    def show_conversation(self, message_ids: list[int]) -> None:
        """Show every message of a conversation, one after another (widgets/conversation.py)."""
        if not message_ids:
            return
        self.shown_id = message_ids[0]
        for part in self.query("#view-headers, #view-body"):
            part.display = False
        self.conversation.show(message_ids)

    def end_conversation(self) -> None:
        """Back to showing one message."""
        if self.conversation.ids:
            self.conversation.end()
            for part in self.query("#view-headers, #view-body"):
                part.display = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.conversation.scrolled()

    def prepare(self, message_id: int) -> None:
        """Parse and render a message's body ahead, when it is local, so that showing it does
        not wait for that (the message below a resting cursor, opened by j + Enter)."""
        raw = read.body(self.conn, message_id)
        partial = read.partial_body(self.conn, message_id) if raw is None else None
        data = raw if partial is None else partial.raw
        if data is not None and len(data) <= RENDERED_MAX_BYTES:  # else it would not be kept
            self._pieces_of(message_id, raw, partial)

    def _pieces_of(
        self, message_id: int, raw: bytes | None, partial: read.PartialBody | None
    ) -> list[Piece]:
        """The body's pieces (sanitized text, HTML documents), parsed and rendered again only
        when its bytes changed since: a message is shown again when the cursor rests on it after
        Enter, and after every store update that touches it."""
        data = raw if partial is None else partial.raw
        assert data is not None
        tz = self.clock().tzinfo
        source = (data, None if partial is None else partial.omitted, tz)
        cached = self._rendered.get(message_id)
        if cached is not None and cached[0] == source:
            self._rendered.move_to_end(message_id)
            return cached[1]
        if partial is not None:  # the text only: attachments listed as not downloaded
            pieces = partial_pieces(partial.raw, partial.omitted, tz)
        else:
            assert raw is not None
            pieces = message_pieces(parse_message(raw), raw, tz)
        if len(data) <= RENDERED_MAX_BYTES:
            self._rendered[message_id] = (source, pieces)
            self._rendered.move_to_end(message_id)
            while len(self._rendered) > RENDERED_KEPT:
                self._rendered.popitem(last=False)
        else:
            self._rendered.pop(message_id, None)
        return pieces

    def show_notice(self, words: str) -> None:
        """Show `words` instead of a message (no headers)."""
        self.end_conversation()
        self._show_headers("")
        self._show_body(Text(words, style="italic"))

    def _show_headers(self, headers: str | Text) -> None:
        """Put `headers` on the screen unless they already show the same: an update lays out
        the whole view again and repaints it."""
        if not _same(self._headers_shown, headers):
            self._headers_shown = headers
            self.query_one("#view-headers", Static).update(headers)

    def _show_body(self, body: Text) -> None:
        """Put `body` (a notice, not a message's body) on the screen below the headers."""
        self.query_one(BodyView).update(body)

    def download_failed(self, reason: str, gone: str | None) -> None:
        """The shown message's body could not be downloaded, for `reason`; `gone`: the words
        that say it is gone (from the server), which is no error. Nothing changes when its
        body (or its text) has arrived meanwhile."""
        message_id = self.shown_id
        if message_id is None or read.body(self.conn, message_id) is not None:
            return
        if read.partial_body(self.conn, message_id) is not None:
            return
        if gone is not None:
            self._show_body(Text(gone, style="italic"))
            return
        text = Text(f"Could not download the message: {reason}\n\n", style="italic")
        text.append("It is tried again when you open the message again.")
        self._show_body(text)

    def show_no_mail(self) -> None:
        """What the view says while the store has no folder: an account set up and its mail
        still to come (or why not), or how to add one."""
        accounts = [a for a in read.accounts(self.conn) if a.protocol is not None]
        if accounts:
            names = ", ".join(repr(sanitize_line(a.name)) for a in accounts)
            first = sanitize_line(accounts[0].name)
            which = (
                "The account {} is set up; its"
                if len(accounts) == 1
                else ("The accounts {} are set up; their")
            )
            text = (
                f"No mail here yet. {which.format(names)} mail comes with the next sync "
                "(ctrl+r gets it now).\n\n"
                "If none comes, the status bar below says why. `tuimail accounts check` tells "
                "more; for a password problem run `tuimail accounts set-password "
                f"{first}`, or set password_command in [accounts.{first}] of the config "
                "(without a system keyring, the way to go). A adds another account."
            )
        else:
            text = (
                "No mail in the local store yet.\n\n"
                "Press A to add an account (or add one to ~/.config/tuimail/config.toml, see "
                "docs/config.md, and run `tuimail accounts check`), or try the demo: "
                "`tuimail demo`."
            )
        self._show_body(Text(text))


def _same(shown: str | Text | None, new: str | Text) -> bool:
    """Whether `new` looks exactly as `shown` does: the same characters in the same styles."""
    if isinstance(shown, Text) and isinstance(new, Text):
        return shown is new or (
            shown.plain == new.plain and shown.style == new.style and shown.spans == new.spans
        )
    return isinstance(shown, str) and isinstance(new, str) and shown == new
