"""The ops replay (`OpReplay.replay_ops`): the user's pending actions carried to the server,
oldest first: flags by STORE, deletes by STORE \\Deleted and UID EXPUNGE, moves and copies by
UID MOVE or COPY (read back first, so that none is done twice), a folder's EXPUNGE. What cannot
be carried out (refused too often, renumbered, the folder changed, a UID not known) is given up
for good, its local effect settled in the store, and told to the user once per pass.
"""

from __future__ import annotations

import logging

import imapclient
import imapclient.exceptions

from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import DELETED, SEEN
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, read, write
from tuimail.store.db import transaction
from tuimail.sync.events import (
    GIVEN_UP_FOLDER_CHANGED,
    GIVEN_UP_NO_TARGET,
    GIVEN_UP_NOT_CONFIRMED,
    GIVEN_UP_REFUSED,
    GIVEN_UP_RENUMBERED,
    GIVEN_UP_UNPLACED,
    MarkedDeleted,
)
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap.engine import error_text
from tuimail.sync.imap.extensions import ImapProtocolError, uid_set
from tuimail.sync.imap.folder_replay import FolderReplay
from tuimail.sync.imap.identity import (
    FOLDER_CHANGED,
    NOT_CONFIRMED,
    RENUMBERED,
    FolderChangedError,
    RenumberedError,
)

log = logging.getLogger(__name__)

NO_TARGET = "the folder to move or copy to is no longer in the store"

UNPLACED = (
    "the message's UID on the server is not known (the action that put it in this folder did"
    " not tell it); the action could not be carried out"
)

MAX_OP_ATTEMPTS = 5  # server refusals of one op before it is given up and shown to the user


class OpReplay(FolderReplay):
    """Carrying pending user actions to the server (see the module)."""

    def replay_ops(self) -> tuple[int, int]:
        """Carry pending user actions to the server, oldest first; returns (done, left).

        Every op is idempotent against the server's state, so a crash between the server's
        answer and `mark_done` only repeats it harmlessly: STORE of a flag and UID EXPUNGE of
        named UIDs by nature; a move or copy because the server is asked first what already
        happened (see `_transfer`). Without UIDPLUS a delete or move stops at \\Deleted: a plain
        EXPUNGE would also remove other clients' deleted messages, so it is done only as the
        account's `imap.expunge` says ("always"), or when the user asks for it (an expunge op
        of the whole folder); with "ask" the user is told (MarkedDeleted).

        A server refusal (NO/BAD) of one op is recorded on that op (attempts, last_error); it
        is given up after MAX_OP_ATTEMPTS refusals and the others go on. A changed UIDVALIDITY
        fails the op at once. Connection failures end the replay (they propagate).

        The order of the user's actions on a message is kept: an op naming a message that an
        earlier op, refused for now, also names waits for it (a later op may need the UID that
        one's replay gives the message). A message whose UID in the op's folder is still not
        known when its op comes up cannot be acted on: the op is given up with UNPLACED, never
        passed over silently.
        """
        self._replaying = True
        try:
            return self._replay_ops()
        finally:
            self._replaying = False
            self._tell_given_up()

    def _replay_ops(self) -> tuple[int, int]:
        # The folder actions first: a move into a new folder needs it on the server.
        done, left = self.replay_folder_ops()
        waiting: set[int] = set()  # rows named by ops left pending in this pass
        for queued in ops.pending(self.conn, self.account_id):
            self._check_cancel()
            # Read again: an earlier op's replay may have given this one the UIDs it lacked.
            op = ops.get(self.conn, queued.id)
            if op is None or op.state is not ops.OpState.PENDING:
                continue
            rows = {target.message_id for target in op.targets}
            folders = {op.folder_id, int(op.args.get("to_folder_id") or 0)}
            if rows & waiting or folders & self.waiting_folders:
                waiting |= rows
                left += 1
                continue
            try:
                if self._replay_op(op):
                    done += 1
            except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
                if isinstance(exc, imapclient.IMAPClient.AbortError):
                    raise
                permanent = op.attempts + 1 >= MAX_OP_ATTEMPTS
                message = error_text(exc)
                if permanent:
                    self._fail(op, GIVEN_UP_REFUSED, message)
                else:
                    ops.mark_failed(self.conn, op.id, message)
                log.warning(
                    "IMAP %s: the server refused op %d (%s)%s: %s",
                    self.account,
                    op.id,
                    op.kind.value,
                    ", given up" if permanent else ", will retry",
                    message,
                )
                if not permanent:
                    waiting |= rows
                    left += 1
        if self.expunge == "ask":
            for folder_id, count in self._left_marked.items():
                self.emit(MarkedDeleted(self.account, folder_id, count))
        self._left_marked.clear()
        return done, left

    def _replay_op(self, op: ops.PendingOp) -> bool:
        """Replay one op; True when it is done (False: it failed for good)."""
        info = read.folder(self.conn, op.folder_id)
        if info is None:
            return False
        if info.uidvalidity is not None and op.uidvalidity != info.uidvalidity:
            self._fail(op, GIVEN_UP_RENUMBERED, RENUMBERED, source_valid=False)
            return False
        if op.kind is ops.OpKind.EXPUNGE and op.args.get("folder"):
            return self._expunge_folder(op, info)
        transfer = op.kind in (ops.OpKind.MOVE, ops.OpKind.COPY)
        uids = [t.uid for t in op.targets if t.uid is not None]
        # What is known is carried out; the op stays, given up, for what is not.
        unplaced = len(uids) < len(op.targets)
        if transfer:
            target = read.folder(self.conn, int(op.args.get("to_folder_id") or 0))
            if target is None:
                self._fail(op, GIVEN_UP_NO_TARGET, NO_TARGET)
                return False
            try:
                placed = self._transfer(op, info, target, uids) if uids else {}
            except RenumberedError:
                self._fail(op, GIVEN_UP_RENUMBERED, RENUMBERED, source_valid=False)
                return False
            except FolderChangedError as exc:
                self._give_up(op, info, exc)
                return False
            crashpoint("imap.op_replayed")
            with transaction(self.conn):
                self._place_copies(op, target, placed)
                self._finish(op, unplaced)
            self._changed([target.id])
            return not unplaced
        if uids:
            selected = self._select(info.name, readonly=False)
            if selected.uidvalidity != op.uidvalidity:
                self._fail(op, GIVEN_UP_RENUMBERED, RENUMBERED, source_valid=False)
                return False
            try:
                uids = self._confirmed(op, info, selected, uids)
            except FolderChangedError as exc:
                self._give_up(op, info, exc)
                return False
            if uids:
                self._replay(op, uids)
        crashpoint("imap.op_replayed")
        self._finish(op, unplaced)
        return not unplaced

    def _give_up(self, op: ops.PendingOp, info: read.FolderInfo, exc: FolderChangedError) -> None:
        """Fail an op for good, without acting: its UIDs do not hold its messages (or that
        cannot be confirmed). Where they hold other messages, the folder is another mailbox
        than the one cached: it is rebuilt at once (which gives up its other ops too), as a
        body download does, rather than when a later sync's sample happens to notice."""
        log.warning("IMAP %s: op %d (%s) given up: %s", self.account, op.id, op.kind.value, exc)
        if exc.selected is not None and str(exc) == FOLDER_CHANGED:
            self._reset(info, exc.selected, None, "an action found other messages under its UIDs")
            current = ops.get(self.conn, op.id)
            if current is None or current.state is not ops.OpState.PENDING:
                return
        self._fail(
            op,
            GIVEN_UP_NOT_CONFIRMED if str(exc) == NOT_CONFIRMED else GIVEN_UP_FOLDER_CHANGED,
            str(exc),
            source_valid=str(exc) != FOLDER_CHANGED,
        )

    def _fail(
        self, op: ops.PendingOp, reason: str, error: str, *, source_valid: bool = True
    ) -> None:
        """Give an op up for good (its local effect is settled in the store, see
        ops.mark_failed), and keep it to tell the user at the end of the replay pass."""
        told = self._told(op, reason, error)
        ops.mark_failed(self.conn, op.id, error, permanent=True, source_valid=source_valid)
        self._given_up.append(told)
        folders = [op.folder_id]
        if op.args.get("to_folder_id"):
            folders.append(int(op.args["to_folder_id"]))
        self._changed(folders)

    def _finish(self, op: ops.PendingOp, unplaced: bool) -> None:
        """Done, or given up for the messages whose UID was not known (the user sees it)."""
        if not unplaced:
            ops.mark_done(self.conn, op.id)
            return
        self._fail(op, GIVEN_UP_UNPLACED, UNPLACED)
        log.warning(
            "IMAP %s: op %d (%s) names a message whose UID is not known; given up",
            self.account,
            op.id,
            op.kind.value,
        )

    def _replay(self, op: ops.PendingOp, uids: list[int]) -> None:
        """One STORE (and one UID EXPUNGE) for all of the op's messages, their UIDs as a
        compact set (a whole folder marked read is "1:4000", not four thousand numbers)."""
        kind = op.kind
        uids_set = uid_set(uids)
        if kind in (ops.OpKind.SEEN, ops.OpKind.UNSEEN, ops.OpKind.FLAG, ops.OpKind.UNFLAG):
            flag = str(op.args.get("flag") or SEEN)
            if kind in (ops.OpKind.SEEN, ops.OpKind.FLAG):
                self.client.add_flags(uids_set, [flag], silent=True)
            else:
                self.client.remove_flags(uids_set, [flag], silent=True)
            return
        if kind is ops.OpKind.DELETE:
            self.client.add_flags(uids_set, [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids_set)
        else:
            self._after_marking(op.folder_id)

    def _expunge_folder(self, op: ops.PendingOp, info: read.FolderInfo) -> bool:
        """A plain EXPUNGE of the folder, which the user asked for knowing that it removes
        every message marked \\Deleted there (a replay after a crash only expunges again)."""
        selected = self._select(info.name, readonly=False)
        if selected.uidvalidity != op.uidvalidity:
            self._fail(op, GIVEN_UP_RENUMBERED, RENUMBERED, source_valid=False)
            return False
        self.client.expunge()
        crashpoint("imap.op_replayed")
        with transaction(self.conn):
            write.set_marked_deleted(self.conn, info.id, 0)
            ops.mark_done(self.conn, op.id)
        self._changed([info.id])
        return True

    def _after_marking(self, folder_id: int) -> None:
        """Messages were just marked \\Deleted in the folder selected read-write, on a server
        without UIDPLUS (no UID EXPUNGE of just them): as `imap.expunge` says, expunge the whole
        folder ("always"), or count what is marked there, for the user to see ("ask", "never")."""
        if self.expunge == "always":
            self.client.expunge()
            write.set_marked_deleted(self.conn, folder_id, 0)
            return
        self._left_marked[folder_id] = self._count_marked(folder_id)

    def _transfer(
        self,
        op: ops.PendingOp,
        source: read.FolderInfo,
        target: read.FolderInfo,
        uids: list[int],
    ) -> dict[int, int | None]:
        """Carry a move or copy out on the server, once; returns local row id -> the UID of its
        copy in the target (None: the copy is there but its UID is not known).

        What already happened is read from the server, so a replay after a crash neither moves
        nor copies twice: a UID no longer in the source was moved already (UID MOVE of it would
        be a no-op anyway); before a COPY, the target is searched for the messages' Message-IDs
        and what it holds (not marked \\Deleted) is not copied again (a folder keeps one copy
        of a message). Without a Message-ID, a source message marked \\Deleted counts as copied
        by an earlier attempt of a move. The new UIDs come from COPYUID (UIDPLUS), else by
        Message-ID from the target.
        """
        rows = self._copy_rows(op)  # source UID -> local row in the target
        message_ids = self._message_id_headers(op, rows)
        moving = op.kind is ops.OpKind.MOVE
        native_move = moving and self.client.has_capability("MOVE")
        found: dict[str, list[int]] = {}
        trusted = False  # whether `found` UIDs belong to the UIDVALIDITY the store knows
        if not native_move:
            before = self._select(target.name)
            # A copy marked \\Deleted is on its way out (the message left this folder before,
            # on a server without UIDPLUS): it does not count as the message being there.
            found = imap_ext.search_message_ids(
                self.client,
                [message_ids[r] for r in rows.values() if r in message_ids],
                undeleted=True,
            )
            trusted = self._same_uidvalidity(target, before.uidvalidity)
        selected = self._select(source.name, readonly=False)
        if selected.uidvalidity != op.uidvalidity:
            raise RenumberedError(RENUMBERED)
        if self._same_mailbox(source, selected):
            present = set(imap_ext.uid_search(self.client, f"UID {uid_set(uids).decode()}"))
        else:  # the FETCH that confirms the messages also tells which are still there
            present = set(self._confirmed(op, source, selected, uids))
        marked = (
            set(imap_ext.uid_search(self.client, f"UID {uid_set(uids).decode()} DELETED"))
            if moving and not native_move and present
            else set()
        )
        placed: dict[int, int | None] = {}
        send: list[int] = []
        for uid in uids:
            row = rows.get(uid)
            header = message_ids.get(row) if row is not None else None
            if uid not in present:
                continue  # moved before (or gone from the server): nothing to send
            if header is not None and found.get(header):
                if row is not None and trusted:
                    placed[row] = max(found[header])
                continue
            if header is None and uid in marked:
                continue
            send.append(uid)
        copyuid = None
        if send:
            copyuid = imap_ext.uid_transfer(
                self.client, "MOVE" if native_move else "COPY", send, target.name
            )
        if moving and not native_move and present:
            self.client.add_flags(sorted(present), [DELETED], silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(sorted(present))
            else:
                log.warning(
                    "IMAP %s/%s: moved %d message(s) by COPY; the originals are marked"
                    " \\Deleted (the server has no UIDPLUS, and a plain EXPUNGE removes other"
                    " clients' deleted messages too): imap.expunge = %s",
                    self.account,
                    sanitize_line(source.name),
                    len(present),
                    self.expunge,
                )
                self._after_marking(source.id)
        # COPYUID is only relied on where UIDPLUS is announced.
        if (
            copyuid is not None
            and self.client.has_capability("UIDPLUS")
            and self._same_uidvalidity(target, copyuid.uidvalidity)
        ):
            for uid, new_uid in copyuid.mapping.items():
                if uid in rows:
                    placed[rows[uid]] = new_uid
        for row in rows.values():
            placed.setdefault(row, None)
        unknown = {
            r: message_ids[r] for r, uid in placed.items() if uid is None and r in message_ids
        }
        if unknown:
            selected_target = self._select(target.name)
            hits = imap_ext.search_message_ids(self.client, list(unknown.values()), undeleted=True)
            trusted = self._same_uidvalidity(target, selected_target.uidvalidity)
            for row, header in unknown.items():
                if hits.get(header) and trusted:
                    placed[row] = max(hits[header])
        return placed

    def _copy_rows(self, op: ops.PendingOp) -> dict[int, int]:
        """Source UID -> the local row standing for its copy in the target folder."""
        if op.kind is ops.OpKind.MOVE:
            return {t.uid: t.message_id for t in op.targets if t.uid is not None}
        copies = [int(c) for c in op.args.get("copies") or ()]
        return {
            t.uid: copy for t, copy in zip(op.targets, copies, strict=False) if t.uid is not None
        }

    def _message_id_headers(self, op: ops.PendingOp, rows: dict[int, int]) -> dict[int, str]:
        """Local row in the target -> the Message-ID of its message: as the row says, else as
        the op recorded it when queued (the row may be gone since, deleted by the user)."""
        recorded = op.args.get("message_id_headers") or []
        by_uid = {
            t.uid: str(header)
            for t, header in zip(op.targets, recorded, strict=False)
            if t.uid is not None and header
        }
        headers: dict[int, str] = {}
        for uid, row_id in rows.items():
            found = read.message_id_header(self.conn, row_id)
            if found is not None:
                headers[row_id] = found
            elif uid in by_uid:
                headers[row_id] = by_uid[uid]
        return headers

    def _same_uidvalidity(self, target: read.FolderInfo, uidvalidity: int) -> bool:
        """Whether UIDs of the target under `uidvalidity` can be stored: a folder never
        selected takes it; one whose cache is of another UIDVALIDITY cannot (its own sync will
        rebuild it)."""
        current = read.folder(self.conn, target.id)
        if current is None:
            return False
        if current.uidvalidity in (None, 0):
            write.update_folder_state(self.conn, target.id, uidvalidity=uidvalidity)
            return True
        return current.uidvalidity == uidvalidity

    def _place_copies(
        self, op: ops.PendingOp, target: read.FolderInfo, placed: dict[int, int | None]
    ) -> None:
        """Give the local rows of moved or copied messages their UIDs in the target.

        A row whose UID is unknown (no COPYUID, no Message-ID to find it by), or taken by a
        message the target's sync already stored, or that belongs to another UIDVALIDITY, is
        dropped: the server holds the message, and the target's next sync stores it once.
        A row the user has moved on (or flagged, or deleted) meanwhile keeps its place; the later
        ops that name it in the target get its UID there, so they act on the server's copy. A row
        moved out and back into the target is left to the replay of the move that brought it
        back: the UID of its first stay is not its UID now.
        """
        current = read.folder(self.conn, target.id)
        uidvalidity = current.uidvalidity if current is not None else None
        for row_id, uid in placed.items():
            if uid is not None and uidvalidity:
                ops.resolve_placeholder(self.conn, target.id, row_id, uid, after_op=op.id)
            row = read.placement(self.conn, row_id)
            if row is None or row[0] != target.id or row[1] is not None:
                continue
            if not ops.stays(self.conn, target.id, row_id, op.id):
                continue  # moved out and back in: the row stands for a later copy
            taken = uid is not None and read.message_id_by_uid(self.conn, target.id, uid)
            if uid is None or taken or not uidvalidity:
                write.drop_placeholder(self.conn, row_id)
                continue
            write.assign_uid(self.conn, row_id, uid)
