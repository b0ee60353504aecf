"""The folder pane: every account's folders as a tree, the unified inbox, the local Drafts and
the Outbox, with their unread and waiting counts.

It reads the folders from the store when asked (`load`) and tells the screen what the user
chose with its own messages: a place to show (`PlaceHighlighted`), a folder entered
(`FolderEntered`), or the Drafts or the Outbox opened (`DraftsChosen`, `OutboxChosen`).
"""

from __future__ import annotations

import sqlite3
from itertools import groupby

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tuimail.core.model import FolderRole
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts as store_drafts
from tuimail.store import outbox, read
from tuimail.ui.folder_tree import folder_tree

UNIFIED = "unified"  # option id of the unified inbox
OUTBOX = "outbox"  # option id of the outbox entry
DRAFTS = "drafts"  # option id of the local drafts entry
WAITING_STATES = (
    outbox.OutboxState.QUEUED,
    outbox.OutboxState.SENDING,
    outbox.OutboxState.FAILED,
    outbox.OutboxState.UNKNOWN,
)


class FolderPane(OptionList):
    """The folders on the left of the main screen (id "folders" in tuimail.tcss)."""

    # Folder actions, while the pane has the focus (the screen does them: FolderActionWanted).
    BINDINGS = [
        Binding("ctrl+n", "create_folder", "New folder", show=False, id="folder-create"),
        Binding("E", "rename_folder", "Rename the folder", show=False, id="folder-rename"),
        Binding("D", "delete_folder", "Delete the folder", show=False, id="folder-delete"),
        Binding("S", "subscribe", "Subscribe / unsubscribe", show=False, id="folder-subscribe"),
        Binding(
            "T", "subscriptions", "Show the subscriptions", show=False, id="folder-subscriptions"
        ),
    ]

    class PlaceHighlighted(Message):
        """The highlight moved to a place: one folder, or every inbox (the unified inbox)."""

        def __init__(self, place: tuple[int, ...]) -> None:
            super().__init__()
            self.place = place

    class FolderEntered(Message):
        """Enter on a folder (or the unified inbox): its messages are wanted."""

    class DraftsChosen(Message):
        """Enter on the local Drafts entry."""

    class OutboxChosen(Message):
        """Enter on the Outbox entry."""

    class FolderActionWanted(Message):
        """A folder action's key: "create", "rename", "delete" or "subscribe"
        (screens/folder_actions.py)."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        subscribed_only: frozenset[str] = frozenset(),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.conn = conn
        # Accounts that show only their subscribed folders (imap.subscribed_only); the
        # subscriptions view (T) shows every folder, the unsubscribed ones dim.
        self.subscribed_only = subscribed_only
        self.showing_subscriptions = False
        self._place: tuple[int, ...] | None = None  # what the last load kept highlighted
        self.folder_ids: list[int] = []  # every folder, in the store's order
        # Every inbox when there is more than one (the unified inbox's place), else ().
        self.unified_inbox: tuple[int, ...] = ()
        self.outbox_waiting = 0  # messages waiting to leave, as of the last load
        self._entries: list[tuple[str | None, Text]] = []  # the entries shown

    def action_create_folder(self) -> None:
        """Ask for a name and create a folder (in the highlighted folder's account)."""
        self.post_message(self.FolderActionWanted("create"))

    def action_rename_folder(self) -> None:
        """Ask for the highlighted folder's new name."""
        self.post_message(self.FolderActionWanted("rename"))

    def action_delete_folder(self) -> None:
        """Delete the highlighted folder, after asking."""
        self.post_message(self.FolderActionWanted("delete"))

    def action_subscribe(self) -> None:
        """Subscribe to the highlighted folder, or unsubscribe from it."""
        self.post_message(self.FolderActionWanted("subscribe"))

    def action_subscriptions(self) -> None:
        """Show every folder with the unsubscribed ones dim, or go back to the usual list."""
        self.showing_subscriptions = not self.showing_subscriptions
        self.load(self._place)
        if self.showing_subscriptions:
            text = (
                "Every folder is shown: ● subscribed, ○ not subscribed. S subscribes to the"
                " highlighted folder or unsubscribes from it; T again goes back."
            )
        else:
            text = "The folder list is back to the usual one."
        self.app.notify(text, markup=False)

    def hides(self, info: read.FolderInfo) -> bool:
        """Whether the list leaves the folder out: in the usual list, an unsubscribed folder
        of an account that shows only subscribed ones (never the inbox or a special folder).
        The move and copy pickers leave out the same folders."""
        return (
            not self.showing_subscriptions
            and info.account in self.subscribed_only
            and info.subscribed is False
            and info.role is FolderRole.NONE
            and info.name.upper() != "INBOX"
        )

    def load(self, place: tuple[int, ...] | None) -> list[read.FolderInfo]:
        """(Re)build the folder list from the store, keeping the highlight on `place` (the
        place shown; None: the first entry that is one).

        With more than one inbox, a unified inbox comes first; the outbox comes last. Only what
        changed is redrawn: the same entries with other counts get their new prompts, and
        nothing is touched when nothing changed (a sync commits many batches).
        """
        self._place = place
        infos = [info for info in read.folders(self.conn) if not self.hides(info)]
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
            if place in (None, self.unified_inbox):
                highlight = 0
        for account, of_account in groupby(infos, key=lambda info: info.account):
            heading = Text(sanitize_line(account), style="bold")
            if self.showing_subscriptions:
                heading.append(" · subscriptions", style="dim")
            entries.append((None, heading))
            # A tree: the server's personal namespace prefix left out, a level per delimiter.
            for entry in folder_tree(list(of_account)):
                indent = "  " * (entry.depth + 1)
                info = entry.folder
                if info is None:  # a level that is not a folder itself
                    node = Text(indent + sanitize_line(entry.label), style="dim")
                    entries.append((None, node))
                    continue
                prompt = Text(indent)
                if self.showing_subscriptions:
                    # A mark beside the colour: dim alone is faint in some themes.
                    off = info.subscribed is False
                    prompt.append("○ " if off else "● ", style="dim" if off else "")
                    prompt.append(sanitize_line(entry.label), style="dim" if off else "")
                else:
                    prompt.append(sanitize_line(entry.label))
                if info.unread:
                    prompt.append(f" {info.unread}", style="bold")
                entries.append((str(info.id), prompt))
                if highlight is None and place in (None, (info.id,)):
                    highlight = len(entries) - 1
        self.outbox_waiting = waiting = len(outbox.items(self.conn, states=WAITING_STATES))
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
        self._show_entries(entries)
        if highlight is not None and self.highlighted != highlight:
            with self.prevent(OptionList.OptionHighlighted):
                self.highlighted = highlight
        return infos

    def _show_entries(self, entries: list[tuple[str | None, Text]]) -> None:
        """Put `entries` into the list: new prompts where only prompts differ from what is
        shown, the whole list again when the entries themselves differ."""
        shown = self._entries
        self._entries = entries
        if [key for key, _ in shown] == [key for key, _ in entries]:
            for index, ((_, before), (_, prompt)) in enumerate(zip(shown, entries, strict=True)):
                if prompt != before:
                    self.replace_option_prompt_at_index(index, prompt)
            return
        self.clear_options()
        self.add_options(Option(prompt, id=key, disabled=key is None) for key, prompt in entries)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        option = event.option.id
        if option == UNIFIED:
            self.post_message(self.PlaceHighlighted(self.unified_inbox))
        elif option is not None and option not in (OUTBOX, DRAFTS):
            self.post_message(self.PlaceHighlighted((int(option),)))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == OUTBOX:
            self.post_message(self.OutboxChosen())
        elif event.option.id == DRAFTS:
            self.post_message(self.DraftsChosen())
        else:
            self.post_message(self.FolderEntered())
