"""What every part of the IMAP engine shares (`EngineBase`): one logged-in imapclient client
and one store connection, both owned by the calling thread (imapclient is not thread-safe); the
capabilities that decide how folders are resynced; selecting a folder; reporting through `emit`
(store changes, progress, actions given up; the engine writes only to the store); `cancel`,
checked between batches; and the UID FETCH that goes on without a message the server will not
give (`Unreadable`). Also what a folder sync returns, and the errors every part raises.

The engine, `tuimail.sync.imap.account.ImapSync`, is made of its parts: folder identity
(identity.py), bodies (bodies.py, offline.py), the folder resync (resync.py) and the ops replay
(replay.py).
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import imapclient
import imapclient.exceptions

from tuimail.core.model import FolderRole, Protocol
from tuimail.mail import limits
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, read, write
from tuimail.store.db import StoreError
from tuimail.sync.errors import EngineCancelled, FolderMissing
from tuimail.sync.events import (
    GIVEN_UP_REFUSED,
    GIVEN_UP_UNPLACED,
    ActionsGivenUp,
    Emit,
    GivenUp,
    StoreChanged,
    SyncProgress,
    discard,
)
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.extensions import uid_set
from tuimail.sync.imap.selection import Behind, SelectResult, enable, select
from tuimail.sync.imap.writes import BatchWrites

log = logging.getLogger(__name__)

FIRST_PAGE = 100  # messages in the first header FETCH of a folder: the visible page
HEADER_BATCH = 500  # messages per later header FETCH (one commit each)
BODY_BATCH = 100  # messages per body FETCH, bounded by bodies.BODY_BATCH_BYTES as well

# What a failed connection or server looks like to the engine (ends the pass over an account).
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, imapclient.IMAPClient.AbortError)


class SyncCancelled(EngineCancelled):
    """The caller set `cancel`; everything committed so far stays."""


@dataclass
class Unreadable:
    """Messages the server ended the connection over (BYE to a FETCH: Dovecot does that when it
    cannot read a message file), kept across the reconnects of one sync (`sync_account`).

    A batch whose FETCH ended the connection becomes `suspects`, even a batch of one: a server
    ends every connection of a user when told to (`doveadm kick`) or when it stops, whatever
    was asked. After the reconnect the suspects are fetched one at a time, and the one that
    ends the connection again is `skipped` for the rest of the sync. Nothing is kept beyond
    the sync: a later one tries again.
    """

    suspects: dict[int, set[int]] = field(default_factory=dict)  # folder id -> UIDs
    skipped: dict[int, dict[int, str]] = field(default_factory=dict)  # folder id -> UID -> why


class FetchEndedConnection(imapclient.IMAPClient.AbortError):
    """A FETCH made the server end the connection (BYE); reconnect and sync again. (An
    AbortError: code that does not reconnect treats it as the broken connection it is.)"""


def skipped_text(skipped: dict[int, str]) -> str:
    """The sentence naming messages skipped because the server would not give them (UID ->
    what it said), for summaries and the folder's sync health."""
    count = len(skipped)
    listed = "; ".join(f"UID {uid}: {why}" for uid, why in sorted(skipped.items())[:3])
    more = "; …" if count > 3 else ""
    noun = "message" if count == 1 else "messages"
    return (
        f"{count} {noun} the server would not give, skipped and tried again next time "
        f"({listed}{more})"
    )


class MessageGoneError(Exception):
    """The message is no longer on the server (or no longer in the store)."""


class FolderNotFoundError(FolderMissing):
    """The folder asked for is not on the server."""


@dataclass(slots=True)
class FolderResult:
    """What a folder sync did."""

    folder_id: int
    name: str
    path: str = ""  # "first", "qresync", "condstore", "full"
    new: int = 0
    flags_changed: int = 0
    expunged: int = 0
    reset: bool = False


class EngineBase(BatchWrites):
    """The state and helpers of one account's IMAP engine (see the module)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account: str,
        client: imapclient.IMAPClient,
        *,
        emit: Emit = discard,
        cancel: threading.Event | None = None,
        first_page: int = FIRST_PAGE,
        header_batch: int = HEADER_BATCH,
        body_batch: int = BODY_BATCH,
        max_literal: int | None = None,
        unreadable: Unreadable | None = None,
        expunge: str = "ask",
        subscribed_only: bool = False,
    ) -> None:
        self.conn = conn
        # Passes sync only the subscribed folders (imap.subscribed_only); see `syncs`.
        self.subscribed_only = subscribed_only
        # Servers without UIDPLUS: what a delete or move leaves marked \\Deleted (imap.expunge).
        self.expunge = expunge
        self._left_marked: dict[int, int] = {}  # folder id -> marked count, this replay
        self._given_up: list[GivenUp] = []  # user actions given up for good, not yet told
        self._replaying = False  # a replay pass tells them at its end
        self._rebuilt: set[int] = set()  # folders the replay rebuilt, for their sync's result
        # Bodies asked for and not sent (message ids), and folders whose bodies failed: left
        # out of this engine's later downloads of the bodies a policy wants (see offline.py).
        self._bodies_unsent: set[int] = set()
        self._bodies_failed: set[int] = set()
        self.unreadable = unreadable or Unreadable()
        self.account = account
        self.client = client
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.first_page = first_page
        self.header_batch = header_batch
        self.body_batch = body_batch
        self.account_id = write.ensure_account(conn, account, Protocol.IMAP)
        # Read at call time, not at import: tests make the limits small.
        self.max_literal = limits.MAX_MESSAGE_BYTES if max_literal is None else max_literal
        imap_ext.cap_literals(client, self.max_literal, limits.MAX_COMMAND_BYTES)
        self.condstore = client.has_capability("CONDSTORE")
        # RFC 8474: a MAILBOXID is only relied on where the server announces OBJECTID.
        self.objectid = client.has_capability("OBJECTID")
        self.qresync = enable(client, "QRESYNC")
        self._selected: tuple[str, bool] | None = None  # (folder, readonly)
        # What the server said of the selected folder when it was selected.
        self.last_selected: SelectResult | None = None
        # Folders left while the server's news of them was still unread (see `select`).
        self.left_with_news: set[str] = set()
        self._held: set[int] = set()  # UIDs with pending ops in the folder being synced
        self._namespace: str | None = None  # the personal namespace prefix, once asked
        log.info(
            "IMAP %s: resync with %s",
            account,
            "QRESYNC" if self.qresync else "CONDSTORE" if self.condstore else "UID listings",
        )

    def syncs(self, info: read.FolderInfo) -> bool:
        """Whether passes sync the folder: every folder, or with `subscribed_only` the
        subscribed ones, the inbox and the special folders (the account keeps mail there), and
        those whose subscription is not known."""
        return (
            not self.subscribed_only
            or info.subscribed is not False
            or info.role is not FolderRole.NONE
            or info.name.upper() == "INBOX"
        )

    def synced_folders(self) -> list[read.FolderInfo]:
        """The account's folders that passes sync (`syncs`), INBOX first."""
        return [f for f in read.folders(self.conn, self.account_id) if self.syncs(f)]

    def _select(
        self,
        name: str,
        *,
        readonly: bool = True,
        qresync: tuple[int, int] | None = None,
        behind: Sequence[Behind] = (),
    ) -> SelectResult:
        before = self.selected_folder
        # A SELECT that fails leaves no folder selected (RFC 3501, 6.3.1).
        self.forget_selection()
        result = select(
            self.client,
            name,
            readonly=readonly,
            condstore=self.condstore and qresync is None,
            qresync=qresync,
            behind=behind,
        )
        if result.left_news and before is not None and before != name:
            self.left_with_news.add(before)
        self._selected = (name, readonly)
        if result.mailbox_id is not None and not self.objectid:
            result = replace(result, mailbox_id=None)
        self.last_selected = result
        return result

    @property
    def rebuilt_folders(self) -> frozenset[int]:
        """Folders found to hold other messages than the cached ones (renamed or swapped on
        the server) and rebuilt, whose sync has not run since."""
        return frozenset(self._rebuilt)

    @property
    def selected_folder(self) -> str | None:
        """The folder this connection has selected (or examined), if any."""
        return self._selected[0] if self._selected is not None else None

    def _in_folder(self, name: str) -> SelectResult:
        """Folder `name` selected, for commands by UID that only read: what its SELECT said
        when this connection has it selected already (its UIDVALIDITY cannot change while it is
        selected: the server would end the connection), else a new EXAMINE. Saves a round trip
        per message opened in the folder the connection is in."""
        if self._selected is not None and self._selected[0] == name and self.last_selected:
            return self.last_selected
        return self._select(name)

    def forget_selection(self) -> None:
        """Another part selected a folder on this client: the next command selects again."""
        self._selected = None
        self.last_selected = None

    def examine(self, name: str) -> SelectResult:
        """EXAMINE folder `name` (read-only); what the server said of it."""
        return self._select(name)

    def _folder(self, folder_id: int) -> read.FolderInfo:
        info = read.folder(self.conn, folder_id)
        if info is None:
            raise StoreError(f"folder {folder_id} is not in the store")
        return info

    def _next_uid(self, folder_id: int) -> int:
        uids = read.uid_flags(self.conn, folder_id)
        return max(uids, default=0) + 1

    def _changed(self, folder_ids: Sequence[int]) -> None:
        self.emit(StoreChanged(self.account, tuple(folder_ids), read.revision(self.conn)))

    def _progress(self, folder: str, done: int, total: int) -> None:
        self.emit(SyncProgress(self.account, Protocol.IMAP, folder, done, total))

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise SyncCancelled("the sync was cancelled")

    def _told(self, op: ops.PendingOp, reason: str, error: str) -> GivenUp:
        """What the user is told of an op given up: read before the store settles it."""
        source = read.folder(self.conn, op.folder_id)
        target_id = op.args.get("to_folder_id")
        target = read.folder(self.conn, int(target_id)) if target_id else None
        count = len(op.targets)
        if reason == GIVEN_UP_UNPLACED:
            count = sum(1 for t in op.targets if t.uid is None)
        flag = op.args.get("flag")
        return GivenUp(
            op.kind.value,
            count,
            source.display_name if source is not None else "a folder",
            target.display_name if target is not None else None,
            reason,
            error if reason == GIVEN_UP_REFUSED else "",
            str(flag) if flag else None,
        )

    def _tell_given_up(self) -> None:
        """Tell the user of the actions given up since last told (one event)."""
        if self._given_up:
            self.emit(ActionsGivenUp(self.account, tuple(self._given_up)))
            self._given_up.clear()

    def _count_marked(self, folder_id: int) -> int:
        """Count and record the selected folder's messages marked \\Deleted (no UIDPLUS)."""
        count = len(imap_ext.uid_search(self.client, "DELETED"))
        write.set_marked_deleted(self.conn, folder_id, count)
        return count

    def _fetch_messages(
        self, folder_id: int, uids: Sequence[int], items: Sequence[str]
    ) -> dict[int, dict[bytes, Any]]:
        """UID FETCH `items` of `uids`; when the server ends the connection over it (BYE), note
        the batch (or, fetching one at a time, the message) in `self.unreadable` and raise
        FetchEndedConnection, so that the sync reconnects and goes on without that message."""
        suspects = self.unreadable.suspects.get(folder_id, set())
        one_by_one = [uid for uid in uids if uid in suspects]
        data: dict[int, dict[bytes, Any]] = {}
        for uid in one_by_one:
            data.update(self._fetch_or_note(folder_id, [uid], items, suspect=True))
            suspects.discard(uid)
        rest = [uid for uid in uids if uid not in suspects and uid not in data]
        if rest:
            data.update(self._fetch_or_note(folder_id, rest, items, suspect=False))
        return data

    def _fetch_or_note(
        self, folder_id: int, uids: Sequence[int], items: Sequence[str], *, suspect: bool
    ) -> dict[int, dict[bytes, Any]]:
        """UID FETCH `uids`; `suspect`: one message whose FETCH ended a connection before."""
        try:
            data, _ = imap_ext.uid_fetch(self.client, uid_set(uids), items)
        except imap_ext.LiteralTooLargeError as exc:
            # The rest of the answer is still on the wire: this connection is done. Fetched
            # again one at a time after the reconnect, the message that is too large alone is
            # skipped and named; the others are stored.
            self.client.shutdown()
            self._note_unreadable(folder_id, uids, error_text(exc), "was too large")
            raise FetchEndedConnection(error_text(exc)) from exc
        except imapclient.IMAPClient.AbortError as exc:
            said = imap_wire.imaplib_of(self.client).untagged_responses.get("BYE")
            if not said:
                raise  # the connection broke: not the message's doing
            # Once is not the message's doing: the server may have ended every connection.
            self._note_unreadable(
                folder_id,
                uids,
                error_text(exc),
                "made the server end the connection",
                alone=suspect,
            )
            raise FetchEndedConnection(error_text(exc)) from exc
        return data

    def _note_unreadable(
        self, folder_id: int, uids: Sequence[int], why: str, what: str, *, alone: bool = True
    ) -> None:
        """One message fetched `alone`: skipped for the rest of the sync, named with `why`.
        Else (a batch, or one message not yet suspected): its UIDs become suspects, fetched
        one at a time after the reconnect."""
        if alone and len(uids) == 1:
            self.unreadable.skipped.setdefault(folder_id, {})[uids[0]] = why
            log.warning(
                "IMAP %s: message UID %d %s (%s); skipped, tried again next time",
                self.account,
                uids[0],
                what,
                why,
            )
        else:
            self.unreadable.suspects.setdefault(folder_id, set()).update(uids)


def error_text(exc: BaseException) -> str:
    """An exception in words, fit for logs and the folder's sync health (one line, bounded)."""
    return sanitize_line(str(exc) or type(exc).__name__)[:300]
