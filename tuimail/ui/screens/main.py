"""The main screen: folders | message list / message view.

A first, small version: it reads the store (tuimail.store.read) and shows what is there. The
message list shows the newest MESSAGE_LIST_LIMIT messages of a folder; the line-API list for
100k-message folders replaces it with the terminal-app work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.format import addresses_text, flag_marks, plain, sender_text, short_date
from tuimail.ui.messages import AccountStatus, BodyWanted, StoreUpdated
from tuimail.ui.widgets.status_bar import StatusBar

MESSAGE_LIST_LIMIT = 1000


class MainScreen(Screen[None]):
    """Folders on the left; the message list above the message view on the right."""

    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("tab", "focus_next", "Next pane", show=True),
        Binding("escape", "focus_list", "Back to list", show=False),
    ]

    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__()
        self.conn = conn
        # Dates are shown relative to now ("14:05" today); screenshots pass a fixed clock.
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.folder_ids: list[int] = []
        self.current_folder_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main-panes"):
            yield OptionList(id="folders")
            with Vertical(id="right"):
                yield DataTable(id="messages", cursor_type="row", zebra_stripes=False)
                with VerticalScroll(id="view"):
                    yield Static(id="view-headers")
                    yield Static(id="view-body")
        yield StatusBar()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#messages", DataTable)
        table.add_column(" ", key="marks", width=3)
        table.add_column("Date", key="date", width=10)
        table.add_column("From", key="from", width=22)
        table.add_column("Subject", key="subject")
        infos = self._load_folders()
        if infos:
            self.show_folder(infos[0].id)
        else:
            self.query_one("#view-body", Static).update(
                Text(
                    "No mail in the local store yet.\n\n"
                    "Add an account to ~/.config/tuimail/config.toml (see docs/config.md) and run "
                    "`tuimail accounts check`, or try the demo: `tuimail demo`."
                )
            )
        table.focus()

    def _load_folders(self) -> list[read.FolderInfo]:
        """(Re)build the folder list from the store, keeping the highlighted folder."""
        folders = self.query_one("#folders", OptionList)
        infos = read.folders(self.conn)
        self.folder_ids = [info.id for info in infos]
        folders.clear_options()
        account = None
        highlight = None
        for info in infos:
            if info.account != account:
                account = info.account
                heading = Text(sanitize_line(account), style="bold")
                folders.add_option(Option(heading, disabled=True))
            prompt = Text("  " + sanitize_line(info.name))
            if info.unread:
                prompt.append(f" {info.unread}", style="bold")
            folders.add_option(Option(prompt, id=str(info.id)))
            if info.id == self.current_folder_id or (
                highlight is None and self.current_folder_id is None
            ):
                highlight = folders.option_count - 1
        if highlight is not None:
            with self.prevent(OptionList.OptionHighlighted):
                folders.highlighted = highlight
        return infos

    @on(StoreUpdated)
    def _store_updated(self, message: StoreUpdated) -> None:
        self._load_folders()
        if self.current_folder_id is None and self.folder_ids:
            self.show_folder(self.folder_ids[0])
        elif self.current_folder_id in message.folder_ids:
            self.show_folder(self.current_folder_id)

    @on(AccountStatus)
    def _account_status(self, message: AccountStatus) -> None:
        self.query_one(StatusBar).set_account(message.account, message.state, message.text)

    @on(OptionList.OptionHighlighted, "#folders")
    def _folder_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.show_folder(int(event.option.id))

    def show_folder(self, folder_id: int) -> None:
        """Fill the message list with the folder's newest messages."""
        table = self.query_one("#messages", DataTable)
        keep_message = None
        if folder_id == self.current_folder_id and table.row_count:
            keep_message = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.current_folder_id = folder_id
        table.clear()
        ids = read.message_ids(self.conn, folder_id)
        now = self.clock()
        for row in read.rows(self.conn, ids[:MESSAGE_LIST_LIMIT]):
            style = "bold" if "\\Seen" not in row.flags else ""
            table.add_row(
                flag_marks(row.flags, row.envelope.has_attachments),
                short_date(row.envelope.date or row.sort_date, now),
                plain(sender_text(row.envelope.from_), style),
                plain(row.envelope.subject or "(no subject)", style),
                key=str(row.id),
            )
        if keep_message is not None and keep_message in table.rows:
            table.move_cursor(row=table.get_row_index(keep_message))
        info = read.folder(self.conn, folder_id)
        if info is not None:
            shown = min(len(ids), MESSAGE_LIST_LIMIT)
            self.sub_title = sanitize_line(f"{info.account}/{info.name}") + (
                f" — {info.total} messages, {info.unread} unread"
                + (f" (newest {shown} shown)" if shown < len(ids) else "")
            )

    @on(DataTable.RowHighlighted, "#messages")
    def _message_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.show_message(int(event.row_key.value))

    @on(DataTable.RowSelected, "#messages")
    def _message_selected(self, event: DataTable.RowSelected) -> None:
        self.query_one("#view", VerticalScroll).focus()

    def show_message(self, message_id: int) -> None:
        """Show headers and the rendered, sanitized body of a message."""
        row = read.row(self.conn, message_id)
        headers = self.query_one("#view-headers", Static)
        body = self.query_one("#view-body", Static)
        if row is None:
            headers.update("")
            body.update(Text("This message is no longer in the store."))
            return
        env = row.envelope
        header_text = Text()
        for name, value in (
            ("From", addresses_text(env.from_)),
            ("To", addresses_text(env.to)),
            ("Cc", addresses_text(env.cc)),
            ("Date", env.date.astimezone().strftime("%a, %d %b %Y %H:%M") if env.date else ""),
            ("Subject", sanitize_line(env.subject)),
        ):
            if value:
                header_text.append(f"{name}: ", style="bold")
                header_text.append(value + "\n")
        header_text.rstrip()
        headers.update(header_text)
        raw = read.body(self.conn, message_id)
        if raw is None:
            body.update(Text("Downloading the message…", style="italic"))
            self.post_message(BodyWanted(message_id))
        else:
            body.update(Text(render_message(parse_message(raw), raw)))
        self.query_one("#view", VerticalScroll).scroll_home(animate=False)

    def action_focus_list(self) -> None:
        self.query_one("#messages", DataTable).focus()
