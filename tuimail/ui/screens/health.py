"""Sync health: per account and folder, when it last synced, its server state, pending actions,
the outbox, the last error and messages left marked deleted on a server without UIDPLUS — so a
user can see why mail is not arriving, or not leaving the server."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, outbox, read
from tuimail.ui.host import app_host
from tuimail.ui.widgets.footer import Footer


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "never"


# Narrower than this, the view leaves out the IMAP state columns (UIDVALIDITY, HIGHESTMODSEQ):
# with them every row folds in two at 80 columns, and what users look for is the sync and the
# errors.
SERVER_STATE_MIN_WIDTH = 100


def health_tables(
    conn: sqlite3.Connection, *, expunge_key: str = "X", server_state: bool = True
) -> list[Table]:
    """One table per account, built from the store only (`expunge_key`: the key that expunges
    a folder, named where a folder holds messages marked deleted; `server_state`: with the
    IMAP state columns)."""
    tables = []
    waiting = Counter(
        (item.account_id, item.state.value)
        for item in outbox.items(conn)
        if item.state.value != "sent"
    )
    for account in read.accounts(conn):
        protocol = account.protocol.value.upper() if account.protocol else "local"
        pending = ops.count_pending(conn, account.id)
        failed = len(ops.failed(conn, account.id))
        queued = ", ".join(
            f"{count} {state}"
            for (acc, state), count in sorted(waiting.items())
            if acc == account.id
        )
        title = Text.assemble(
            (sanitize_line(account.name), "bold"),
            f"  {protocol}  ·  pending actions: {pending}",
            (f" ({failed} failed)" if failed else "", "bold red"),
            f"  ·  outbox: {queued or 'empty'}",
        )
        table = Table(title=title, title_justify="left", expand=True, show_edge=False)
        state = ("UIDVALIDITY", "HIGHESTMODSEQ") if server_state else ()
        for column in ("folder", "messages", "last sync", *state, "last error"):
            # The counts and the date whole (the folder's name and the error fold instead).
            whole = column in ("messages", "last sync")
            table.add_column(column, overflow="fold", no_wrap=whole, min_width=9 if whole else None)
        marked = read.marked_deleted(conn, account.id)
        notes: list[str] = []
        for folder in read.folders(conn, account.id):
            if marked.get(folder.id):
                count = marked[folder.id]
                one = count == 1
                name = sanitize_line(folder.display_name)
                notes.append(
                    f"{name}: {count} message{'' if one else 's'} marked"
                    f" deleted {'stays' if one else 'stay'} on the server, because it has no"
                    f" UIDPLUS (only an expunge of the whole folder removes"
                    f" {'it' if one else 'them'}, with what other mail programs marked;"
                    f" {expunge_key} in the folder, or imap.expunge in the config)"
                )
            error = (
                Text(sanitize_line(folder.last_error), style="red")
                if folder.last_error
                else Text("")
            )
            values = (str(folder.uidvalidity or "–"), str(folder.highestmodseq or "–"))
            table.add_row(
                Text(sanitize_line(folder.display_name)),
                f"{folder.total} ({folder.unread} unread)",
                _when(folder.last_sync),
                *(values if server_state else ()),
                error,
            )
        if notes:
            table.caption = Text("\n".join(notes), style="yellow")
            table.caption_justify = "left"
        tables.append(table)
    return tables


class HealthScreen(Screen[None]):
    """The sync-health view; r re-reads the store."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("r", "refresh_view", "Refresh"),
    ]

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(id="health")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Sync health"
        self.action_refresh_view()

    def on_resize(self) -> None:
        self.action_refresh_view()  # the IMAP state columns come and go with the width

    def action_refresh_view(self) -> None:
        keymap = app_host(self.app).config.keys
        tables = health_tables(
            self.conn,
            expunge_key=str(keymap.get("expunge", "X")),
            server_state=self.app.size.width >= SERVER_STATE_MIN_WIDTH,
        )
        body: Table | Text
        if tables:
            body = Table.grid(padding=(1, 0))
            for table in tables:
                body.add_row(table)
        else:
            body = Text("No accounts in the local store yet.")
        self.query_one("#health", Static).update(body)
