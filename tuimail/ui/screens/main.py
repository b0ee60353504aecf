"""The main screen: folders | message list / message view.

It lays out the panes (widgets/folder_pane.py, widgets/message_list.py, widgets/message_view.py,
widgets/search_line.py, the status bar), holds the keys and carries out the actions that tie
them together: showing a place or a search, and handing the highlighted message to the
actions that change it (screens/message_actions.py: intents in the store, replayed to the server
by the app), to the composer (screens/writing.py) or, for its attachments, to
screens/attachment_actions.py.
The message list is a line-API widget that reads rows only for the lines it paints, so large
folders open at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header

from tuimail.core.model import SEEN
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, read
from tuimail.ui.host import app_host
from tuimail.ui.messages import (
    AccountStatus,
    BodyFailed,
    DeletedLeft,
    PrefetchWanted,
    StoreUpdated,
)
from tuimail.ui.panes import PANE_BINDINGS, PaneLayout
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.conversations import ConversationReading
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.folder_actions import FolderActions
from tuimail.ui.screens.health import HealthScreen
from tuimail.ui.screens.help import HelpScreen, binding_rows
from tuimail.ui.screens.lists import ListActions
from tuimail.ui.screens.marked_actions import MarkedActions
from tuimail.ui.screens.message_actions import MessageActions
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.pipe_actions import PipeActions
from tuimail.ui.screens.searching import Searching
from tuimail.ui.screens.writing import Writing
from tuimail.ui.screens.writing_keys import WritingKeys
from tuimail.ui.widgets.folder_pane import FolderPane
from tuimail.ui.widgets.footer import Footer
from tuimail.ui.widgets.list_order import OrderChanged
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.message_view import DISPLACED, MESSAGE_GONE, MessageView
from tuimail.ui.widgets.pager import Pager
from tuimail.ui.widgets.search_line import SearchLine
from tuimail.ui.widgets.status_bar import StatusBar

SHOW_DELAY = 0.06  # seconds the cursor rests before the message view follows it
# Where the bodies are fetched before they are opened, from the cursor: the next ones first (`j`).
PREFETCH_AROUND = (1, 2, 3, -1)


class MainScreen(ConversationReading, WritingKeys, Searching, Screen[None]):
    """Folders on the left; the message list above the message view on the right."""

    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("tab", "app.focus_next", "Next pane", show=True, id="next-pane"),
        Binding("escape", "back", "Back to the list / end a search", show=False, id="back"),
        Binding("slash", "search(False)", "Search this folder", id="search"),
        Binding("ctrl+k", "search(True)", "Search all mail", show=False, id="search-all"),
        Binding("question_mark", "help", "Keys", id="help"),
        Binding("N", "toggle_read", "Mark read / unread", show=False, id="toggle-read"),
        Binding("M", "mark_all_read", "Mark the whole folder read", show=False, id="mark-all-read"),
        Binding("n", "next_unread", "Next unread message", show=False, id="next-unread"),
        Binding("F", "toggle_flag", "Flag / unflag", show=False, id="toggle-flag"),
        Binding("d", "delete", "Delete (move to Trash)", show=False, id="delete"),
        Binding("u", "undo", "Undo the last delete, move, flag or read", show=False, id="undo"),
        Binding("s", "transfer(True)", "Move to a folder", show=False, id="move"),
        Binding("C", "transfer(False)", "Copy to a folder", show=False, id="copy"),
        Binding("c", "compose", "Compose", id="compose"),
        Binding("r", "reply(False)", "Reply", show=False, id="reply"),
        Binding("R", "reply(True)", "Reply to all", show=False, id="reply-all"),
        Binding("f", "forward", "Forward", show=False, id="forward"),
        Binding("l", "on_list('reply_list')", "Reply to the list", show=False, id="reply-list"),
        Binding(
            "p",
            "on_list('reply_private')",
            "Reply to the sender only",
            show=False,
            id="reply-private",
        ),
        Binding(
            "ctrl+u",
            "on_list('unsubscribe')",
            "Unsubscribe from the list",
            show=False,
            id="unsubscribe",
        ),
        Binding(
            "ctrl+f", "forward_attached", "Forward as attachment", show=False, id="forward-attached"
        ),
        Binding("e", "edit_draft", "Edit a draft (Drafts folder)", show=False, id="edit-draft"),
        Binding("o", "outbox", "Outbox", id="outbox"),
        Binding("H", "health", "Sync health", show=False, id="health"),
        Binding(
            "X",
            "expunge",
            "Expunge the folder: remove what is marked deleted (servers without UIDPLUS)",
            show=False,
            id="expunge",
        ),
        Binding("a", "save_attachments", "Save attachments", show=False, id="save-attachments"),
        Binding("O", "open_attachment", "Open an attachment", show=False, id="open-attachment"),
        Binding("w", "open_html(False)", "Open the HTML in a browser", show=False, id="open-html"),
        Binding(
            "W",
            "open_html(True)",
            "Open the HTML in a browser, with remote content",
            show=False,
            id="open-html-remote",
        ),
        Binding(
            "vertical_line",
            "pipe",
            "Pipe the message, a part or the marked ones to a command",
            show=False,
            id="pipe",
        ),
        *PANE_BINDINGS,  # last in the help: the keys for messages come first
    ]

    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__()
        self.conn = conn
        # Dates are shown relative to now ("14:05" today); screenshots pass a fixed clock.
        self.clock = clock or (lambda: datetime.now().astimezone())
        # What the message list shows: one folder's id, or every inbox (the unified inbox).
        self.current_place: tuple[int, ...] | None = None
        self.waits = BodyWaits(self, conn)  # actions waiting for a message's body
        self.writing = Writing(self, conn, self.waits)
        self.lists = ListActions(self, conn, self.writing, self.waits)
        self.pipes = PipeActions(self, self.waits)  # | : the message or a part to a command
        self._show_timer: Timer | None = None
        self.panes = PaneLayout()  # for the running app only; [ui] gives the initial sizes
        self.init_searching()  # the search shown, run again when the store changes
        self.actions = MessageActions(self, self, conn)
        # With messages marked, N, F, d, s, C, f, ctrl+f and | act on all of them.
        self.marked = MarkedActions(self, self.actions, self.writing, conn)
        self.store_problem = ""  # shown first in the status bar (show_store_problem)
        # The store revision the list and the folder pane show: a StoreUpdated re-reads only
        # what changed after it.
        self._shown_revision = 0

    @property
    def current_folder_id(self) -> int | None:
        """The folder shown, when it is one folder (not the unified inbox, not a search)."""
        place = self.current_place
        return place[0] if place is not None and len(place) == 1 else None

    @property
    def unified_inbox(self) -> tuple[int, ...]:
        """Every inbox when there is more than one (the unified inbox's place), else ()."""
        return self.query_one(FolderPane).unified_inbox

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main-panes"):
            accounts = app_host(self.app).config.accounts
            only = frozenset(
                name
                for name, account in accounts.items()
                if account.incoming is not None and account.incoming.subscribed_only
            )
            yield FolderPane(self.conn, subscribed_only=only, id="folders")
            with Vertical(id="right"):
                yield MessageList(self.conn, self.clock, id="messages")
                yield MessageView(self.conn, self.clock, id="view")
        yield StatusBar()
        # The search line takes the status bar's row while it is open: no screen to switch to
        # and no row to add, so closing it repaints little more than the list it fills.
        yield SearchLine(id="search-line")
        yield Footer()

    def on_mount(self) -> None:
        self._start_panes()
        self._shown_revision = read.revision(self.conn)  # what is read below is at least this
        infos = self._load_folders()
        if self.unified_inbox:
            self.show_place(self.unified_inbox)
        elif infos:
            self.show_place((infos[0].id,))
        else:
            self.query_one(MessageView).show_no_mail()
        self.query_one(MessageList).focus()
        if self.store_problem:
            self.query_one(StatusBar).set_problem(self.store_problem)

    def _load_folders(self) -> list[read.FolderInfo]:
        """(Re)build the folder pane from the store (keeping its highlight on the place shown)
        and the status bar's counts of pending actions and waiting messages."""
        folders = self.query_one(FolderPane)
        infos = folders.load(self.current_place)
        self.query_one(StatusBar).set_counts(ops.count_pending(self.conn), folders.outbox_waiting)
        return infos

    def on_screen_resume(self) -> None:
        # Back from the outbox or the composer: counts may have changed.
        if self.is_mounted:
            self._load_folders()

    @on(StoreUpdated)
    def _store_updated(self, message: StoreUpdated) -> None:
        # A change the user did not make never ends a search nor moves the highlight: the list
        # is read again with the cursor kept on the same message (see MessageList._replace).
        folder_ids, revision = message.take()
        self.waits.run_waiting()
        if revision is not None and revision <= self._shown_revision:
            return  # shown already (an update handled before this one read it)
        # Without a revision (the app's own update after adding an account) what is shown is
        # read as before, and the revision shown stays: the next update reads what changed.
        since = self._shown_revision
        changes = None
        if revision is not None:
            changes = read.changes_since(self.conn, since)
            self._shown_revision = changes.revision
            if changes.reload:  # older than what the store remembers: read everything shown
                changes = None
        self._load_folders()  # redraws only the entries whose counts changed
        messages = self.query_one(MessageList)
        view = self.query_one(MessageView)
        folder_ids_shown = self.query_one(FolderPane).folder_ids
        if self.current_place is None and folder_ids_shown:
            self.show_place(self.unified_inbox or (folder_ids_shown[0],))
        elif self.search_shown is not None and messages.place is None:
            self._search_changes(changes)
        elif not folder_ids_shown:
            view.show_no_mail()
        elif self.current_place and changes is None:
            if revision is not None or set(self.current_place) & set(folder_ids):
                messages.update_from_store()
                self._describe_place()
        elif self.current_place and changes is not None:
            self._update_place(messages, self.current_place, since, changes)
        if self.search_shown is not None and messages.place is not None:
            self._search_changes(changes)  # its first results, still to come, may miss them
        # The message in the view again, when it changed (a body arrived, its flags): the list
        # does not announce a message it kept through a background change.
        shown = view.shown_id
        if changes is not None:
            changed = shown in changes.messages
        else:  # everything was read again, or the folders named
            place = self.current_place
            changed = revision is not None or not place or bool(set(place) & set(folder_ids))
        if shown is not None and changed and shown == messages.current_message_id:
            view.show_message(shown)

    def _search_changes(self, changes: read.Changes | None) -> None:
        if changes is None:
            self.run_search_again()
        elif changes.messages or changes.messages_gone:
            self.run_search_again(changes.messages | changes.messages_gone)

    def _update_place(
        self,
        messages: MessageList,
        place: tuple[int, ...],
        since: int,
        changes: read.Changes,
    ) -> None:
        """Show what changed in the place shown after revision `since`: nothing is read again
        when none of its messages changed, only the changed rows when messages changed in
        place (flags), its ids when messages came or went."""
        changed = read.messages_changed(self.conn, since, place)
        anywhere = changes.messages | changes.messages_gone
        # The few ids changed, looked for in the list (a set of a million listed ids took 60 ms
        # and 40 MB at every update).
        listed = (anywhere | changed).intersection(messages.ids)
        left = (anywhere & listed) - changed
        if not changed and not left:
            return
        if not left and changed <= listed and messages.can_redraw_rows():
            messages.redraw_rows(changed)
        else:
            messages.update_from_store(changed=changed | changes.messages | changes.messages_gone)
        self._describe_place()

    def show_store_problem(self, text: str) -> None:
        """Say in the status bar what is wrong with the store ("disk full: read-only")."""
        self.store_problem = text
        if self.is_mounted:
            self.query_one(StatusBar).set_problem(text)

    @on(AccountStatus)
    def _account_status(self, message: AccountStatus) -> None:
        self.query_one(StatusBar).set_account(message.account, message.state, message.text)

    @on(FolderPane.PlaceHighlighted)
    def _folder_highlighted(self, event: FolderPane.PlaceHighlighted) -> None:
        self.show_place(event.place)

    @on(FolderPane.FolderEntered)
    def _folder_entered(self) -> None:
        self.query_one(MessageList).focus()

    @on(FolderPane.FolderActionWanted)
    def _folder_action(self, event: FolderPane.FolderActionWanted) -> None:
        FolderActions(self, self.conn).run(event.action)

    @on(FolderPane.OutboxChosen)
    def _outbox_chosen(self) -> None:
        self.action_outbox()

    @on(FolderPane.DraftsChosen)
    def _drafts_chosen(self) -> None:
        self.action_drafts()

    def show_place(self, place: tuple[int, ...]) -> None:
        """Show one folder's messages, or the unified inbox's (same place again: keep the
        cursor)."""
        self.current_place = place
        self.forget_search()
        messages = self.query_one(MessageList)
        messages.load(place)
        self._describe_place()

    def _describe_place(self) -> None:
        messages = self.query_one(MessageList)
        order = f", {messages.order_text}"  # the order and its direction, always said
        if messages.threaded:
            order = ", conversations by their newest message"
        if self.current_place == self.unified_inbox and self.unified_inbox:
            self.sub_title = f"Inbox (all accounts) — {len(messages.ids)} messages{order}"
            return
        info = read.folder(self.conn, self.current_folder_id) if self.current_folder_id else None
        if info is not None:
            self.sub_title = sanitize_line(f"{info.account}/{info.display_name}") + (
                f" — {info.total} messages, {info.unread} unread{order}"
            )

    @on(OrderChanged)
    def _order_changed(self) -> None:
        if self.query_one(MessageList).place is not None:
            self._describe_place()

    @on(MessageList.Highlighted)
    def _message_highlighted(self, event: MessageList.Highlighted) -> None:
        # Holding j/k must not parse every message it passes: show the one the cursor rests on.
        if self._show_timer is not None:
            self._show_timer.stop()
        self._show_timer = self.set_timer(SHOW_DELAY, lambda: self._rest_on(event.message_id))

    def _rest_on(self, message_id: int) -> None:
        """The cursor rests on `message_id`: show it, ask for the bodies around it that are not
        here (the app fetches them), and render the next one ahead, so that `j` and Enter do
        not wait."""
        self.query_one(MessageView).show_message(message_id)
        messages = self.query_one(MessageList)
        if messages.current_message_id != message_id:
            return
        cursor = messages.cursor
        around = [messages.row_at(cursor + step) for step in PREFETCH_AROUND]
        wanted = tuple(row.id for row in around if row is not None and not row.body_local)
        if wanted:
            self.app.post_message(PrefetchWanted(wanted))
        following = messages.row_at(cursor + 1)
        if following is not None:
            # Rendered while the cursor rests, after the frame that shows this message: `j` +
            # Enter then opens it without parsing it.
            self.call_after_refresh(self.query_one(MessageView).prepare, following.id)

    @on(MessageList.Displaced)
    def _list_displaced(self, event: MessageList.Displaced) -> None:
        if self._show_timer is not None:
            self._show_timer.stop()
        self.query_one(MessageView).show_notice(DISPLACED)
        self.notify(DISPLACED, severity="warning", markup=False)

    @on(MessageList.Selected)
    async def _message_selected(self, event: MessageList.Selected) -> None:
        self.open_message(event.message_id)
        # One turn of the event loop before this screen goes idle and paints: the view's parts
        # ask for a new layout (their new heights) when they go idle themselves, and the
        # frame would otherwise show the message in the previous one's height, cut short.
        await asyncio.sleep(0)

    def open_message(self, message_id: int) -> None:
        """Open a message in the message view (the list's cursor is on it): shown, marked read,
        the view focused."""
        view = self.query_one(MessageView)
        view.end_conversation()
        view.show_message(message_id)
        row = read.row(self.conn, message_id)
        if row is not None and SEEN not in row.flags:
            self.actions.act(ops.OpKind.SEEN, row, undoable=False)
        self.show_view()
        view.focus()

    # --- actions on messages: intents written to the store, replayed to the server by the app

    def _current_row(self) -> read.MessageRow | None:
        messages = self.query_one(MessageList)
        if messages.displaced:  # nothing is highlighted: no key acts on a message unseen
            self.notify(DISPLACED, severity="warning", markup=False)
            return None
        message_id = messages.current_message_id
        if message_id is None:
            return None
        row = read.row(self.conn, message_id)
        if row is None:  # gone since the list was drawn; the list follows when the store says
            self.notify(MESSAGE_GONE, markup=False)
        return row

    def _marked_ids(self) -> list[int]:
        """The messages marked in the list (taken now: what a key acts on is fixed when it is
        pressed)."""
        return self.query_one(MessageList).marked_ids()

    @on(MessageList.MarksChanged)
    def _marks_changed(self, event: MessageList.MarksChanged) -> None:
        self.query_one(StatusBar).set_marked(event.count)

    def action_toggle_read(self) -> None:
        if marked := self._marked_ids():
            self.marked.toggle_read(marked)
        elif (row := self._current_row()) is not None:
            self.actions.toggle_read(row)

    def action_toggle_flag(self) -> None:
        if marked := self._marked_ids():
            self.marked.toggle_flag(marked)
        elif (row := self._current_row()) is not None:
            self.actions.toggle_flag(row)

    def action_delete(self) -> None:
        """Move to the account's Trash; in the Trash (or with none), delete for good."""
        if marked := self._marked_ids():
            self.marked.delete(marked)
        elif (row := self._current_row()) is not None:
            self.actions.delete(row)

    def action_transfer(self, move: bool) -> None:
        """Move or copy the message to a folder of its account, chosen from a list."""
        if marked := self._marked_ids():
            self.marked.transfer(marked, move)
        elif (row := self._current_row()) is not None:
            self.actions.transfer(row, move)

    def action_mark_all_read(self) -> None:
        """Mark every unread message of the folder shown (the unified inbox: every inbox)
        read; asks first when there are many."""
        place = self.current_place
        if place is None or self.query_one(MessageList).place is None:
            self.notify(
                "End the search first (escape); or mark the messages found (*) and press N.",
                markup=False,
            )
            return
        info = read.folder(self.conn, place[0]) if len(place) == 1 else None
        name = sanitize_line(info.display_name) if info is not None else "every inbox"
        self.marked.mark_all_read(place, name)

    def action_undo(self) -> None:
        """Undo the last delete, move, flag or read/unread (see `store.undo`)."""
        self.actions.undo()

    def _folder_here(self) -> read.FolderInfo | None:
        """The folder the list shows, or in a unified inbox the highlighted message's."""
        place = self.current_place or ()
        if len(place) == 1:
            return read.folder(self.conn, place[0])
        row = self._current_row()
        return read.folder(self.conn, row.folder_id) if row is not None else None

    def action_expunge(self) -> None:
        """Expunge the folder shown, after asking: remove what is marked deleted on the server."""
        folder = self._folder_here()
        if folder is None:
            self.notify("Choose a folder first.", markup=False)
            return
        self.actions.expunge(folder)

    @on(DeletedLeft)
    def _deleted_left(self, message: DeletedLeft) -> None:
        self.actions.deleted_left(message)

    # --- the panes follow the user's own changes at once (MessageActions asks)

    def follow_act(self, kind: ops.OpKind, message_ids: Collection[int]) -> None:
        """The list, the folder pane and the title after `kind` was done to messages."""
        messages = self.query_one(MessageList)
        if kind is ops.OpKind.MOVE or kind is ops.OpKind.DELETE:
            if messages.place is not None:
                messages.reload()
            else:
                messages.remove_ids(set(message_ids))
        elif len(message_ids) == 1:  # its flags: its line alone changes
            messages.forget_row(next(iter(message_ids)))
        else:
            messages.forget_rows()
        self._load_folders()
        if messages.place is not None:  # (a search's title stays)
            self._describe_place()  # the title's counts follow the user's own change at once

    def follow_expunge(self) -> None:
        """The list and the folder pane after a folder's expunge was queued."""
        messages = self.query_one(MessageList)
        if messages.place is not None:
            messages.reload()
        self._load_folders()

    def move_targets(self, account_id: int, leave_out: Collection[int]) -> list[read.FolderInfo]:
        """The folders of the account a move or a copy may go to: those the folder pane
        shows (not an unsubscribed one it hides), less `leave_out`."""
        pane = self.query_one(FolderPane)
        return [
            folder
            for folder in read.folders(self.conn, account_id)
            if folder.id not in leave_out and not pane.hides(folder)
        ]

    def follow_undo(self, message_id: int) -> None:
        """The list (its cursor on `message_id`), the folder pane and the title after an undo."""
        messages = self.query_one(MessageList)
        if messages.place is not None:
            messages.reload()
            messages.select_id(message_id)
        else:
            self.run_search_again(select=message_id)
        self._load_folders()
        if messages.place is not None:
            self._describe_place()

    def action_back(self) -> None:
        messages = self.query_one(MessageList)
        if self.query_one(SearchLine).is_open:
            self.close_search_line()  # close the search line, nothing searched
        elif isinstance(self.focused, Pager):
            pass  # from the message view back to the list: a search shown stays
        elif self.search_shown is not None and self.current_place is not None:
            self.show_place(self.current_place)  # end the search (or drop one still running)
        messages.focus()

    # --- panes: shown or hidden, wider or narrower, for the running app

    def _start_panes(self) -> None:
        ui = app_host(self.app).config.ui
        self.panes.folder_width = ui.folder_width
        self.panes.list_percent = ui.list_percent
        self._apply_panes()

    def _apply_panes(self) -> None:
        self.panes.apply(
            self.query_one(FolderPane), self.query_one(MessageList), self.query_one(MessageView)
        )
        focused = self.focused
        if focused is not None and not focused.display:
            self.query_one(MessageList).focus()  # the pane with the focus was hidden

    def show_view(self) -> None:
        """Opening a message shows the message view if it was off."""
        if not self.panes.view:
            self.panes.view = True
            self._apply_panes()

    def action_toggle_folders(self) -> None:
        """Hide or show the folder pane."""
        self.panes.folders = not self.panes.folders
        self._apply_panes()

    def action_toggle_view(self) -> None:
        """Hide or show the message view (the list then takes the whole height)."""
        self.panes.view = not self.panes.view
        self._apply_panes()

    def action_resize_folders(self, steps: int) -> None:
        """Widen (steps > 0) or narrow the folder pane, showing it if it was off."""
        folders = self.query_one(FolderPane)
        if self.panes.folders:
            self.panes.resize_folders(steps, folders.outer_size.width, self.size.width)
        self.panes.folders = True
        self._apply_panes()

    def action_resize_view(self, steps: int) -> None:
        """Give the message view more (steps > 0) or less height, showing it if it was off."""
        if self.panes.view:
            self.panes.resize_view(steps)
        self.panes.view = True
        self._apply_panes()

    # --- other screens

    def action_health(self) -> None:
        self.app.push_screen(HealthScreen(self.conn))

    def action_outbox(self) -> None:
        self.app.push_screen(OutboxScreen(self.conn))

    def action_drafts(self) -> None:
        self.app.push_screen(DraftsScreen(self.conn))

    def action_help(self) -> None:
        keymap = app_host(self.app).config.keys
        rows = binding_rows(self.BINDINGS, MessageList.BINDINGS, self.app.BINDINGS, keymap=keymap)
        view_rows = binding_rows(Pager.BINDINGS, keymap=keymap)
        folder_rows = binding_rows(FolderPane.BINDINGS, keymap=keymap)
        sections = [("In the message view", view_rows), ("In the folder pane", folder_rows)]
        self.app.push_screen(HelpScreen(rows, sections))

    @on(BodyFailed)
    def _body_failed(self, message: BodyFailed) -> None:
        """The shown message's body could not be downloaded: say so where it would be (and a
        reply waiting for it is not opened). A message that is gone (moved or deleted
        elsewhere meanwhile) is no error: the view and a plain notice say so."""
        message_id = message.message_id
        stored = read.row(self.conn, message_id) is not None
        gone = message.gone or not stored
        words = MESSAGE_GONE if not stored else f"Not downloaded: {message.reason}."
        self.waits.failed(message_id, message.reason, gone=gone, words=words)
        view = self.query_one(MessageView)
        if message_id in view.conversation.ids:
            view.conversation.download_failed(
                message_id, words if gone else f"Could not download the message: {message.reason}"
            )
            return
        if view.shown_id != message_id:
            return
        if not stored:
            messages = self.query_one(MessageList)
            if not (messages.displaced and messages.ids):  # else the list's words stand
                view.show_notice(MESSAGE_GONE)
            return
        view.download_failed(message.reason, words if gone else None)
