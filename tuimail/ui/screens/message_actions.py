"""The main screen's actions that change messages: read / unread, flag, delete (to the Trash or,
after asking, for good), move or copy to a folder, undo the last of them, and expunge a folder
on a server without UIDPLUS.

Each is an intent written to the store (tuimail.store.undo, tuimail.store.ops) that the app
replays to the server (`IntentQueued`); the screen's panes follow the change at once
(`ActionsHost`).
When the store cannot record it (a full disk), a notice says so and the status bar shows it
until a later change is saved.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from typing import Protocol

from textual.screen import Screen

from tuimail.core.model import FLAGGED, SEEN, FolderRole
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, read
from tuimail.store import undo as store_undo
from tuimail.store.db import StoreFullError, failure
from tuimail.ui.host import app_host
from tuimail.ui.messages import DeletedLeft, IntentQueued
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.prompt import Confirm

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


class ActionsHost(Protocol):
    """What the actions ask of the main screen: its panes follow a change, and the status bar
    shows a problem of the store."""

    store_problem: str  # what the status bar shows first ("" for none)

    def show_store_problem(self, text: str) -> None:
        """Show `text` first in the status bar ("" clears it)."""
        ...

    def follow_act(self, kind: ops.OpKind, message_ids: Collection[int]) -> None:
        """The list, the folder pane and the title after `kind` was done to messages."""
        ...

    def follow_expunge(self) -> None:
        """The list and the folder pane after a folder's expunge was queued."""
        ...

    def follow_undo(self, message_id: int) -> None:
        """The list (its cursor on `message_id`), the folder pane and the title after an undo."""
        ...

    def move_targets(self, account_id: int, leave_out: Collection[int]) -> list[read.FolderInfo]:
        """The folders of the account a move or a copy may go to: those the folder pane
        shows, less `leave_out`."""
        ...


def _subject(row: read.MessageRow) -> str:
    return sanitize_line(row.envelope.subject)[:60] or "(no subject)"


class MessageActions:
    """The actions on messages of `screen`, whose panes follow through `host` (the same screen)."""

    def __init__(self, screen: Screen[None], host: ActionsHost, conn: sqlite3.Connection) -> None:
        self.screen = screen
        self.host = host
        self.conn = conn
        # The last action `u` can undo (one entry per source folder of its messages), with
        # what it was done to for the notice: the subject of its message, or "3 messages" (a
        # text when the last action cannot be undone: a delete for good, a copy).
        self._last_done: tuple[tuple[store_undo.Done, ...], str] | str | None = None

    def act(
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
        return self.act_on(
            kind,
            [row.id],
            f"“{_subject(row)}”",
            flag=flag,
            to_folder_id=to_folder_id,
            undoable=undoable,
        )

    def act_on(
        self,
        kind: ops.OpKind,
        message_ids: Sequence[int],
        label: str,
        *,
        flag: str | None = None,
        to_folder_id: int | None = None,
        undoable: bool = True,
        with_last: bool = False,
    ) -> bool:
        """Do an action on messages, of any folders and accounts, in one transaction (see
        `store.undo.act_all`); `label` names them in the undo's notice ("“Lunch”", "3
        messages"); `with_last`: `u` undoes it together with the action before (the same
        key's work in another account). Messages gone from the store meanwhile are left out.
        False when the store could not record it (a full disk): a notice says so and nothing
        changed."""
        ids = list(dict.fromkeys(message_ids))
        accounts = {row.account_id for row in read.rows(self.conn, ids)}
        if not accounts:
            return False
        try:
            done = store_undo.act_all(self.conn, kind, ids, flag=flag, to_folder_id=to_folder_id)
        except Exception as exc:
            if not self.not_saved(exc, _UNSAVED.get(kind, "The change")):
                raise
            return False
        if self.host.store_problem == UNSAVED_STATUS:  # there is room again
            self.host.show_store_problem("")
        if undoable:
            if with_last and isinstance(self._last_done, tuple):
                self._last_done = (self._last_done[0] + tuple(done), label)
            elif done:
                self._last_done = (tuple(done), label)
            else:
                what = "A delete for good" if kind is ops.OpKind.DELETE else "A copy"
                self._last_done = f"{what} cannot be undone."
        self.host.follow_act(kind, ids)
        for account_id in sorted(accounts):
            self.screen.post_message(IntentQueued(account_id))
        return True

    def not_saved(self, exc: Exception, what: str) -> bool:
        """Say that `what` could not be saved when `exc` is a failure of the store (a full
        disk); False when it is not one."""
        problem = failure(exc, self.conn)
        if problem is None:
            return False
        if isinstance(problem, StoreFullError):
            why = "the disk is full; free some space and try again"
            if not self.host.store_problem:
                self.host.show_store_problem(UNSAVED_STATUS)
        else:
            why = str(problem)
        self.screen.notify(f"{what} could not be saved: {why}.", severity="error", markup=False)
        return True

    def toggle_read(self, row: read.MessageRow) -> None:
        """Mark the message read, or unread when it is read."""
        self.act(ops.OpKind.UNSEEN if SEEN in row.flags else ops.OpKind.SEEN, row)

    def toggle_flag(self, row: read.MessageRow) -> None:
        """Flag the message, or remove its flag."""
        kind = ops.OpKind.UNFLAG if FLAGGED in row.flags else ops.OpKind.FLAG
        self.act(kind, row, flag=FLAGGED)

    def delete(self, row: read.MessageRow) -> None:
        """Move to the account's Trash; in the Trash (or with none), delete for good."""
        trash = next(
            (f for f in read.folders(self.conn, row.account_id) if f.role is FolderRole.TRASH),
            None,
        )
        if trash is not None and trash.id != row.folder_id:
            if self.act(ops.OpKind.MOVE, row, to_folder_id=trash.id):
                self.screen.notify("Moved to Trash (u: undo).", markup=False)
            return
        # For good: nothing can bring it back, so ask first (No is the default).
        subject = _subject(row)
        reason = "It is in the Trash." if trash is not None else "This account has no Trash."

        def answered(yes: bool | None) -> None:
            exists = yes and read.row(self.conn, row.id) is not None
            if exists and self.act(ops.OpKind.DELETE, row):
                self.screen.notify("Deleted for good.", markup=False)

        self.screen.app.push_screen(
            Confirm(f"Delete “{subject}” for good? {reason} It cannot be undone.", default=False),
            answered,
        )

    def transfer(self, row: read.MessageRow, move: bool) -> None:
        """Move or copy the message to a folder of its account, chosen from a list."""
        folders = self.host.move_targets(row.account_id, {row.folder_id})
        if not folders:
            self.screen.notify("The account has no other folder.", severity="warning", markup=False)
            return
        verb = "Move" if move else "Copy"

        def chosen(folder_id: int | None) -> None:
            target = read.folder(self.conn, folder_id) if folder_id is not None else None
            if target is None or read.row(self.conn, row.id) is None:
                return
            self.act(ops.OpKind.MOVE if move else ops.OpKind.COPY, row, to_folder_id=target.id)
            done = "Moved" if move else "Copied"
            self.screen.notify(f"{done} to {sanitize_line(target.display_name)}.", markup=False)

        self.screen.app.push_screen(FolderPicker(f"{verb} “{_subject(row)}” to:", folders), chosen)

    def undo(self) -> None:
        """Undo the last delete, move, flag or read/unread (see `store.undo`)."""
        if self._last_done is None or isinstance(self._last_done, str):
            self.screen.notify(self._last_done or "Nothing to undo.", markup=False)
            return
        dones, label = self._last_done
        undone: list[tuple[store_undo.Done, store_undo.Undone]] = []
        for done in dones:
            try:
                undone.append(
                    (done, store_undo.undo(self.conn, done, app_host(self.screen.app).data_dir))
                )
            except Exception as exc:
                if not self.not_saved(exc, "The undo"):
                    raise
                self._last_done = (dones[len(undone) :], label)  # `u` may try the rest again
                break
        else:
            self._last_done = None
        ids = [i for _done, result in undone for i in result.message_ids]
        if not undone:
            return
        if not ids:
            self.screen.notify(
                f"Not undone: {label} is no longer where the action left it."
                if len(dones[0].message_ids) == 1
                else f"Not undone: {label} are no longer where the action left them.",
                severity="warning",
                markup=False,
            )
            return
        self.host.follow_undo(ids[0])
        for done, result in undone:
            if not result.cancelled and result.message_ids:
                self.screen.post_message(IntentQueued(done.account_id))
        sources = {done.from_folder_id for done, _result in undone}
        text = self._undone_text(undone[0][0], len(ids) > 1, len(sources) == 1)
        self.screen.notify(f"Undone: {label} {text}.", markup=False)

    def _undone_text(self, done: store_undo.Done, many: bool, one_folder: bool) -> str:
        verb = "are" if many else "is"
        if done.kind is ops.OpKind.MOVE:
            folder = read.folder(self.conn, done.from_folder_id) if one_folder else None
            if folder is not None:
                return f"{verb} back in {sanitize_line(folder.display_name)}"
            return "are back where they were" if many else "is back in its folder"
        return {
            ops.OpKind.FLAG: f"{verb} not flagged",
            ops.OpKind.UNFLAG: f"{verb} flagged again",
            ops.OpKind.SEEN: f"{verb} unread again",
            ops.OpKind.UNSEEN: f"{verb} read again",
        }.get(done.kind, f"{verb} as it was" if not many else "are as they were")

    def expunge(self, folder: read.FolderInfo) -> None:
        """Remove from the server, after asking (No is the default), every message of `folder`
        marked deleted: on a server without UIDPLUS that is the only way to remove what a
        delete or move left marked, and it takes what other mail programs marked too."""
        name = sanitize_line(folder.display_name)
        count = read.marked_deleted(self.conn, folder.account_id).get(folder.id, 0)
        if not count:
            self.screen.notify(
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
                if not self.not_saved(exc, "The expunge"):
                    raise
                return
            if queued is None:
                return
            self.host.follow_expunge()
            self.screen.post_message(IntentQueued(folder.account_id))
            self.screen.notify(f"{name} will be expunged on the server.", markup=False)

        plural = "s" if count != 1 else ""
        self.screen.app.push_screen(
            Confirm(
                f"Expunge {name}? The server has no UIDPLUS, so this removes every message"
                f" marked deleted in the folder ({count} message{plural} at the last sync),"
                " also any that another mail program marked. It cannot be undone.",
                default=False,
            ),
            answered,
        )

    def deleted_left(self, message: DeletedLeft) -> None:
        """Tell the user that a replay left messages marked deleted, and how to expunge."""
        folder = read.folder(self.conn, message.folder_id)
        if folder is None:
            return
        one = message.count == 1
        key = str(app_host(self.screen.app).config.keys.get("expunge", "X"))
        self.screen.notify(
            f"{message.count} message{'' if one else 's'} in {sanitize_line(folder.display_name)}"
            f" {'stays' if one else 'stay'} on the server marked deleted: it has no UIDPLUS, so"
            f" only expunging the whole folder removes {'it' if one else 'them'} (and whatever"
            " other mail programs marked there). Press"
            f" {key} in the folder to expunge it.",
            title=sanitize_line(message.account),
            markup=False,
        )
