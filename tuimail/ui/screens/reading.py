"""Moving through the message list from the message view (its pager's keys) and with `n`:
the main screen's reading keys, apart from its other actions."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tuimail.store import read
from tuimail.ui.screens.link_picker import choose_and_open
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import MessageView
from tuimail.ui.widgets.pager import Pager

if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenPart = Screen[None]
else:
    _ScreenPart = object  # a part of the main screen, not a screen of its own

UNREAD_CHUNK = 500  # list entries asked about at once when looking for the next unread message


class ListReading(_ScreenPart):
    """The main screen's keys for reading on from the message shown (see the module)."""

    conn: sqlite3.Connection

    def open_message(self, message_id: int) -> None:
        """Open a message in the message view (the main screen's)."""
        raise NotImplementedError

    def action_next_message(self, step: int) -> None:
        """Open the next (step 1) or the previous (-1) message of the list; its cursor follows."""
        messages = self.query_one(MessageList)
        before = messages.current_message_id
        if step > 0:
            messages.action_cursor_down()
        else:
            messages.action_cursor_up()
        message_id = messages.current_message_id
        if message_id is None or message_id == before:
            self.notify(f"No {'next' if step > 0 else 'previous'} message.", markup=False)
            return
        self.open_message(message_id)

    def action_next_unread(self) -> None:
        """Put the list's cursor on the next unread message below it; in the message view,
        open that message."""
        messages = self.query_one(MessageList)
        ids = messages.ids
        start = messages.cursor if messages.displaced else messages.cursor + 1
        found = None
        for first in range(max(start, 0), len(ids), UNREAD_CHUNK):
            chunk = ids[first : first + UNREAD_CHUNK]
            unread = read.unread_among(self.conn, chunk)
            found = next((message_id for message_id in chunk if message_id in unread), None)
            if found is not None:
                break
        if found is None:
            self.notify("No unread message below this one.", markup=False)
            return
        in_view = isinstance(self.focused, Pager)
        messages.select_id(found)
        if in_view:
            self.open_message(found)

    def action_to_list(self) -> None:
        """Back to the message list from the message view."""
        self.query_one(MessageList).focus()

    def action_open_link(self) -> None:
        """Choose one of the shown message's links and open it in the browser."""
        choose_and_open(self, self.query_one(MessageView).links)
