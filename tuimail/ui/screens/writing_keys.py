"""The main screen's keys for writing (compose, reply, forward, a draft) and for a message's
attachments and HTML: a part of the main screen, apart from its other actions."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tuimail.mail.mailto import MailtoFields
from tuimail.store import read
from tuimail.ui.screens import attachment_actions
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.lists import ListActions
from tuimail.ui.screens.marked_actions import MarkedActions
from tuimail.ui.screens.pipe_actions import PipeActions
from tuimail.ui.screens.writing import Writing

if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenPart = Screen[None]
else:
    _ScreenPart = object  # a part of the main screen, not a screen of its own


class WritingKeys(_ScreenPart):
    """The main screen's writing and attachment keys (see the module)."""

    conn: sqlite3.Connection
    writing: Writing
    lists: ListActions
    marked: MarkedActions
    waits: BodyWaits
    pipes: PipeActions

    @property
    def current_folder_id(self) -> int | None:
        """The folder shown (the main screen's)."""
        raise NotImplementedError

    def _current_row(self) -> read.MessageRow | None:
        raise NotImplementedError

    def _marked_ids(self) -> list[int]:
        raise NotImplementedError

    # --- writing: the composer gets a Sender from the app (which knows the config)

    def compose_prefilled(self, fields: MailtoFields) -> None:
        """Open the composer with a mailto: link's fields, from the default account; nothing
        is sent until the user sends it."""
        self.writing.compose_prefilled(fields)

    def action_compose(self) -> None:
        folder = read.folder(self.conn, self.current_folder_id) if self.current_folder_id else None
        self.writing.compose(folder.account_id if folder else None)

    def action_reply(self, reply_all: bool) -> None:
        row = self._current_row()
        if row is not None:
            self.writing.reply(row, reply_all)

    def action_on_list(self, what: str) -> None:
        """A mailing-list key (screens/lists.py) on the highlighted message."""
        if (row := self._current_row()) is not None:
            self.lists.act(what, row)

    def action_forward(self) -> None:
        """Forward inline: the original's text quoted, its attachments carried along; with
        messages marked, all of them in one message, each attached whole (as ctrl+f does: an
        inline forward is of one message)."""
        if marked := self._marked_ids():
            self.marked.forward_attached(marked)
        elif (row := self._current_row()) is not None:
            self.writing.forward(row)

    def action_forward_attached(self) -> None:
        """Forward the message whole, as an attachment (its bytes as they are); with messages
        marked, all of them in one message."""
        if marked := self._marked_ids():
            self.marked.forward_attached(marked)
        elif (row := self._current_row()) is not None:
            self.writing.forward_attached(row)

    def action_edit_draft(self) -> None:
        """Edit a message of a Drafts folder (saved by any client)."""
        row = self._current_row()
        if row is not None:
            self.writing.edit_draft(row)

    # --- attachments: saved or opened, the whole message downloaded first when needed

    def action_save_attachments(self) -> None:
        """Ask for a directory and save the message's attachments there."""
        row = self._current_row()
        if row is not None:
            attachment_actions.save_all(self, self.waits, row)

    def action_open_attachment(self) -> None:
        """Open an attachment with the system's opener."""
        row = self._current_row()
        if row is not None:
            attachment_actions.open_one(self, self.waits, row)

    def action_open_html(self, remote: bool) -> None:
        """Open the message's HTML part in the web browser (remote content only if `remote`)."""
        row = self._current_row()
        if row is not None:
            attachment_actions.open_html(self, self.waits, row, remote=remote)

    def action_pipe(self) -> None:
        """Pipe the message (or one attachment) to a command; its output shows afterwards.
        With messages marked, all of them, to one run of the command, as an mbox."""
        if marked := self._marked_ids():
            self.pipes.pipe_many(read.rows(self.conn, marked))
        elif (row := self._current_row()) is not None:
            self.pipes.pipe(row)
