"""The message view (the reading pane): a message's headers and its rendered, sanitized body.

It reads the message from the store: the whole body, or a partial one (its text, with the
attachments listed as not downloaded). When neither is here it says so and posts `BodyWanted`
to the app, to download it; the screen tells it when that failed (`download_failed`). It also
shows what stands in for a message: a notice (the message is gone, nothing is highlighted) or,
with no folder in the store, how mail gets here. Its keys are the pager's (widgets/pager.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tuimail.mail.attachments import render_partial
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.format import addresses_text, body_text
from tuimail.ui.host import app_host
from tuimail.ui.messages import BodyWanted
from tuimail.ui.widgets.conversation import Conversation
from tuimail.ui.widgets.pager import Pager

DISPLACED = (
    "The highlighted message was moved or deleted elsewhere, or its conversation got new mail:"
    " no message is highlighted now. Move the cursor (j/k) to pick one."
)
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
        self.conversation = Conversation(self, conn, clock)  # a whole one shown instead

    def compose(self) -> ComposeResult:
        yield Static(id="view-headers")
        yield Static(id="view-body")

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
        headers = self.query_one("#view-headers", Static)
        body = self.query_one("#view-body", Static)
        if row is None:
            headers.update("")
            body.update(Text(MESSAGE_GONE, style="italic"))
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
        headers.update(header_text)
        raw = read.body(self.conn, message_id)
        partial = read.partial_body(self.conn, message_id) if raw is None else None
        source = raw if raw is not None else partial.raw if partial is not None else None
        if self.full_headers and source is not None:
            headers.update(self.full_header_text(source))
        if raw is None and partial is None:
            waiting = "Downloading the message…"
            if app_host(self.app).offline:
                waiting = "Not downloaded yet: offline, the body comes when tuimail runs online."
            body.update(Text(waiting, style="italic"))
            # To the app itself: bubbling up from here would stop at the screen when the
            # screen is what called this (Textual does not bubble past a message's sender).
            self.app.post_message(BodyWanted(message_id))
        else:
            variables = self.app.theme_variables
            colours = [variables[k] for k in ("quote-1", "quote-2", "quote-3") if k in variables]
            if partial is not None:  # the text only: attachments listed as not downloaded
                rendered = render_partial(partial.raw, partial.omitted)
            else:
                assert raw is not None
                rendered = render_message(parse_message(raw), raw)
            body.update(body_text(self.page_text(rendered), colours))
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

    def show_notice(self, words: str) -> None:
        """Show `words` instead of a message (no headers)."""
        self.end_conversation()
        self.query_one("#view-headers", Static).update("")
        self.query_one("#view-body", Static).update(Text(words, style="italic"))

    def download_failed(self, reason: str, gone: str | None) -> None:
        """The shown message's body could not be downloaded, for `reason`; `gone`: the words
        that say it is gone (from the server), which is no error. Nothing changes when its
        body (or its text) has arrived meanwhile."""
        message_id = self.shown_id
        if message_id is None or read.body(self.conn, message_id) is not None:
            return
        if read.partial_body(self.conn, message_id) is not None:
            return
        body = self.query_one("#view-body", Static)
        if gone is not None:
            body.update(Text(gone, style="italic"))
            return
        text = Text(f"Could not download the message: {reason}\n\n", style="italic")
        text.append("It is tried again when you open the message again.")
        body.update(text)

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
        self.query_one("#view-body", Static).update(Text(text))
