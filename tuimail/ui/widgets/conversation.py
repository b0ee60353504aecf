"""The conversation reader: every message of a conversation in the message view, one after
another, each under a small header (from, date), its long quotes folded.

The message view (widgets/message_view.py) holds one `Conversation` and shows it instead of a
single message. Each message is its own `Static` inside the view, so the view knows which
message is at the top of what the user reads: it posts `ConversationRead` for it, and the
screen puts the list's cursor there. Bodies not in the store are asked for (`BodyWanted`) and
shown when they come. Text from messages is sanitized (ui/format.py, mail/sanitize.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from tuimail.mail.attachments import render_partial
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.format import body_text, sender_text
from tuimail.ui.messages import BodyWanted
from tuimail.ui.widgets.pager import Pager

PART_CLASS = "conversation-part"
# A conversation longer than this shows its first messages (each one is parsed and drawn at
# once); the others are read from the list.
MAX_MESSAGES = 100


class ConversationWanted(Message):
    """The user asked to read a whole conversation: these messages, in this order."""

    def __init__(self, message_ids: list[int]) -> None:
        super().__init__()
        self.message_ids = message_ids


class ConversationRead(Message):
    """The message at the top of the conversation shown changed (the user scrolled to it)."""

    def __init__(self, message_id: int) -> None:
        super().__init__()
        self.message_id = message_id


def message_text(
    pager: Pager, conn: sqlite3.Connection, message_id: int, colours: list[str]
) -> Text | None:
    """A message's body as the pager shows it (sanitized, long quotes folded unless shown,
    quotes coloured); None when neither its body nor its text is in the store."""
    raw = read.body(conn, message_id)
    partial = read.partial_body(conn, message_id) if raw is None else None
    if raw is not None:
        rendered = render_message(parse_message(raw), raw)
    elif partial is not None:  # the text only: attachments listed as not downloaded
        rendered = render_partial(partial.raw, partial.omitted)
    else:
        return None
    return body_text(pager.page_text(rendered), colours)


class Conversation:
    """The messages of one conversation shown in a pager (see the module)."""

    def __init__(
        self, pager: Pager, conn: sqlite3.Connection, clock: Callable[[], datetime]
    ) -> None:
        self.pager = pager
        self.conn = conn
        self.clock = clock
        self.ids: list[int] = []  # the messages shown, in order; [] when none is
        # Whether each one's body (or text) was here when drawn: what a redraw would change.
        self._drawn: dict[int, bool] = {}
        self._reading: int | None = None  # the message at the top, last told
        # Messages whose download failed while shown: why, in words (not asked for again
        # until the conversation is opened again).
        self._failed: dict[int, str] = {}

    def show(self, message_ids: Sequence[int]) -> None:
        """Show these messages (the first MAX_MESSAGES), one after another, from the top."""
        self.end()
        self.ids = list(message_ids[:MAX_MESSAGES])
        if len(message_ids) > MAX_MESSAGES:
            more = len(message_ids) - MAX_MESSAGES
            self.pager.notify(
                f"The first {MAX_MESSAGES} messages of this conversation are shown; {more} more"
                " are in the list.",
                markup=False,
            )
        self._reading = self.ids[0] if self.ids else None
        self.pager.new_page()
        self._draw(fresh=True)
        self.pager.scroll_home(animate=False)

    def end(self) -> None:
        """Show no conversation any more (the view shows one message again)."""
        self.ids = []
        self._drawn = {}
        self._failed = {}
        self._reading = None
        self.pager.query(f".{PART_CLASS}").remove()

    def download_failed(self, message_id: int, words: str) -> None:
        """A shown message's body could not be downloaded: its part says `words` instead of
        "Downloading" (nothing changes when its body or text came meanwhile)."""
        if message_id in self.ids:
            self._failed[message_id] = words
            self.redraw()

    def follow(self, message_id: int) -> None:
        """The list's cursor is on `message_id` (one of the conversation's): redraw what
        changed in the store, and bring that message into view unless it is the one read."""
        if self._state() != self._drawn:
            self.redraw()
        if message_id != self.reading():
            parts = list(self.pager.query(f".{PART_CLASS}"))
            if message_id in self.ids and len(parts) == len(self.ids):
                part = parts[self.ids.index(message_id)]
                self.pager.call_after_refresh(
                    self.pager.scroll_to, y=part.virtual_region.y, animate=False
                )
                self._reading = message_id

    def _state(self) -> dict[int, bool]:
        """For each message still in the store, whether its body or its text is here."""
        return {
            row.id: row.body_local or read.partial_body(self.conn, row.id) is not None
            for row in read.rows(self.conn, self.ids)
        }

    def redraw(self) -> None:
        """Draw the conversation again in place (a pager setting changed, a body came, a
        message went): each message's part is updated, the view stays where it is."""
        self._draw(fresh=False)

    def _draw(self, *, fresh: bool) -> None:
        variables = self.pager.app.theme_variables
        colours = [variables[k] for k in ("quote-1", "quote-2", "quote-3") if k in variables]
        links: list[str] = []
        texts: list[Text] = []
        rows = {row.id: row for row in read.rows(self.conn, self.ids)}
        for number, message_id in enumerate(self.ids, 1):
            row = rows.get(message_id)
            text = Text()
            if row is None:
                text.append("This message is no longer here.\n", style="italic")
            else:
                env = row.envelope
                when = env.date or row.sort_date
                stamp = when.astimezone(self.clock().tzinfo).strftime("%a, %d %b %Y %H:%M")
                text.append(f"── {number}/{len(self.ids)} ", style="dim")
                text.append(sender_text(env.from_), style="bold")
                text.append(f" · {stamp}\n", style="dim")
                if number == 1:
                    text.append(sanitize_line(env.subject) + "\n", style="bold")
                body = message_text(self.pager, self.conn, message_id, colours)
                links += self.pager.links
                if body is None and message_id in self._failed:
                    text.append(sanitize_line(self._failed[message_id]) + "\n", style="italic")
                    text.append("It is tried again when you open the conversation again.\n")
                elif body is None:
                    text.append("Downloading the message…\n", style="italic")
                    self.pager.app.post_message(BodyWanted(message_id))
                else:
                    text.append_text(body)
                    text.rstrip()
                    text.append("\n")
            texts.append(text)
        self.pager.links = links
        self._drawn = self._state()
        shown = list(self.pager.query(f".{PART_CLASS}").results(Static))
        if not fresh and len(shown) == len(texts):
            for part, text in zip(shown, texts, strict=True):
                part.update(text)
        else:
            self.pager.query(f".{PART_CLASS}").remove()
            self.pager.mount_all([Static(text, classes=PART_CLASS) for text in texts])

    def reading(self) -> int | None:
        """The message at the top of the view: the last whose part starts at or above it."""
        parts = list(self.pager.query(f".{PART_CLASS}"))
        if not parts or len(parts) != len(self.ids):
            return None
        top = round(self.pager.scroll_y)
        if top and top >= self.pager.max_scroll_y:
            return self.ids[-1]  # at the end: the last message is the one read
        found = self.ids[0]
        for message_id, part in zip(self.ids, parts, strict=True):
            if part.virtual_region.y <= top + 1:
                found = message_id
        return found

    def scrolled(self) -> None:
        """The view scrolled: tell the screen when another message is at the top."""
        if not self.ids:
            return
        reading = self.reading()
        if reading is not None and reading != self._reading:
            self._reading = reading
            self.pager.post_message(ConversationRead(reading))
