"""The main screen's actions on every marked message at once (read / unread, flag / unflag,
delete, move, copy, forward as attachments), and marking a whole folder read.

Each goes through the same intents as an action on one message (`MessageActions.act_on`: the
store's journal, replayed to the server by the app, one op per source folder whose replay is
one STORE or UID MOVE for all of its messages), and `u` undoes it as it undoes one. What is
acted on is the list of ids taken when the key was pressed, never lines: a change in the
background while a question or the folder list is open cannot turn the action onto other
messages (messages gone meanwhile are left out).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from textual.screen import Screen

from tuimail.core.model import FLAGGED, SEEN, FolderRole
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import marked as store_marked
from tuimail.store import ops, read
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.message_actions import MessageActions
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.screens.writing import Writing

MARK_ALL_READ_ASK = 10  # from this many unread messages, marking a folder read asks first


def count_words(count: int) -> str:
    """ "1 message", "3 messages"."""
    return f"{count} message{'' if count == 1 else 's'}"


class MarkedActions:
    """What the keys do to the marked messages of `screen`'s list (through `actions`)."""

    def __init__(
        self,
        screen: Screen[None],
        actions: MessageActions,
        writing: Writing,
        conn: sqlite3.Connection,
    ) -> None:
        self.screen = screen
        self.actions = actions
        self.writing = writing
        self.conn = conn

    def _notify(self, text: str) -> None:
        self.screen.notify(text, markup=False)

    def toggle_read(self, message_ids: Sequence[int]) -> None:
        """Mark them read; when every one is read already, unread."""
        rows = read.rows(self.conn, message_ids)
        unread = [row.id for row in rows if SEEN not in row.flags]
        if unread:
            if self.actions.act_on(ops.OpKind.SEEN, unread, count_words(len(unread))):
                self._notify(f"{count_words(len(unread))} marked read (u: undo).")
        elif rows and self.actions.act_on(
            ops.OpKind.UNSEEN, [row.id for row in rows], count_words(len(rows))
        ):
            self._notify(f"{count_words(len(rows))} marked unread (u: undo).")

    def toggle_flag(self, message_ids: Sequence[int]) -> None:
        """Flag them; when every one is flagged already, remove their flags."""
        rows = read.rows(self.conn, message_ids)
        plain = [row.id for row in rows if FLAGGED not in row.flags]
        if plain:
            if self.actions.act_on(ops.OpKind.FLAG, plain, count_words(len(plain)), flag=FLAGGED):
                self._notify(f"{count_words(len(plain))} flagged (u: undo).")
        elif rows and self.actions.act_on(
            ops.OpKind.UNFLAG, [row.id for row in rows], count_words(len(rows)), flag=FLAGGED
        ):
            self._notify(f"{count_words(len(rows))} no longer flagged (u: undo).")

    def delete(self, message_ids: Sequence[int]) -> None:
        """Move them to their account's Trash; those in the Trash (or of an account with none)
        are deleted for good, after asking (No is the default)."""
        rows = read.rows(self.conn, message_ids)
        to_trash: dict[int, list[int]] = {}  # trash folder id -> messages
        for_good: list[int] = []
        trashes: dict[int, read.FolderInfo | None] = {}
        for row in rows:
            if row.account_id not in trashes:
                trashes[row.account_id] = next(
                    (
                        f
                        for f in read.folders(self.conn, row.account_id)
                        if f.role is FolderRole.TRASH
                    ),
                    None,
                )
            trash = trashes[row.account_id]
            if trash is not None and trash.id != row.folder_id:
                to_trash.setdefault(trash.id, []).append(row.id)
            else:
                for_good.append(row.id)
        moved = 0
        label = count_words(sum(len(ids) for ids in to_trash.values()))
        for trash_id, ids in to_trash.items():
            # One `u` takes back the whole key's work, in every account.
            if self.actions.act_on(
                ops.OpKind.MOVE, ids, label, to_folder_id=trash_id, with_last=moved > 0
            ):
                moved += len(ids)
        if moved:
            self._notify(f"{count_words(moved)} moved to Trash (u: undo).")
        if not for_good:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            present = [row.id for row in read.rows(self.conn, for_good)]
            if present and self.actions.act_on(ops.OpKind.DELETE, present, ""):
                self._notify(f"{count_words(len(present))} deleted for good.")

        self.screen.app.push_screen(
            Confirm(
                f"Delete {count_words(len(for_good))} for good? They are in the Trash (or their"
                " account has no Trash). It cannot be undone.",
                default=False,
            ),
            answered,
        )

    def transfer(self, message_ids: Sequence[int], move: bool) -> None:
        """Move or copy them to a folder of their account, chosen from a list."""
        rows = read.rows(self.conn, message_ids)
        if not rows:
            return
        if len({row.account_id for row in rows}) > 1:
            self.screen.notify(
                "The marked messages are in several accounts: a message moves or copies only"
                " within its account. Mark the messages of one account.",
                severity="warning",
                markup=False,
            )
            return
        sources = {row.folder_id for row in rows}
        # The source is left out only when every marked message is in it.
        leave_out = sources if len(sources) == 1 else set()
        folders = self.actions.host.move_targets(rows[0].account_id, leave_out)
        if not folders:
            self.screen.notify("The account has no other folder.", severity="warning", markup=False)
            return
        ids = [row.id for row in rows]
        verb = "Move" if move else "Copy"

        def chosen(folder_id: int | None) -> None:
            target = read.folder(self.conn, folder_id) if folder_id is not None else None
            if target is None:
                return
            kind = ops.OpKind.MOVE if move else ops.OpKind.COPY
            if self.actions.act_on(kind, ids, count_words(len(ids)), to_folder_id=target.id):
                done = "moved" if move else "copied"
                name = sanitize_line(target.display_name)
                self._notify(f"{count_words(len(ids))} {done} to {name}.")

        self.screen.app.push_screen(
            FolderPicker(f"{verb} the {count_words(len(ids))} marked to:", folders), chosen
        )

    def forward_attached(self, message_ids: Sequence[int]) -> None:
        """Forward them in one message, each attached whole (message/rfc822)."""
        self.writing.forward_attached_many(read.rows(self.conn, message_ids))

    def mark_all_read(self, place: Sequence[int], name: str) -> None:
        """Mark every unread message of the folders in `place` read, as one op per folder (one
        STORE for all of its messages on the server); from MARK_ALL_READ_ASK messages on, after
        asking. Mail arriving while the question is open stays unread: only what was unread
        when the key was pressed is marked."""
        unread = store_marked.unread_ids(self.conn, place)
        if not unread:
            self._notify(f"Nothing unread in {name}.")
            return

        def mark(yes: bool | None = True) -> None:
            if yes and self.actions.act_on(ops.OpKind.SEEN, unread, count_words(len(unread))):
                self._notify(f"{count_words(len(unread))} in {name} marked read (u: undo).")

        if len(unread) < MARK_ALL_READ_ASK:
            mark()
            return
        self.screen.app.push_screen(
            Confirm(f"Mark all {len(unread)} unread messages in {name} read?"), mark
        )
