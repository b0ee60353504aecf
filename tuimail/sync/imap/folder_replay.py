"""The replay of the user's folder actions (`FolderReplay.replay_folder_ops`): CREATE (and
SUBSCRIBE), RENAME, DELETE, SUBSCRIBE and UNSUBSCRIBE on the server, oldest first, before the
message ops (a move into a new folder needs the folder; an op on a renamed folder's messages
names it by its new name).

Each is harmless to repeat: what the server holds is asked first (the name listed or not, the
new name of a rename holding the same mailbox). A rename or delete acts only while the name
still stands for the mailbox the store knew (UIDVALIDITY, MAILBOXID where the server tells
it), and a delete only while no mail the store has not seen came in (UIDNEXT), since the
server deletes the messages with the folder. What cannot be done is given up, settled in the
store (`store/folder_ops.py`) and told to the user with the message ops given up.
"""

from __future__ import annotations

import logging
from typing import Any

import imapclient
import imapclient.exceptions

from tuimail.core.crashpoint import crashpoint
from tuimail.store import folder_ops
from tuimail.store.folder_ops import FolderOp, FolderOpKind
from tuimail.sync.events import (
    GIVEN_UP_FOLDER_CHANGED,
    GIVEN_UP_FOLDER_GONE,
    GIVEN_UP_NEW_MAIL,
    GIVEN_UP_REFUSED,
    GivenUp,
)
from tuimail.sync.imap.engine import error_text
from tuimail.sync.imap.extensions import ImapProtocolError
from tuimail.sync.imap.identity import FolderIdentity
from tuimail.sync.imap.listing import UNSELECTABLE

log = logging.getLogger(__name__)

MAX_FOLDER_OP_ATTEMPTS = 5  # server refusals of one folder op before it is given up
# Response codes (RFC 5530) that say a refusal will not change by trying again.
FINAL_CODES = ("[ALREADYEXISTS]", "[NOPERM]", "[CANNOT]", "[NONEXISTENT]", "[LIMIT]")
EXISTS = "[ALREADYEXISTS] a folder of that name exists on the server already"


class FolderReplay(FolderIdentity):
    """Carrying the user's folder actions to the server (see the module)."""

    # Folders whose op is left waiting this pass: the message ops naming them wait too.
    waiting_folders: set[int]
    # Whether a folder op was done or given up: the folder list is read again.
    folders_replayed = False

    def replay_folder_ops(self) -> tuple[int, int]:
        """Carry pending folder ops to the server, oldest first; returns (done, left)."""
        self.waiting_folders = set()
        done = left = 0
        for op in folder_ops.pending(self.conn, self.account_id):
            self._check_cancel()
            if op.folder_id in self.waiting_folders:
                left += 1  # an earlier op on the folder waits: this one after it
                continue
            try:
                if self._replay_folder_op(op):
                    done += 1
                self.folders_replayed = True
            except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
                if isinstance(exc, imapclient.IMAPClient.AbortError):
                    raise
                message = error_text(exc)
                permanent = op.attempts + 1 >= MAX_FOLDER_OP_ATTEMPTS or any(
                    code in message.upper() for code in FINAL_CODES
                )
                log.warning(
                    "IMAP %s: the server refused folder op %d (%s)%s: %s",
                    self.account,
                    op.id,
                    op.kind.value,
                    ", given up" if permanent else ", will retry",
                    message,
                )
                if permanent:
                    on_server = op.kind is FolderOpKind.CREATE and self._listed(op.name)
                    self._give_up_folder_op(op, GIVEN_UP_REFUSED, message, on_server=on_server)
                    self.folders_replayed = True
                else:
                    folder_ops.mark_failed(self.conn, op.id, message)
                    self.waiting_folders.add(op.folder_id)
                    left += 1
        return done, left

    def _replay_folder_op(self, op: FolderOp) -> bool:
        """One folder op; True when done (False: given up)."""
        if op.kind is FolderOpKind.CREATE:
            return self._create(op)
        if op.kind is FolderOpKind.RENAME:
            return self._rename(op)
        if op.kind in folder_ops.SUBSCRIPTION_KINDS:
            return self._subscription(op)
        return self._delete(op)

    def _subscription(self, op: FolderOp) -> bool:
        """SUBSCRIBE or UNSUBSCRIBE (both harmless to repeat; a refusal is retried, then
        given up, and the next folder list shows what the server has)."""
        if op.kind is FolderOpKind.SUBSCRIBE:
            self.client.subscribe_folder(op.name)
        else:
            self.client.unsubscribe_folder(op.name)
        folder_ops.mark_done(self.conn, op.id)
        self._changed([op.folder_id])
        return True

    def _create(self, op: FolderOp) -> bool:
        if self._listed(op.name):
            if op.args.get("sent"):
                folder_ops.mark_done(self.conn, op.id)  # created before a crash
                return True
            self._give_up_folder_op(op, GIVEN_UP_REFUSED, EXISTS, on_server=True)
            return False
        folder_ops.mark_sent(self.conn, op.id)
        self.client.create_folder(op.name)
        crashpoint("imap.folder_op_replayed")
        self._subscribe(op.name, True)
        folder_ops.mark_done(self.conn, op.id)
        self._changed([op.folder_id])
        return True

    def _rename(self, op: FolderOp) -> bool:
        assert op.new_name is not None
        status = self._status(op.name)
        if status is None:
            after = self._status(op.new_name)
            if after is not None and op.args.get("sent") and self._same(op, after):
                folder_ops.mark_done(self.conn, op.id)  # renamed before a crash
                return True
            self._give_up_folder_op(op, GIVEN_UP_FOLDER_GONE, "not on the server")
            return False
        if not self._same(op, status):
            self._give_up_folder_op(op, GIVEN_UP_FOLDER_CHANGED, "another folder has the name")
            return False
        self._leave(op.name)
        folder_ops.mark_sent(self.conn, op.id)
        self.client.rename_folder(op.name, op.new_name)
        crashpoint("imap.folder_op_replayed")
        self._subscribe(op.name, False)
        self._subscribe(op.new_name, True)
        folder_ops.mark_done(self.conn, op.id)
        self._changed([op.folder_id])
        return True

    def _delete(self, op: FolderOp) -> bool:
        status = self._status(op.name)
        if status is None:
            folder_ops.mark_done(self.conn, op.id)  # gone already (deleted before a crash)
            return True
        if not self._same(op, status):
            self._give_up_folder_op(op, GIVEN_UP_FOLDER_CHANGED, "another folder has the name")
            return False
        # Mail that came since the store looked (UIDNEXT), or that it never fetched (a first
        # sync not done yet: more messages than it holds).
        known_uidnext = op.args.get("uidnext")
        messages = int(status.get(b"MESSAGES", 0))
        came = messages > int(op.args.get("known") or 0) or bool(
            known_uidnext and int(status.get(b"UIDNEXT", 0)) > int(known_uidnext)
        )
        if came:
            # The server deletes a folder's messages with it: not ones the user never saw.
            self._give_up_folder_op(op, GIVEN_UP_NEW_MAIL, "new messages came in")
            return False
        self._leave(op.name)
        folder_ops.mark_sent(self.conn, op.id)
        self.client.delete_folder(op.name)
        crashpoint("imap.folder_op_replayed")
        self._subscribe(op.name, False)
        folder_ops.mark_done(self.conn, op.id)
        return True

    def _give_up_folder_op(
        self, op: FolderOp, reason: str, error: str, *, on_server: bool = False
    ) -> None:
        """Give a folder op up for good (its local effect settled in the store) and keep it to
        tell the user at the end of the replay pass."""
        self._given_up.append(
            GivenUp(
                op.kind.value,
                0,
                self._shown(op.name),
                self._shown(op.new_name) if op.new_name else None,
                reason,
                error if reason == GIVEN_UP_REFUSED else "",
            )
        )
        folder_ops.mark_failed(self.conn, op.id, error, permanent=True, on_server=on_server)
        self._changed([op.folder_id])

    def _shown(self, name: str) -> str:
        """A full server name as the user sees it (without the personal namespace prefix)."""
        prefix = self._namespace or ""
        return name[len(prefix) :] if prefix and name.startswith(prefix) else name

    def _same(self, op: FolderOp, status: dict[bytes, Any]) -> bool:
        """Whether a STATUS answer is of the mailbox the op was queued on: MAILBOXID where both
        are known, else UIDVALIDITY (a folder never selected here is taken as it is)."""
        mailbox_id = status.get(b"MAILBOXID")
        if isinstance(mailbox_id, tuple | list) and mailbox_id:
            mailbox_id = mailbox_id[0]
        if isinstance(mailbox_id, bytes):
            mailbox_id = mailbox_id.decode("ascii", "replace")
        if op.args.get("mailbox_id") and mailbox_id:
            return bool(op.args["mailbox_id"] == mailbox_id)
        uidvalidity = op.args.get("uidvalidity")
        return not uidvalidity or int(status.get(b"UIDVALIDITY", 0)) == int(uidvalidity)

    def _status(self, name: str) -> dict[bytes, Any] | None:
        """STATUS of a folder, None when the server does not list it."""
        if not self._listed(name):
            return None
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
        if self.objectid:
            items.append("MAILBOXID")
        return dict(self.client.folder_status(name, items))

    def _listed(self, name: str) -> bool:
        """Whether the server lists a folder `name` that can hold messages (a level that is
        only there for its subfolders, \\Noselect, can still be created)."""
        for flags, _delimiter, listed in self.client.list_folders("", name):
            text = listed if isinstance(listed, str) else bytes(listed).decode("utf-8", "replace")
            if text == name and not {bytes(f).lower() for f in flags} & UNSELECTABLE:
                return True
        return False

    def _leave(self, name: str) -> None:
        """Not selected in a folder about to be renamed or deleted (a server may refuse that,
        or end the connection): EXAMINE INBOX instead."""
        selected = self.selected_folder
        below = name + folder_ops.delimiter_of(self.conn, self.account_id)
        if selected is not None and (selected == name or selected.startswith(below)):
            self.examine("INBOX")

    def _subscribe(self, name: str, subscribe: bool) -> None:
        """Keep the subscriptions in step (other clients show only subscribed folders); a
        refusal is not the op's failure."""
        try:
            if subscribe:
                self.client.subscribe_folder(name)
            else:
                self.client.unsubscribe_folder(name)
        except imapclient.exceptions.IMAPClientAbortError:
            raise
        except imapclient.exceptions.IMAPClientError as exc:
            log.info("IMAP %s: (UN)SUBSCRIBE refused: %s", self.account, error_text(exc))
