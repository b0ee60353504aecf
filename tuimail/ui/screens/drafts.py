"""The Drafts view: every local draft, whether its copy is on the server, and the keys to reopen
(enter) or discard (d) one. Everything is an intent in the store (store/drafts.py); the app's
drafts worker copies drafts to the IMAP Drafts folder and removes discarded ones there.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tuimail.core.model import FolderRole, Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts, read
from tuimail.store.db import failure
from tuimail.store.drafts import StoredDraft
from tuimail.ui.format import addresses_text
from tuimail.ui.host import app_host
from tuimail.ui.messages import DraftSaved
from tuimail.ui.screens import identities
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.tables import selected_id
from tuimail.ui.widgets.footer import Footer


def where_it_is(stored: StoredDraft, has_drafts_folder: bool) -> str:
    """Where a draft's copy stands, for the list."""
    if not has_drafts_folder:
        return "only here"
    if stored.upload_needed or stored.server is None or stored.server.uid is None:
        return "not on server yet"
    return "on server"


class DraftsScreen(Screen[None]):
    """Lists the local drafts; refreshes itself every few seconds (uploads finish meanwhile)."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "reopen", "Edit"),
        Binding("d", "discard", "Discard"),
    ]

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="drafts", cursor_type="row")
        yield Static(id="drafts-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("Changed", "when"), ("To", "to"), ("Subject", "subject"),
                           ("Server", "where")):  # fmt: skip
            table.add_column(label, key=key)
        self.sub_title = "Drafts"
        self.reload()
        self.set_interval(2.0, self.reload)
        table.focus()

    def _accounts_with_drafts_folder(self) -> set[int]:
        return {f.account_id for f in read.folders(self.conn) if f.role is FolderRole.DRAFTS}

    def reload(self) -> None:
        """Re-read the drafts, keeping the cursor on the same one."""
        table = self.query_one(DataTable)
        keep = self._selected_id()
        table.clear()
        with_folder = self._accounts_with_drafts_folder()
        for stored in drafts.live(self.conn):
            draft = stored.draft
            table.add_row(
                stored.updated.astimezone().strftime("%d %b %H:%M"),
                Text(addresses_text(draft.to) or "(no recipient)", no_wrap=True),
                Text(sanitize_line(draft.subject) or "(no subject)", no_wrap=True),
                where_it_is(stored, stored.account_id in with_folder),
                key=str(stored.id),
            )
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
        self._show_detail()

    def _selected_id(self) -> int | None:
        return selected_id(self.query_one(DataTable))

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        draft_id = self._selected_id()
        detail = self.query_one("#drafts-detail", Static)
        stored = drafts.get(self.conn, draft_id) if draft_id is not None else None
        if stored is None:
            detail.update(Text("No drafts." if draft_id is None else ""))
            return
        accounts = {a.id: a for a in read.accounts(self.conn)}
        account = accounts.get(stored.account_id)
        text = Text()
        text.append("Account: ", style="bold")
        text.append(sanitize_line(account.name if account else "?") + "\n")
        if stored.account_id not in self._accounts_with_drafts_folder():
            if account is not None and account.protocol == Protocol.IMAP.value:
                text.append("The server has no Drafts folder: this draft stays on this computer.")
            else:
                text.append("This account has no IMAP server: its drafts stay on this computer.")
        detail.update(text)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_reopen()

    def action_reopen(self) -> None:
        """Open the draft in the composer, every field as it was saved."""
        draft_id = self._selected_id()
        stored = drafts.get(self.conn, draft_id) if draft_id is not None else None
        if stored is None:
            return
        sender = app_host(self.app).sender_for(stored.account_id)
        if sender is None:
            self.notify("No account to send from is configured.", severity="error")
            return
        from tuimail.ui.screens.composer import ComposerScreen

        draft = stored.draft
        from_ = identities.kept_identity(sender, draft.from_)  # its identity, if still one
        if draft.from_ != from_:
            draft = replace(draft, from_=from_)
        self.app.push_screen(
            ComposerScreen(
                sender,
                draft,
                draft_id=stored.id,
                message_id=stored.message_id,
                account_id=stored.account_id,
            )
        )

    def action_discard(self) -> None:
        draft_id = self._selected_id()
        stored = drafts.get(self.conn, draft_id) if draft_id is not None else None
        if stored is None:
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                drafts.discard(self.conn, stored.id)
            except Exception as exc:  # the store could not write (a full disk)
                problem = failure(exc, self.conn)
                if problem is None:
                    raise
                self.notify(f"Not discarded: {problem}", severity="error", markup=False)
                return
            self.app.post_message(DraftSaved(stored.account_id))  # its server copy goes
            self.reload()

        self.app.push_screen(Confirm("Discard this draft?"), answer)

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.reload()
