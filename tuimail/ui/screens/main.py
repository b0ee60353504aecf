"""The main screen: folders | message list / message view.

It reads the store (tuimail.store.read) and shows what is there; the message list is a line-API
widget that reads rows only for the lines it paints, so large folders open at once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from tuimail.core.model import ANSWERED, FLAGGED, FORWARDED, SEEN, Draft, FolderRole
from tuimail.mail.attachments import listed_attachments, render_partial
from tuimail.mail.mailto import MailtoFields
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.reply import (
    draft_from_message,
    forward_attached_draft,
    forward_draft,
    reply_draft,
)
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts as store_drafts
from tuimail.store import ops, outbox, read
from tuimail.store import search as store_search
from tuimail.store import undo as store_undo
from tuimail.store.db import StoreFullError, failure
from tuimail.store.drafts import ServerCopy
from tuimail.ui.folder_tree import folder_tree
from tuimail.ui.format import addresses_text, body_text
from tuimail.ui.host import app_host
from tuimail.ui.messages import (
    AccountState,
    AccountStatus,
    BodyFailed,
    BodyWanted,
    DeletedLeft,
    IntentQueued,
    OpenWanted,
    StoreUpdated,
)
from tuimail.ui.panes import PANE_BINDINGS, PaneLayout
from tuimail.ui.save import plan_save, save_attachments, save_for_opening
from tuimail.ui.screens.composer import ComposerScreen, Sender
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.health import HealthScreen
from tuimail.ui.screens.help import HelpScreen, binding_rows
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import Confirm, LinePrompt
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tuimail.mail.attachments import ListedAttachment

UNIFIED = "unified"  # option id of the unified inbox
OUTBOX = "outbox"  # option id of the outbox entry
DRAFTS = "drafts"  # option id of the local drafts entry
WAITING_STATES = (
    outbox.OutboxState.QUEUED,
    outbox.OutboxState.SENDING,
    outbox.OutboxState.FAILED,
    outbox.OutboxState.UNKNOWN,
)
SHOW_DELAY = 0.06  # seconds the cursor rests before the message view follows it
DISPLACED = (
    "The highlighted message was moved or deleted elsewhere, or its conversation got new mail:"
    " no message is highlighted now. Move the cursor (j/k) to pick one."
)
# A message that went from the store while it was shown, opened or waited for: nothing failed.
MESSAGE_GONE = "This message is no longer in this folder: it was moved or deleted elsewhere."


UNSAVED_STATUS = "disk full: changes not saved"  # the status bar, while a write failed
# What a user's action is called when the store could not record it.
_UNSAVED = {
    ops.OpKind.SEEN: "Marking it read",
    ops.OpKind.UNSEEN: "Marking it unread",
    ops.OpKind.FLAG: "The flag",
    ops.OpKind.UNFLAG: "Removing the flag",
    ops.OpKind.MOVE: "The move",
    ops.OpKind.COPY: "The copy",
    ops.OpKind.DELETE: "The delete",
}


def _why_not(exc: OSError, directory: Path) -> str:
    """Why saving into `directory` failed, in words (not "[Errno 2] ...")."""
    shown = sanitize_line(str(directory))
    if isinstance(exc, FileNotFoundError):
        return f"the directory {shown} does not exist"
    if isinstance(exc, NotADirectoryError):
        return f"{shown} is not a directory"
    if isinstance(exc, PermissionError):
        return f"no permission to write into {shown}"
    where = f" ({sanitize_line(exc.filename)})" if isinstance(exc.filename, str) else ""
    return sanitize_line(exc.strerror or str(exc)).lower() + where


class MainScreen(Screen[None]):
    """Folders on the left; the message list above the message view on the right."""

    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("tab", "app.focus_next", "Next pane", show=True, id="next-pane"),
        Binding("escape", "back", "Back to the list / end a search", show=False, id="back"),
        Binding("slash", "search(False)", "Search this folder", id="search"),
        Binding("ctrl+k", "search(True)", "Search all mail", show=False, id="search-all"),
        Binding("question_mark", "help", "Keys", id="help"),
        Binding("N", "toggle_read", "Mark read / unread", show=False, id="toggle-read"),
        Binding("F", "toggle_flag", "Flag / unflag", show=False, id="toggle-flag"),
        Binding("d", "delete", "Delete (move to Trash)", show=False, id="delete"),
        Binding("u", "undo", "Undo the last delete, move, flag or read", show=False, id="undo"),
        Binding("s", "transfer(True)", "Move to a folder", show=False, id="move"),
        Binding("C", "transfer(False)", "Copy to a folder", show=False, id="copy"),
        Binding("c", "compose", "Compose", id="compose"),
        Binding("r", "reply(False)", "Reply", show=False, id="reply"),
        Binding("R", "reply(True)", "Reply to all", show=False, id="reply-all"),
        Binding("f", "forward", "Forward", show=False, id="forward"),
        Binding(
            "ctrl+f", "forward_attached", "Forward as attachment", show=False, id="forward-attached"
        ),
        Binding("e", "edit_draft", "Edit a draft (Drafts folder)", show=False, id="edit-draft"),
        Binding("o", "outbox", "Outbox", id="outbox"),
        Binding("S", "sort", "Sort by date / sender / subject / size", show=False, id="sort"),
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
        *PANE_BINDINGS,  # last in the help: the keys for messages come first
    ]

    def __init__(
        self, conn: sqlite3.Connection, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__()
        self.conn = conn
        # Dates are shown relative to now ("14:05" today); screenshots pass a fixed clock.
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.folder_ids: list[int] = []
        # What the message list shows: one folder's id, or every inbox (the unified inbox).
        self.current_place: tuple[int, ...] | None = None
        self.unified_inbox: tuple[int, ...] = ()
        # Actions waiting for a message's whole body (save, open): message id -> what to do.
        self._waiting_for_body: dict[int, Callable[[bytes], None]] = {}
        # Replies waiting for a message's text (r/R pressed before it was downloaded).
        self._waiting_for_text: dict[int, Callable[[bytes], None]] = {}
        self._status_before: dict[int, tuple[str, tuple[AccountState, str] | None]] = {}
        self._show_timer: Timer | None = None
        self._shown_id: int | None = None  # the message in the view
        self.panes = PaneLayout()  # for the running app only; [ui] gives the initial sizes
        self._search_scope = ""
        self._search_everywhere = False
        # The search shown (its text and the folders it searched; None: all mail), run again
        # when the store changes; None when the list shows a place.
        self._search: tuple[str, list[int] | None] | None = None
        # The last action `u` can undo, with the subject of its message for the notice (a text
        # when the last action cannot be undone: a delete for good, a copy).
        self._last_done: tuple[store_undo.Done, str] | str | None = None
        self._store_problem = ""  # shown first in the status bar (show_store_problem)
        self._folder_entries: list[tuple[str | None, Text]] = []  # the folder list shown
        # The store revision the list and the folder pane show: a StoreUpdated re-reads only
        # what changed after it.
        self._shown_revision = 0

    @property
    def current_folder_id(self) -> int | None:
        """The folder shown, when it is one folder (not the unified inbox, not a search)."""
        place = self.current_place
        return place[0] if place is not None and len(place) == 1 else None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main-panes"):
            yield OptionList(id="folders")
            with Vertical(id="right"):
                yield MessageList(self.conn, self.clock, id="messages")
                with VerticalScroll(id="view"):
                    yield Static(id="view-headers")
                    yield Static(id="view-body")
        yield StatusBar()
        # The search line takes the status bar's row while it is open: no screen to switch to
        # and no row to add, so closing it repaints little more than the list it fills.
        with Horizontal(id="search-line"):
            yield Static(id="search-label")
            yield Input(id="search-bar")
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
            self._show_empty()
        self.query_one(MessageList).focus()
        if self._store_problem:
            self.query_one(StatusBar).set_problem(self._store_problem)

    def _show_empty(self) -> None:
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

    def _load_folders(self) -> list[read.FolderInfo]:
        """(Re)build the folder list from the store, keeping the highlighted entry.

        With more than one inbox, a unified inbox comes first; the outbox comes last. Only what
        changed is redrawn: the same entries with other counts get their new prompts, and
        nothing is touched when nothing changed (a sync commits many batches).
        """
        folders = self.query_one("#folders", OptionList)
        infos = read.folders(self.conn)
        self.folder_ids = [info.id for info in infos]
        inboxes = [info for info in infos if info.role is FolderRole.INBOX]
        self.unified_inbox = tuple(i.id for i in inboxes) if len(inboxes) > 1 else ()
        entries: list[tuple[str | None, Text]] = []  # option id (None: disabled), prompt
        highlight = None
        if self.unified_inbox:
            prompt = Text("Inbox (all accounts)", style="bold")
            unread = sum(i.unread for i in inboxes)
            if unread:
                prompt.append(f" {unread}", style="bold")
            entries.append((UNIFIED, prompt))
            if self.current_place in (None, self.unified_inbox):
                highlight = 0
        for account, of_account in groupby(infos, key=lambda info: info.account):
            entries.append((None, Text(sanitize_line(account), style="bold")))
            # A tree: the server's personal namespace prefix left out, a level per delimiter.
            for entry in folder_tree(list(of_account)):
                indent = "  " * (entry.depth + 1)
                info = entry.folder
                if info is None:  # a level that is not a folder itself
                    node = Text(indent + sanitize_line(entry.label), style="dim")
                    entries.append((None, node))
                    continue
                prompt = Text(indent + sanitize_line(entry.label))
                if info.unread:
                    prompt.append(f" {info.unread}", style="bold")
                entries.append((str(info.id), prompt))
                if highlight is None and self.current_place in (None, (info.id,)):
                    highlight = len(entries) - 1
        waiting = len(outbox.items(self.conn, states=WAITING_STATES))
        self.query_one(StatusBar).set_counts(ops.count_pending(self.conn), waiting)
        local_drafts = store_drafts.count(self.conn)
        # What lives only in this store, under its own heading (an account may have a Drafts
        # folder of its own on the server).
        entries.append((None, Text("On this computer", style="bold")))
        drafts_prompt = Text("  Drafts")
        if local_drafts:
            drafts_prompt.append(f" {local_drafts}", style="bold")
        entries.append((DRAFTS, drafts_prompt))
        outbox_prompt = Text("  Outbox")
        if waiting:
            outbox_prompt.append(f" {waiting}", style="bold")
        entries.append((OUTBOX, outbox_prompt))
        self._show_folder_entries(folders, entries)
        if highlight is not None and folders.highlighted != highlight:
            with self.prevent(OptionList.OptionHighlighted):
                folders.highlighted = highlight
        return infos

    def _show_folder_entries(
        self, folders: OptionList, entries: list[tuple[str | None, Text]]
    ) -> None:
        """Put `entries` into the folder list: new prompts where only prompts differ from what
        is shown, the whole list again when the entries themselves differ."""
        shown = self._folder_entries
        self._folder_entries = entries
        if [key for key, _ in shown] == [key for key, _ in entries]:
            for index, ((_, before), (_, prompt)) in enumerate(zip(shown, entries, strict=True)):
                if prompt != before:
                    folders.replace_option_prompt_at_index(index, prompt)
            return
        folders.clear_options()
        folders.add_options(Option(prompt, id=key, disabled=key is None) for key, prompt in entries)

    def on_screen_resume(self) -> None:
        # Back from the outbox or the composer: counts may have changed.
        if self.is_mounted:
            self._load_folders()

    @on(StoreUpdated)
    def _store_updated(self, message: StoreUpdated) -> None:
        # A change the user did not make never ends a search nor moves the highlight: the list
        # is read again with the cursor kept on the same message (see MessageList._replace).
        folder_ids, revision = message.take()
        self._run_waiting_actions()
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
        if self.current_place is None and self.folder_ids:
            self.show_place(self.unified_inbox or (self.folder_ids[0],))
        elif self._search is not None and messages.place is None:
            if changes is None:
                self._run_search_again()
            elif changes.messages or changes.messages_gone:
                self._run_search_again(changes.messages | changes.messages_gone)
        elif not self.folder_ids:
            self._show_empty()
        elif self.current_place and changes is None:
            if revision is not None or set(self.current_place) & set(folder_ids):
                messages.update_from_store()
                self._describe_place()
        elif self.current_place and changes is not None:
            self._update_place(messages, self.current_place, since, changes)
        # The message in the view again, when it changed (a body arrived, its flags): the list
        # does not announce a message it kept through a background change.
        shown = self._shown_id
        if changes is not None:
            changed = shown in changes.messages
        else:  # everything was read again, or the folders named
            place = self.current_place
            changed = revision is not None or not place or bool(set(place) & set(folder_ids))
        if shown is not None and changed and shown == messages.current_message_id:
            self.show_message(shown)

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
        listed = set(messages.ids)
        left = ((changes.messages | changes.messages_gone) & listed) - changed
        if not changed and not left:
            return
        if not left and changed <= listed and messages.can_redraw_rows():
            messages.redraw_rows(changed)
        else:
            messages.update_from_store(changed=changed | changes.messages | changes.messages_gone)
        self._describe_place()

    def show_store_problem(self, text: str) -> None:
        """Say in the status bar what is wrong with the store ("disk full: read-only")."""
        self._store_problem = text
        if self.is_mounted:
            self.query_one(StatusBar).set_problem(text)

    @on(AccountStatus)
    def _account_status(self, message: AccountStatus) -> None:
        self.query_one(StatusBar).set_account(message.account, message.state, message.text)

    @on(OptionList.OptionHighlighted, "#folders")
    def _folder_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        option = event.option.id
        if option == UNIFIED:
            self.show_place(self.unified_inbox)
        elif option is not None and option not in (OUTBOX, DRAFTS):
            self.show_place((int(option),))

    @on(OptionList.OptionSelected, "#folders")
    def _folder_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == OUTBOX:
            self.action_outbox()
        elif event.option.id == DRAFTS:
            self.action_drafts()
        else:
            self.query_one(MessageList).focus()

    def show_place(self, place: tuple[int, ...]) -> None:
        """Show one folder's messages, or the unified inbox's (same place again: keep the
        cursor)."""
        self.current_place = place
        self._search = None
        messages = self.query_one(MessageList)
        messages.load(place)
        self._describe_place()

    def _describe_place(self) -> None:
        messages = self.query_one(MessageList)
        order = "" if messages.order is read.SortOrder.DATE else f", by {messages.order.value}"
        if self.current_place == self.unified_inbox and self.unified_inbox:
            self.sub_title = f"Inbox (all accounts) — {len(messages.ids)} messages{order}"
            return
        info = read.folder(self.conn, self.current_folder_id) if self.current_folder_id else None
        if info is not None:
            self.sub_title = sanitize_line(f"{info.account}/{info.display_name}") + (
                f" — {info.total} messages, {info.unread} unread{order}"
            )

    def action_sort(self) -> None:
        """Cycle the list's order: date, sender, subject, size."""
        orders = list(read.SortOrder)
        messages = self.query_one(MessageList)
        following = orders[(orders.index(messages.order) + 1) % len(orders)]
        if self.current_place is not None:
            messages.load(self.current_place, following)
        else:
            messages.order = following
        self._describe_place()

    @on(MessageList.Highlighted)
    def _message_highlighted(self, event: MessageList.Highlighted) -> None:
        # Holding j/k must not parse every message it passes: show the one the cursor rests on.
        if self._show_timer is not None:
            self._show_timer.stop()
        self._show_timer = self.set_timer(SHOW_DELAY, lambda: self.show_message(event.message_id))

    @on(MessageList.Displaced)
    def _list_displaced(self, event: MessageList.Displaced) -> None:
        if self._show_timer is not None:
            self._show_timer.stop()
        self.query_one("#view-headers", Static).update("")
        self.query_one("#view-body", Static).update(Text(DISPLACED, style="italic"))
        self.notify(DISPLACED, severity="warning", markup=False)

    @on(MessageList.Selected)
    def _message_selected(self, event: MessageList.Selected) -> None:
        self.show_message(event.message_id)
        row = read.row(self.conn, event.message_id)
        if row is not None and SEEN not in row.flags:
            self._act(ops.OpKind.SEEN, row, undoable=False)
        self._show_view()
        self.query_one("#view", VerticalScroll).focus()

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

    def _act(
        self,
        kind: ops.OpKind,
        row: read.MessageRow,
        *,
        flag: str | None = None,
        to_folder_id: int | None = None,
        undoable: bool = True,
    ) -> bool:
        """Do an action on a message (see `store.undo.act`); `undoable`: `u` may take it back
        (opening a message marks it read, which `u` leaves alone). False when the store could
        not record it (a full disk): a notice says so and nothing changed."""
        try:
            done = store_undo.act(self.conn, kind, [row.id], flag=flag, to_folder_id=to_folder_id)
        except Exception as exc:
            if not self._not_saved(exc, _UNSAVED.get(kind, "The change")):
                raise
            return False
        if self._store_problem == UNSAVED_STATUS:  # there is room again
            self.show_store_problem("")
        if undoable:
            subject = sanitize_line(row.envelope.subject)[:60] or "(no subject)"
            if done is not None:
                self._last_done = (done, subject)
            else:
                what = "A delete for good" if kind is ops.OpKind.DELETE else "A copy"
                self._last_done = f"{what} cannot be undone."
        messages = self.query_one(MessageList)
        if kind is ops.OpKind.MOVE or kind is ops.OpKind.DELETE:
            if messages.place is not None:
                messages.reload()
            else:
                messages.remove_ids({row.id})
        else:
            messages.forget_rows()
        self._load_folders()
        if messages.place is not None:  # (a search's title stays)
            self._describe_place()  # the title's counts follow the user's own change at once
        self.post_message(IntentQueued(row.account_id))
        return True

    def _not_saved(self, exc: Exception, what: str) -> bool:
        """Say that `what` could not be saved when `exc` is a failure of the store (a full
        disk); False when it is not one."""
        problem = failure(exc, self.conn)
        if problem is None:
            return False
        if isinstance(problem, StoreFullError):
            why = "the disk is full; free some space and try again"
            if not self._store_problem:
                self.show_store_problem(UNSAVED_STATUS)
        else:
            why = str(problem)
        self.notify(f"{what} could not be saved: {why}.", severity="error", markup=False)
        return True

    def action_toggle_read(self) -> None:
        row = self._current_row()
        if row is not None:
            self._act(ops.OpKind.UNSEEN if SEEN in row.flags else ops.OpKind.SEEN, row)

    def action_toggle_flag(self) -> None:
        row = self._current_row()
        if row is not None:
            kind = ops.OpKind.UNFLAG if FLAGGED in row.flags else ops.OpKind.FLAG
            self._act(kind, row, flag=FLAGGED)

    def action_delete(self) -> None:
        """Move to the account's Trash; in the Trash (or with none), delete for good."""
        row = self._current_row()
        if row is None:
            return
        trash = next(
            (f for f in read.folders(self.conn, row.account_id) if f.role is FolderRole.TRASH),
            None,
        )
        if trash is not None and trash.id != row.folder_id:
            if self._act(ops.OpKind.MOVE, row, to_folder_id=trash.id):
                self.notify("Moved to Trash (u: undo).", markup=False)
            return
        # For good: nothing can bring it back, so ask first (No is the default).
        subject = sanitize_line(row.envelope.subject)[:60] or "(no subject)"
        reason = "It is in the Trash." if trash is not None else "This account has no Trash."

        def answered(yes: bool | None) -> None:
            exists = yes and read.row(self.conn, row.id) is not None
            if exists and self._act(ops.OpKind.DELETE, row):
                self.notify("Deleted for good.", markup=False)

        self.app.push_screen(
            Confirm(f"Delete “{subject}” for good? {reason} It cannot be undone.", default=False),
            answered,
        )

    def _expunge_key(self) -> str:
        return str(app_host(self.app).config.keys.get("expunge", "X"))

    def _folder_here(self) -> read.FolderInfo | None:
        """The folder the list shows, or in a unified inbox the highlighted message's."""
        place = self.current_place or ()
        if len(place) == 1:
            return read.folder(self.conn, place[0])
        row = self._current_row()
        return read.folder(self.conn, row.folder_id) if row is not None else None

    def action_expunge(self) -> None:
        """Remove from the server, after asking (No is the default), every message of this
        folder marked deleted: on a server without UIDPLUS that is the only way to remove what a
        delete or move left marked, and it takes what other mail programs marked too."""
        folder = self._folder_here()
        if folder is None:
            self.notify("Choose a folder first.", markup=False)
            return
        name = sanitize_line(folder.display_name)
        count = read.marked_deleted(self.conn, folder.account_id).get(folder.id, 0)
        if not count:
            self.notify(
                f"Nothing to expunge: no message in {name} is marked deleted on the server"
                " (as of the last sync).",
                markup=False,
            )
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                queued = ops.enqueue_folder_expunge(self.conn, folder.id)
            except Exception as exc:
                if not self._not_saved(exc, "The expunge"):
                    raise
                return
            if queued is None:
                return
            messages = self.query_one(MessageList)
            if messages.place is not None:
                messages.reload()
            self._load_folders()
            self.post_message(IntentQueued(folder.account_id))
            self.notify(f"{name} will be expunged on the server.", markup=False)

        plural = "s" if count != 1 else ""
        self.app.push_screen(
            Confirm(
                f"Expunge {name}? The server has no UIDPLUS, so this removes every message"
                f" marked deleted in the folder ({count} message{plural} at the last sync),"
                " also any that another mail program marked. It cannot be undone.",
                default=False,
            ),
            answered,
        )

    @on(DeletedLeft)
    def _deleted_left(self, message: DeletedLeft) -> None:
        folder = read.folder(self.conn, message.folder_id)
        if folder is None:
            return
        one = message.count == 1
        self.notify(
            f"{message.count} message{'' if one else 's'} in {sanitize_line(folder.display_name)}"
            f" {'stays' if one else 'stay'} on the server marked deleted: it has no UIDPLUS, so"
            f" only expunging the whole folder removes {'it' if one else 'them'} (and whatever"
            " other mail programs marked there). Press"
            f" {self._expunge_key()} in the folder to expunge it.",
            title=sanitize_line(message.account),
            markup=False,
        )

    def action_undo(self) -> None:
        """Undo the last delete, move, flag or read/unread (see `store.undo`)."""
        if self._last_done is None or isinstance(self._last_done, str):
            self.notify(self._last_done or "Nothing to undo.", markup=False)
            return
        done, subject = self._last_done
        try:
            result = store_undo.undo(self.conn, done, app_host(self.app).data_dir)
        except Exception as exc:
            if not self._not_saved(exc, "The undo"):
                raise
            return  # `u` may try again
        self._last_done = None
        if not result.message_ids:
            self.notify(
                f"Not undone: “{subject}” is no longer where the action left it.",
                severity="warning",
                markup=False,
            )
            return
        messages = self.query_one(MessageList)
        if messages.place is not None:
            messages.reload()
        else:
            self._run_search_again()
        messages.select_id(result.message_ids[0])
        self._load_folders()
        if messages.place is not None:
            self._describe_place()
        if not result.cancelled:
            self.post_message(IntentQueued(done.account_id))
        self.notify(f"Undone: “{subject}” {self._undone_text(done)}.", markup=False)

    def _undone_text(self, done: store_undo.Done) -> str:
        if done.kind is ops.OpKind.MOVE:
            folder = read.folder(self.conn, done.from_folder_id)
            return f"is back in {sanitize_line(folder.display_name) if folder else 'its folder'}"
        return {
            ops.OpKind.FLAG: "is not flagged",
            ops.OpKind.UNFLAG: "is flagged again",
            ops.OpKind.SEEN: "is unread again",
            ops.OpKind.UNSEEN: "is read again",
        }.get(done.kind, "is as it was")

    def action_transfer(self, move: bool) -> None:
        """Move or copy the message to a folder of its account, chosen from a list."""
        row = self._current_row()
        if row is None:
            return
        folders = [f for f in read.folders(self.conn, row.account_id) if f.id != row.folder_id]
        if not folders:
            self.notify("The account has no other folder.", severity="warning", markup=False)
            return
        verb = "Move" if move else "Copy"

        def chosen(folder_id: int | None) -> None:
            target = read.folder(self.conn, folder_id) if folder_id is not None else None
            if target is None or read.row(self.conn, row.id) is None:
                return
            self._act(ops.OpKind.MOVE if move else ops.OpKind.COPY, row, to_folder_id=target.id)
            done = "Moved" if move else "Copied"
            self.notify(f"{done} to {sanitize_line(target.display_name)}.", markup=False)

        subject = sanitize_line(row.envelope.subject)[:60] or "(no subject)"
        self.app.push_screen(FolderPicker(f"{verb} “{subject}” to:", folders), chosen)

    def action_search(self, all_mail: bool = False) -> None:
        """Open the search line under the list (enter searches, escape closes it): the folder
        shown (or the inboxes of the unified inbox), or with `all_mail` every folder."""
        if self.current_place is None:
            return
        info = read.folder(self.conn, self.current_folder_id) if self.current_folder_id else None
        self._search_everywhere = all_mail
        if all_mail:
            self._search_scope = "all mail"
        else:
            self._search_scope = (
                sanitize_line(f"{info.account}/{info.display_name}") if info else "all inboxes"
            )
        hint = '(words, "a phrase", from:, subject:, body:, word*)'
        label = Text(f"Search {self._search_scope}: ", style="bold")
        self.query_one("#search-label", Static).update(label)
        bar = self.query_one("#search-bar", Input)
        bar.placeholder = hint
        bar.value = ""
        self._show_search_bar(True)
        # Focused now, not after this message (Widget.focus defers it): the line must not be
        # painted while the keys the user types next would still go to the list.
        self.set_focus(bar)

    def _show_search_bar(self, shown: bool) -> None:
        self.query_one("#search-line").display = shown
        self.query_one(StatusBar).display = not shown

    @on(Input.Submitted, "#search-bar")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        self._show_search_bar(False)
        messages = self.query_one(MessageList)
        messages.focus()
        if not query or self.current_place is None:
            return
        scope = None if self._search_everywhere else list(self.current_place)
        ids = store_search.search(self.conn, query, folder_ids=scope)
        messages.show_ids(ids)
        self._search = (query, scope)
        self._describe_search(query, len(ids))

    def _run_search_again(self, changed: Collection[int] | None = None) -> None:
        """The search shown, run again on the store as it is now (the cursor stays put);
        `changed`: the only messages changed since it ran (None: any)."""
        if self._search is None:
            return
        query, scope = self._search
        ids = store_search.search(self.conn, query, folder_ids=scope)
        self.query_one(MessageList).update_from_store(ids, changed=changed)
        self._describe_search(query, len(ids))

    def _describe_search(self, query: str, found: int) -> None:
        self.sub_title = (
            f"{self._search_scope}: {found} found for {sanitize_line(query)!r} (escape: back)"
        )

    def action_back(self) -> None:
        messages = self.query_one(MessageList)
        if self.query_one("#search-line").display:
            self._show_search_bar(False)  # close the search line, nothing searched
        elif messages.place is None and self.current_place is not None:
            self.show_place(self.current_place)  # end the search
        messages.focus()

    # --- panes: shown or hidden, wider or narrower, for the running app

    def _start_panes(self) -> None:
        ui = app_host(self.app).config.ui
        self.panes.folder_width = ui.folder_width
        self.panes.list_percent = ui.list_percent
        self._apply_panes()

    def _apply_panes(self) -> None:
        self.panes.apply(
            self.query_one("#folders"), self.query_one(MessageList), self.query_one("#view")
        )
        focused = self.focused
        if focused is not None and not focused.display:
            self.query_one(MessageList).focus()  # the pane with the focus was hidden

    def _show_view(self) -> None:
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
        folders = self.query_one("#folders")
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

    # --- writing: the composer gets a Sender from the app (which knows the config)

    def _sender_for(self, account_id: int | None) -> Sender | None:
        sender = app_host(self.app).sender_for(account_id)
        if sender is None:
            self.notify(
                "No account to send from: add an account with an [smtp] server to the config.",
                severity="error",
                markup=False,
            )
        return sender

    def _open_composer(self, sender: Sender, draft: Draft | None = None) -> None:
        self.app.push_screen(ComposerScreen(sender, draft))

    def compose_prefilled(self, fields: MailtoFields) -> None:
        """Open the composer with a mailto: link's fields, from the default account; nothing
        is sent until the user sends it."""
        sender = self._sender_for(None)
        if sender is None:
            return
        draft = Draft(
            from_=sender.address,
            to=fields.to,
            cc=fields.cc,
            bcc=fields.bcc,
            subject=fields.subject,
            body=fields.body,
            in_reply_to=fields.in_reply_to,
            references=(fields.in_reply_to,) if fields.in_reply_to else (),
        )
        self._open_composer(sender, draft)
        if fields.ignored:
            left_out = ", ".join(sanitize_line(name) for name in fields.ignored)
            self.notify(f"Left out of the link: {left_out}.", markup=False)

    def action_compose(self) -> None:
        folder = read.folder(self.conn, self.current_folder_id) if self.current_folder_id else None
        sender = self._sender_for(folder.account_id if folder else None)
        if sender is not None:
            self._open_composer(sender)

    def _text_of(self, row: read.MessageRow) -> bytes | None:
        """The message's bytes as far as they are local (its text is all a reply needs)."""
        raw = read.body(self.conn, row.id)
        if raw is None:
            partial = read.partial_body(self.conn, row.id)
            raw = partial.raw if partial is not None else None
        return raw

    def _with_text(self, row: read.MessageRow, then: Callable[[bytes], None]) -> None:
        """Call `then` with the message's text: at once when it is local, else once the app has
        downloaded it (the user pressed the key on this message; offline, say why not)."""
        raw = self._text_of(row)
        if raw is not None:
            then(raw)
            return
        closed = self._network_closed("downloaded")
        if closed is not None:
            self._say_not_here_yet()
            return
        self._waiting_for_text[row.id] = then
        self.notify("Downloading the message first; the composer opens when it is here.")
        self.post_message(BodyWanted(row.id))

    def action_reply(self, reply_all: bool) -> None:
        row = self._current_row()
        sender = self._sender_for(row.account_id) if row is not None else None
        if row is None or sender is None:
            return

        def reply(raw: bytes) -> None:
            draft = reply_draft(
                parse_message(raw), sender=sender.address, own=sender.own_addresses,
                reply_all=reply_all,
            )  # fmt: skip
            self._open_composer(sender, replace(draft, original=(row.id, ANSWERED)))

        self._with_text(row, reply)

    def action_forward(self) -> None:
        """Forward inline: the original's text quoted, its attachments carried along (when only
        its text is local, the composer opens once the whole message has arrived)."""
        row = self._current_row()
        sender = self._sender_for(row.account_id) if row is not None else None
        if row is None or sender is None:
            return
        text = self._text_of(row)
        if text is not None and not self._attachments_of(row):
            draft = forward_draft(parse_message(text), sender=sender.address)
            self._open_composer(sender, replace(draft, original=(row.id, FORWARDED)))
            return

        def forward(raw: bytes) -> None:
            draft = forward_draft(parse_message(raw), sender=sender.address, stored_id=row.id)
            draft = replace(draft, original=(row.id, FORWARDED))
            self._open_composer(sender, draft)

        self._with_whole_body(row, forward)

    def action_save_attachments(self) -> None:
        """Ask for a directory and save the message's attachments there (downloading the
        whole message first when only its text is local)."""
        row = self._current_row()
        listed = self._attachments_of(row) if row is not None else None
        if row is None or listed is None:
            return
        if not listed:
            self.notify("This message has no attachments.", markup=False)
            return
        downloads = Path("~/Downloads").expanduser()
        default = "~/Downloads" if downloads.is_dir() else "~"

        def save(directory: str | None) -> None:
            if directory:
                self._with_whole_body(row, lambda raw: save_into(raw, directory))

        def save_into(raw: bytes, directory: str) -> None:
            path = Path(directory).expanduser()
            if not os.path.lexists(path):
                shown = sanitize_line(str(path))
                self.app.push_screen(
                    Confirm(f"The directory {shown} does not exist. Create it and save there?"),
                    lambda yes: create_and_save(raw, directory) if yes else not_created(path),
                )
                return
            try:
                plan = plan_save(raw, path)
            except OSError as exc:
                self.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
                return
            if not plan.taken:
                write(raw, directory, replace=False)
                return
            taken = ", ".join(sanitize_line(name) for name in plan.taken)
            question = (
                f"Already in {sanitize_line(str(plan.directory))}: {taken}. Replace? "
                "(No: save under new names, the old files stay as they are.)"
            )
            # No is focused: enter keeps the old files (the README's promise).
            self.app.push_screen(
                Confirm(question, default=False),
                lambda yes: write(raw, directory, replace=bool(yes)),
            )

        def not_created(path: Path) -> None:
            shown = sanitize_line(str(path))
            self.notify(f"Not saved: the directory {shown} does not exist.", markup=False)

        def create_and_save(raw: bytes, directory: str) -> None:
            path = Path(directory).expanduser()
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
                return
            save_into(raw, directory)

        def write(raw: bytes, directory: str, *, replace: bool) -> None:
            path = Path(directory).expanduser()
            try:
                written = save_attachments(raw, path, replace=replace)
            except OSError as exc:
                self.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
                return
            names = ", ".join(sanitize_line(p.name) for p in written)
            self.notify(f"Saved to {sanitize_line(str(Path(directory).expanduser()))}: {names}",
                        markup=False)  # fmt: skip

        count = len(listed)
        self.app.push_screen(
            LinePrompt(f"Save {count} attachment(s) into the directory", value=default), save
        )

    # --- attachments of a partial message (its text is local, its attachments are not)

    def _attachments_of(self, row: read.MessageRow) -> list[ListedAttachment] | None:
        """The message's attachments (local or not); None, with a notice, when its body has
        not arrived yet."""
        raw = read.body(self.conn, row.id)
        if raw is not None:
            return listed_attachments(raw)
        partial = read.partial_body(self.conn, row.id)
        if partial is not None:
            return listed_attachments(partial.raw, partial.omitted)
        self._say_not_here_yet()
        return None

    def _network_closed(self, doing: str) -> str | None:
        """The app's network gate (None: open); offline, why not, in words."""
        return app_host(self.app).network_closed(doing)

    def _say_not_here_yet(self) -> None:
        """A message's text is not local yet: it is on its way, or (offline) it cannot come."""
        closed = self._network_closed("downloaded")
        if closed is not None:
            self.notify(f"{closed} The message is not on this computer yet.", markup=False)
        else:
            self.notify("The message is still being downloaded; try again in a moment.")

    def _with_whole_body(self, row: read.MessageRow, then: Callable[[bytes], None]) -> None:
        """Call `then` with the message's exact bytes: at once when they are local, else
        once the app has downloaded them (the status bar says so meanwhile)."""
        raw = read.body(self.conn, row.id)
        if raw is not None:
            then(raw)
            return
        closed = self._network_closed("downloaded")
        if closed is not None:  # offline: say so, rather than wait for a download that never comes
            self.notify(f"{closed} The message is not whole on this computer yet.", markup=False)
            return
        self._waiting_for_body[row.id] = then
        folder = read.folder(self.conn, row.folder_id)
        if folder is not None:
            bar = self.query_one(StatusBar)
            self._status_before[row.id] = (folder.account, bar.entry(folder.account))
            bar.set_account(
                folder.account, AccountState.BUSY, "downloading the attachments of a message…"
            )
        self.post_message(BodyWanted(row.id, full=True))

    def _run_waiting_actions(self) -> None:
        """Carry out the actions whose message has arrived (its text, or whole)."""
        for message_id in list(self._waiting_for_text):
            row = read.row(self.conn, message_id)
            raw = self._text_of(row) if row is not None else None
            if row is None or raw is not None:
                then = self._waiting_for_text.pop(message_id)
                if row is None:
                    self.notify(MESSAGE_GONE, markup=False)
                elif raw is not None and self.app.screen is self:
                    then(raw)  # only over the main screen: never over what the user opened since
        for message_id in list(self._waiting_for_body):
            if read.row(self.conn, message_id) is None:
                self._waited_in_vain(message_id, MESSAGE_GONE)
                continue
            raw = read.body(self.conn, message_id)
            if raw is None:
                continue
            then = self._waiting_for_body.pop(message_id)
            account, before = self._status_before.pop(message_id, ("", None))
            if account:
                state, text = before or (AccountState.IDLE, "attachments downloaded")
                self.query_one(StatusBar).set_account(account, state, text)
            then(raw)

    def action_open_attachment(self) -> None:
        """Open an attachment with the system's opener (asking which one when there are
        several); it is saved into a private temporary directory first."""
        row = self._current_row()
        listed = self._attachments_of(row) if row is not None else None
        if row is None or listed is None:
            return
        if not listed:
            self.notify("This message has no attachments.", markup=False)
            return

        def open_index(raw: bytes, index: int) -> None:
            try:
                path = save_for_opening(raw, index)
            except (LookupError, OSError) as exc:
                self.notify(f"Not opened: {exc}", severity="error", markup=False)
                return
            self.post_message(OpenWanted(path))

        if len(listed) == 1:
            self._with_whole_body(row, lambda raw: open_index(raw, 0))
            return
        choices = "  ".join(
            f"{number}) {sanitize_line(item.info.filename) or item.info.content_type}"
            for number, item in enumerate(listed, 1)
        )

        def chosen(answer: str | None) -> None:
            if not answer:
                return
            if not answer.isdigit() or not 1 <= int(answer) <= len(listed):
                self.notify(f"There is no attachment {answer[:20]!r}.", markup=False)
                return
            index = int(answer) - 1
            self._with_whole_body(row, lambda raw: open_index(raw, index))

        self.app.push_screen(LinePrompt(f"Open which attachment? {choices}", value="1"), chosen)

    def action_health(self) -> None:
        self.app.push_screen(HealthScreen(self.conn))

    def action_outbox(self) -> None:
        self.app.push_screen(OutboxScreen(self.conn))

    # --- drafts: the local drafts view, forward as attachment, editing a server draft

    def action_drafts(self) -> None:
        self.app.push_screen(DraftsScreen(self.conn))

    def action_forward_attached(self) -> None:
        """Forward the message whole, as an attachment (its bytes as they are)."""
        row = self._current_row()
        sender = self._sender_for(row.account_id) if row is not None else None
        if row is None or sender is None:
            return
        draft = forward_attached_draft(row.envelope, row.id, sender=sender.address)
        draft = replace(draft, original=(row.id, FORWARDED))
        # The composer attaches the exact bytes: when only the text is local, it opens once the
        # whole message has arrived.
        self._with_whole_body(row, lambda _raw: self._open_composer(sender, draft))

    def action_edit_draft(self) -> None:
        """Edit a message of a Drafts folder (saved by any client): it becomes a local draft
        that replaces the server copy when saved."""
        row = self._current_row()
        if row is None:
            return
        folder = read.folder(self.conn, row.folder_id)
        if folder is None or folder.role is not FolderRole.DRAFTS:
            self.notify("Only messages in a Drafts folder can be edited.", markup=False)
            return
        sender = self._sender_for(row.account_id)
        if sender is None:
            return
        mine = (
            store_drafts.find_by_message_id(self.conn, row.account_id, row.envelope.message_id)
            if row.envelope.message_id
            else None
        )
        if mine is not None:  # a copy of a local draft: open that one
            self.app.push_screen(
                ComposerScreen(
                    sender,
                    replace(mine.draft, from_=sender.address),
                    draft_id=mine.id,
                    message_id=mine.message_id,
                    account_id=mine.account_id,
                )
            )
            return
        self._with_whole_body(row, lambda raw: self._edit_server_draft(row, folder, sender, raw))

    def _edit_server_draft(
        self, row: read.MessageRow, folder: read.FolderInfo, sender: Sender, raw: bytes
    ) -> None:
        """Open a server draft's bytes in the composer, to replace that copy when saved."""
        parsed = parse_message(raw)
        if parsed.attachments:
            self.notify(
                "Its attachments are not carried over: attach them again (ctrl+t).",
                severity="warning",
                markup=False,
            )
        copy = None
        if row.uid is not None:
            copy = ServerCopy(folder.id, folder.uidvalidity, row.uid)
        self.app.push_screen(
            ComposerScreen(
                sender,
                draft_from_message(parsed, sender=sender.address),
                message_id=row.envelope.message_id,
                account_id=row.account_id,
                server_copy=copy,
            )
        )

    def action_help(self) -> None:
        keymap = app_host(self.app).config.keys
        rows = binding_rows(self.BINDINGS, MessageList.BINDINGS, self.app.BINDINGS, keymap=keymap)
        self.app.push_screen(HelpScreen(rows))

    def show_message(self, message_id: int) -> None:
        """Show headers and the rendered, sanitized body of a message."""
        shown_before, self._shown_id = self._shown_id, message_id
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
        if raw is None and partial is None:
            waiting = "Downloading the message…"
            if app_host(self.app).offline:
                waiting = "Not downloaded yet: offline, the body comes when tuimail runs online."
            body.update(Text(waiting, style="italic"))
            self.post_message(BodyWanted(message_id))
        else:
            variables = self.app.theme_variables
            colours = [variables[k] for k in ("quote-1", "quote-2", "quote-3") if k in variables]
            if partial is not None:  # the text only: attachments listed as not downloaded
                rendered = render_partial(partial.raw, partial.omitted)
            else:
                assert raw is not None
                rendered = render_message(parse_message(raw), raw)
            body.update(body_text(rendered, colours))
        if message_id != shown_before:  # the same one again (a store update): stay put
            self.query_one("#view", VerticalScroll).scroll_home(animate=False)

    def _waited_in_vain(self, message_id: int, words: str) -> None:
        """An action waiting for a message's whole body gives up, quietly: the message is gone.
        The status bar says again what it said before the download."""
        self._waiting_for_body.pop(message_id, None)
        account, before = self._status_before.pop(message_id, ("", None))
        if account:
            state, text = before or (AccountState.IDLE, "")
            self.query_one(StatusBar).set_account(account, state, text)
        self.notify(words, markup=False)

    @on(BodyFailed)
    def _body_failed(self, message: BodyFailed) -> None:
        """The shown message's body could not be downloaded: say so where it would be (and a
        reply waiting for it is not opened). A message that is gone (moved or deleted
        elsewhere meanwhile) is no error: the view and a plain notice say so."""
        message_id = message.message_id
        stored = read.row(self.conn, message_id) is not None
        gone = message.gone or not stored
        words = MESSAGE_GONE if not stored else f"Not downloaded: {message.reason}."
        if self._waiting_for_text.pop(message_id, None) is not None:
            if gone:
                self.notify(words, markup=False)
            else:
                self.notify(
                    f"Could not download the message to reply to: {message.reason}",
                    severity="error", markup=False,
                )  # fmt: skip
        if gone and (message_id in self._waiting_for_body or message_id in self._status_before):
            self._waited_in_vain(message_id, words)
        if self._shown_id != message_id:
            return
        if not stored:
            messages = self.query_one(MessageList)
            if not (messages.displaced and messages.ids):  # else the list's words stand
                self.query_one("#view-headers", Static).update("")
                self.query_one("#view-body", Static).update(Text(MESSAGE_GONE, style="italic"))
            return
        if read.body(self.conn, message_id) is not None:
            return
        if read.partial_body(self.conn, message_id) is not None:
            return
        if gone:
            self.query_one("#view-body", Static).update(Text(words, style="italic"))
            return
        text = Text(f"Could not download the message: {message.reason}\n\n", style="italic")
        text.append("It is tried again when you open the message again.")
        self.query_one("#view-body", Static).update(text)
