"""The IMAP engine: folders, header-first sync, resync by capability, bodies, ops replay.

`ImapSync` works on one logged-in imapclient client and one store connection, both owned by the
calling thread (imapclient is not thread-safe). It writes only to the store and reports only
through `emit`; `cancel` is checked between batches.

How a folder is synced:
- A folder never synced to the end (no UIDNEXT recorded) gets the full path: UID SEARCH ALL,
  compared with the UIDs in the store. What the store lacks is fetched header-first and newest
  first: the newest page in one small FETCH, then the rest in batches, each committed on its own.
  An interrupted first sync therefore resumes where it stopped: the next run stores only what is
  still missing (`sync_resume` records the lowest UID stored so far).
- A folder synced before is resynced with the best the server offers: QRESYNC (the SELECT itself
  reports expunged UIDs and changed flags), else CONDSTORE (UID FETCH FLAGS CHANGEDSINCE, and a
  UID listing only when the message count says something was expunged), else the full path
  (UID SEARCH ALL and a FETCH FLAGS of everything cached). New mail is what lies at or above the
  recorded UIDNEXT.
- The UIDNEXT and HIGHESTMODSEQ recorded are the ones the SELECT reported, before anything was
  fetched, so a change that races the sync is seen again next time (storing is idempotent).
- UIDVALIDITY changed: the folder's cached server messages are dropped (`write.reset_folder`;
  local-only messages stay), its pending ops fail (`ops.fail_folder`), and it is synced afresh.
- The folder's name stands for another mailbox than the one cached (another client renamed or
  swapped folders; a server such as Cyrus may give both the same UIDVALIDITY): rebuilt the same
  way. The MAILBOXID the SELECT reports (RFC 8474 OBJECTID) decides where the server offers it;
  elsewhere what the server says does (`_other_mailbox`): UIDNEXT or HIGHESTMODSEQ going back,
  or a sample of cached UIDs (one FETCH) that no longer hold the same Message-IDs. A UID command
  of the ops replay, and a body stored under a UID, are checked the same way each time: by
  MAILBOXID, else by the messages' Message-IDs in the same or one extra FETCH.
- A message the store does not have and the server holds marked \\Deleted is not fetched, on
  every path: it is on its way out, and it may be one this client deleted or moved away on a
  server without UIDPLUS (where the original stays, marked, until some client expunges it).
  A stored message that another client marks \\Deleted stays, with the flag, until expunged.
  When the mark is removed, the message is fetched then: the full path lists every UID; on the
  QRESYNC and CONDSTORE paths its flag change is reported, and a changed UID the store lacks
  that is no longer marked is fetched like new mail.
- The server is never asked to delete anything because of what the store lacks: the sync only
  reads (EXAMINE, FETCH with BODY.PEEK, SEARCH). Only the ops replay writes to the server.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import ssl
import threading
from collections import deque
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import imapclient
import imapclient.exceptions

from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import DELETED, SEEN, FolderRole, Protocol
from tuimail.mail import limits
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import codec, ops, read, write
from tuimail.store.db import StoreError, transaction
from tuimail.store.ingest import BodyIndex, IncomingMessage
from tuimail.sync.events import (
    GIVEN_UP_FOLDER_CHANGED,
    GIVEN_UP_NO_TARGET,
    GIVEN_UP_NOT_CONFIRMED,
    GIVEN_UP_REFUSED,
    GIVEN_UP_RENUMBERED,
    GIVEN_UP_UNPLACED,
    ActionsGivenUp,
    Emit,
    GivenUp,
    MarkedDeleted,
    NewMail,
    StoreChanged,
    SyncProgress,
    discard,
)
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.extensions import ImapProtocolError, uid_set
from tuimail.sync.imap.listing import (
    UNSELECTABLE,
    assign_roles,
    folder_role,
    list_folders,
    personal_namespace,
)
from tuimail.sync.imap.selection import SelectResult, enable, select

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tuimail.store.indexer import BodyIndexer

log = logging.getLogger(__name__)

# What the message list and threading need, and nothing else (the body comes later).
HEADER_FIELDS = (
    "FROM",
    "TO",
    "CC",
    "BCC",
    "REPLY-TO",
    "SUBJECT",
    "DATE",
    "MESSAGE-ID",
    "IN-REPLY-TO",
    "REFERENCES",
    "CONTENT-TYPE",
)
HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]"
HEADER_ITEMS = ("UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", HEADER_ITEM)
BODY_ITEMS = ("UID", "BODY.PEEK[]")
# What tells a message under a UID from another one, where no MAILBOXID vouches for the folder.
IDENTITY_ITEMS = ("UID", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
IDENTITY_SAMPLE = 5  # cached UIDs a resync checks when the server tells no MAILBOXID

FIRST_PAGE = 100  # messages in the first header FETCH of a folder: the visible page
HEADER_BATCH = 500  # messages per later header FETCH (one commit each)
BODY_BATCH = 100  # messages per body FETCH, bounded by BODY_BATCH_BYTES as well
BODY_BATCH_BYTES = 8 * 1024 * 1024

NO_TARGET = "the folder to move or copy to is no longer in the store"
UNPLACED = (
    "the message's UID on the server is not known (the action that put it in this folder did"
    " not tell it); the action could not be carried out"
)
MAX_OP_ATTEMPTS = 5  # server refusals of one op before it is given up and shown to the user
RENUMBERED = (
    "the server renumbered this folder (UIDVALIDITY changed); the action could not be carried out"
)
FOLDER_REBUILT = (
    "this folder's name now stands for another folder on the server (renamed or swapped by"
    " another client); its messages are fetched again"
)
FOLDER_CHANGED = (
    "this folder's name now stands for another folder on the server (renamed or swapped by"
    " another client); the action could not be carried out"
)
NOT_CONFIRMED = (
    "the server could not confirm that the message is still the one acted on (it has no"
    " Message-ID to compare); the action was not carried out"
)

# What a failed connection or server looks like to the engine (ends the pass over an account).
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, imapclient.IMAPClient.AbortError)


class SyncCancelled(Exception):
    """The caller set `cancel`; everything committed so far stays."""


@dataclass
class Unreadable:
    """Messages the server ended the connection over (BYE to a FETCH: Dovecot does that when it
    cannot read a message file), kept across the reconnects of one sync (`sync_account`).

    A batch whose FETCH ended the connection becomes `suspects`; after the reconnect its UIDs
    are fetched one at a time, and the one that ends the connection again is `skipped` for the
    rest of the sync. Nothing is kept beyond the sync: a later one tries again.
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


@dataclass(slots=True)
class FolderResult:
    """What a folder sync did."""

    folder_id: int
    name: str
    path: str = ""  # "first", "qresync", "condstore", "full"
    new: int = 0
    flags_changed: int = 0
    expunged: int = 0
    bodies: int = 0
    reset: bool = False
    # UIDs whose body was asked for and did not come back (a server answering under another
    # UID, or leaving one out): the folder's sync failed, and they are asked for next time.
    bodies_missing: list[int] = field(default_factory=list)


@dataclass(slots=True)
class AccountResult:
    """What a pass over an account did."""

    folders: list[FolderResult] = field(default_factory=list)
    folder_errors: dict[str, str] = field(default_factory=dict)
    ops_replayed: int = 0
    ops_waiting: int = 0
    # Messages the server holds marked \\Deleted in the synced folders, where it has no
    # UIDPLUS (they stay until an expunge of their folder; see ImapSync.replay_ops).
    marked_deleted: int = 0

    def summary(self) -> str:
        """One line for people: "3 folders synced, 5 new"; what a folder's first sync stored
        was there already, so it is "first download: 2000 messages", not new."""
        first = sum(f.new for f in self.folders if f.path == "first")
        new = sum(f.new for f in self.folders if f.path != "first")
        flags = sum(f.flags_changed for f in self.folders)
        gone = sum(f.expunged for f in self.folders)
        bodies = sum(f.bodies for f in self.folders)
        rebuilt = sum(1 for f in self.folders if f.reset)
        parts = [f"{len(self.folders)} folder{'s' if len(self.folders) != 1 else ''} synced"]
        if rebuilt:
            # Renumbered, or another folder took the name: what it holds is fetched again.
            parts.append(f"{rebuilt} changed on the server and fetched again")
        if first:
            parts.append(f"first download: {first} message{'s' if first != 1 else ''}")
        if new or not first:
            parts.append(f"{new} new")
        if flags:
            parts.append(f"{flags} flag change{'s' if flags != 1 else ''}")
        if gone:
            parts.append(f"{gone} removed")
        if bodies:
            parts.append(f"{bodies} bod{'ies' if bodies != 1 else 'y'} downloaded")
        if self.ops_replayed:
            parts.append(f"{self.ops_replayed} action{'s' if self.ops_replayed != 1 else ''} sent")
        if self.marked_deleted:
            parts.append(
                f"{self.marked_deleted} marked deleted but kept by the server (no UIDPLUS)"
            )
        if self.folder_errors:
            parts.append(f"{len(self.folder_errors)} failed")
        return ", ".join(parts)


def _bodies_missing_text(uids: Sequence[int]) -> str:
    count = len(uids)
    shown = ", ".join(str(uid) for uid in sorted(uids)[:5]) + (", ..." if count > 5 else "")
    what = "the body of 1 message" if count == 1 else f"the bodies of {count} messages"
    again = "it is" if count == 1 else "they are"
    return (
        f"the server did not send {what} asked for (UID {shown}); {again} asked for again next time"
    )


class ImapSync:
    """One account's IMAP engine over one client and one store connection (same thread)."""

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
    ) -> None:
        self.conn = conn
        # Servers without UIDPLUS: what a delete or move leaves marked \\Deleted (imap.expunge).
        self.expunge = expunge
        self._left_marked: dict[int, int] = {}  # folder id -> marked count, this replay
        self._given_up: list[GivenUp] = []  # user actions given up for good, not yet told
        self._replaying = False  # a replay pass tells them at its end
        self._rebuilt: set[int] = set()  # folders the replay rebuilt, for their sync's result
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
        self._held: set[int] = set()  # UIDs with pending ops in the folder being synced
        self._namespace: str | None = None  # the personal namespace prefix, once asked
        log.info(
            "IMAP %s: resync with %s",
            account,
            "QRESYNC" if self.qresync else "CONDSTORE" if self.condstore else "UID listings",
        )

    # --- the account

    def sync(self, *, folder: str | None = None, bodies: bool = False) -> AccountResult:
        """One pass: the folder list, then every folder (or only `folder`), INBOX first.

        Errors of one folder (it vanished, the server refused it) are recorded on the folder and
        the pass goes on; connection failures end it (they propagate).
        """
        result = AccountResult()
        # The user's actions first: a resync must not undo them.
        result.ops_replayed, result.ops_waiting = self.replay_ops()
        folders = self.sync_folders()
        if folder is not None:
            # The full name, or the name the app shows (without the namespace prefix).
            wanted = read.find_folder_as_named(self.conn, self.account_id, folder)
            if wanted is None:
                raise FolderNotFoundError(f"there is no folder {folder!r} on the server")
            folders = [wanted]
        for info in folders:
            self._check_cancel()
            try:
                synced = self.sync_folder(info.id, bodies=bodies)
                result.folders.append(synced)
                if synced.bodies_missing:
                    message = _bodies_missing_text(synced.bodies_missing)
                    result.folder_errors[info.name] = message
            except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
                if isinstance(exc, imapclient.IMAPClient.AbortError):
                    raise
                message = _error_text(exc)
                write.record_folder_error(self.conn, info.id, message)
                result.folder_errors[info.name] = message
                log.warning("IMAP %s/%s: %s", self.account, sanitize_line(info.name), message)
        marked = read.marked_deleted(self.conn, self.account_id)
        result.marked_deleted = sum(marked.get(f.folder_id, 0) for f in result.folders)
        return result

    def sync_folders(self) -> list[read.FolderInfo]:
        """LIST the server's folders into the store: new ones added, roles and delimiters
        updated, vanished ones removed (unless they hold local-only data). Returns the folders
        that exist on the server, INBOX first.

        Roles come from SPECIAL-USE attributes, asked for with `RETURN (SPECIAL-USE)` where the
        server has it (`listing.list_folders`), else from names. The personal namespace prefix
        is recorded on the account (names are stored whole; only what is shown leaves it out).
        """
        listing: list[tuple[str, str | None, FolderRole]] = []
        try:
            listed = list_folders(self.client)
        except (imapclient.exceptions.ProtocolError, ValueError, TypeError) as exc:
            raise ImapProtocolError(f"a malformed folder list (LIST): {_error_text(exc)}") from exc
        if self._namespace is None:
            # What the folder names begin with ("INBOX." on Cyrus and Courier): the user sees
            # them without it. Asked once per connection.
            personal = personal_namespace(self.client)
            self._namespace = personal[0] if personal else ""
        for flags, delimiter, name in listed:
            lowered = {bytes(f).lower() for f in flags}
            if lowered & UNSELECTABLE:
                continue  # a hierarchy node: it cannot hold messages
            text = name if isinstance(name, str) else bytes(name).decode("utf-8", "replace")
            delim = None
            if delimiter:
                delim = (
                    delimiter.decode("utf-8", "replace")
                    if isinstance(delimiter, bytes)
                    else str(delimiter)
                )
            listing.append((text, delim, folder_role(flags)))
        if not any(name.upper() == "INBOX" for name, _, _ in listing):
            listing.append(("INBOX", None, FolderRole.INBOX))
        server = assign_roles(listing)
        names = {f.name for f in server}
        changed: list[int] = []
        with transaction(self.conn):
            before = {f.name: f for f in read.folders(self.conn, self.account_id)}
            if write.set_folder_prefix(self.conn, self.account_id, self._namespace):
                changed.extend(f.id for f in before.values())
            for item in server:
                known = before.get(item.name)
                folder_id = write.upsert_folder(
                    self.conn, self.account_id, item.name, delimiter=item.delimiter, role=item.role
                )
                if known is None or (known.delimiter, known.role) != (item.delimiter, item.role):
                    changed.append(folder_id)
            for name, info in before.items():
                if name in names:
                    continue
                if read.holds_local_data(self.conn, info.id):
                    # Never lose what exists only here; the user sees why it stays.
                    write.record_folder_error(
                        self.conn, info.id, "this folder is no longer on the server"
                    )
                else:
                    write.delete_folder(self.conn, info.id)
                changed.append(info.id)
        if changed:
            self._changed(changed)
        present = [f for f in read.folders(self.conn, self.account_id) if f.name in names]
        return present

    # --- one folder

    def sync_folder(self, folder_id: int, *, bodies: bool = False) -> FolderResult:
        """Bring one folder of the store up to date with the server."""
        info = self._folder(folder_id)
        result = FolderResult(folder_id, info.name)
        if folder_id in self._rebuilt:  # by the replay (or a body download) before this sync
            self._rebuilt.discard(folder_id)
            result.reset = True
        resynced = (
            info.uidvalidity is not None and info.uidnext is not None and info.last_sync is not None
        )
        qresync = (
            (info.uidvalidity, info.highestmodseq)
            if self.qresync and resynced and info.highestmodseq and info.uidvalidity
            else None
        )
        selected = self._select(info.name, qresync=qresync)
        changed = None
        if info.uidvalidity not in (None, 0):
            if info.uidvalidity != selected.uidvalidity:
                changed = f"UIDVALIDITY changed ({info.uidvalidity} -> {selected.uidvalidity})"
            else:
                changed = self._other_mailbox(info, selected)
        if changed is not None:
            self._reset(info, selected, result, changed)
            info = self._folder(folder_id)
            resynced = False
        elif info.uidvalidity in (None, 0):
            write.update_folder_state(self.conn, folder_id, uidvalidity=selected.uidvalidity)
        if selected.mailbox_id is not None and info.mailbox_id != selected.mailbox_id:
            # First told (or confirmed above by what the folder holds): the folder's identity.
            write.set_mailbox_id(self.conn, folder_id, selected.mailbox_id)
        self._held = self._pending_uids(folder_id, selected.uidvalidity)

        if not resynced:
            result.path = "first" if info.uidnext is None else "full"
            self._full(info, selected, result, first=True)
        elif qresync is not None and selected.highestmodseq is not None:
            result.path = "qresync"
            self._qresync(info, selected, result)
        elif self.condstore and info.highestmodseq and selected.highestmodseq is not None:
            result.path = "condstore"
            self._condstore(info, selected, result)
        else:
            result.path = "full"
            self._full(info, selected, result, first=False)

        if bodies:
            result.bodies = self.download_bodies(
                folder_id, missing=result.bodies_missing, examined=selected
            )
        uidnext = selected.uidnext if selected.uidnext is not None else self._next_uid(folder_id)
        skipped = self.unreadable.skipped.get(folder_id)
        if skipped:  # stay below them, so that the next sync asks for them again
            uidnext = min(uidnext, *skipped)
        write.update_folder_state(
            self.conn,
            folder_id,
            uidnext=uidnext,
            highestmodseq=selected.highestmodseq,
            sync_resume=None,
            last_sync=datetime.now(UTC),
        )
        write.record_folder_error(self.conn, folder_id, skipped_text(skipped) if skipped else None)
        if not self.client.has_capability("UIDPLUS"):
            self._count_marked(folder_id)  # shown in the sync health, expunged on request
        crashpoint("imap.folder_synced")
        self._changed([folder_id])
        if result.new and resynced:
            self.emit(NewMail(self.account, folder_id, result.new))
        return result

    def _pending_uids(self, folder_id: int, uidvalidity: int) -> set[int]:
        """UIDs of the folder that pending user actions still have to change on the server.

        Until the replay has carried them out, the local state is the user's intent: a message
        deleted or moved here must not be fetched again, and its flags not overwritten.
        """
        return {
            target.uid
            for op in ops.pending(self.conn, self.account_id)
            if op.folder_id == folder_id and op.uidvalidity == uidvalidity
            for target in op.targets
            if target.uid is not None
        }

    def _unknown(self, uids: Iterable[int], local: Container[int]) -> list[int]:
        return [uid for uid in uids if uid not in local and uid not in self._held]

    def _reset(
        self,
        info: read.FolderInfo,
        selected: SelectResult,
        result: FolderResult | None,
        why: str,
    ) -> None:
        """Drop the folder's cached server messages (local-only ones stay) and fail its pending
        ops: the mailbox behind the name is not the one cached, or it was renumbered."""
        renumbered = info.uidvalidity not in (None, 0, selected.uidvalidity)
        error, reason = (
            (RENUMBERED, GIVEN_UP_RENUMBERED)
            if renumbered
            else (FOLDER_CHANGED, GIVEN_UP_FOLDER_CHANGED)
        )
        pending = [op for op in ops.pending(self.conn, self.account_id) if op.folder_id == info.id]
        told = [self._told(op, reason, error) for op in pending]
        with transaction(self.conn):
            write.reset_folder(
                self.conn, info.id, selected.uidvalidity, mailbox_id=selected.mailbox_id
            )
            failed = ops.fail_folder(self.conn, info.id, error)
        # What the ops had put in other folders is gone from there too (see ops._settle).
        changed = {info.id} | {
            int(op.args["to_folder_id"]) for op in failed if op.args.get("to_folder_id")
        }
        if result is not None:
            result.reset = True
        else:
            self._rebuilt.add(info.id)
        log.warning(
            "IMAP %s/%s: %s; cache rebuilt, %d pending op(s) failed",
            self.account,
            sanitize_line(info.name),
            sanitize_line(why),
            len(failed),
        )
        self._changed(sorted(changed))
        failed_ids = {op.id for op in failed}
        self._given_up.extend(t for op, t in zip(pending, told, strict=True) if op.id in failed_ids)
        if not self._replaying:
            self._tell_given_up()

    def _same_mailbox(self, info: read.FolderInfo, selected: SelectResult) -> bool | None:
        """Whether the selected mailbox is the one the folder's cache was made from, by
        MAILBOXID; None when that cannot tell (the server or the store has none)."""
        if info.mailbox_id is None or selected.mailbox_id is None:
            return None
        return info.mailbox_id == selected.mailbox_id

    def _other_mailbox(self, info: read.FolderInfo, selected: SelectResult) -> str | None:
        """Why the selected mailbox (of the same UIDVALIDITY) is not the one cached, or None.

        MAILBOXID decides where both sides have one. Elsewhere what the server says does: UIDNEXT
        and HIGHESTMODSEQ never go back in one mailbox, and the cached UIDs sampled (one FETCH)
        must hold the same messages, or at least one of them be there when the folder is not
        empty. A folder with nothing cached has nothing to compare (and little to get wrong).
        """
        same = self._same_mailbox(info, selected)
        if same is not None:
            return None if same else "its MAILBOXID changed: another folder has taken its name"
        before, now = info.uidnext, selected.uidnext
        if before is not None and now is not None and now < before:
            return f"its UIDNEXT went back ({before} -> {now})"
        if (
            info.highestmodseq
            and selected.highestmodseq is not None
            and selected.highestmodseq < info.highestmodseq
        ):
            return f"its HIGHESTMODSEQ went back ({info.highestmodseq} -> {selected.highestmodseq})"
        sample = read.identity_sample(self.conn, info.id, IDENTITY_SAMPLE)
        if not sample or not selected.exists:
            return None
        found = self._identities([item.uid for item in sample])
        for item in sample:
            if item.uid in found and same_message(item, found[item.uid]) is False:
                return f"UID {item.uid} holds another message than the one cached"
        if not found:
            return "none of the cached messages checked is in it any more"
        return None

    def _identities(self, uids: Sequence[int]) -> dict[int, read.Identity]:
        """What the server holds under `uids` now (absent UIDs are left out): one FETCH."""
        if not uids:
            return {}
        data, _ = imap_ext.uid_fetch(self.client, uid_set(uids), IDENTITY_ITEMS)
        asked = set(uids)
        return {uid: identity_of(uid, item) for uid, item in data.items() if uid in asked}

    def _confirmed(
        self,
        op: ops.PendingOp,
        folder: read.FolderInfo,
        selected: SelectResult,
        uids: list[int],
    ) -> list[int]:
        """The UIDs of `uids` still in the selected folder, each confirmed to hold the message
        the op was queued for; raises FolderChangedError when one holds another message, or
        cannot be confirmed. An op never acts on a message it was not queued for.

        The MAILBOXID vouches for every UID where the server and the store have one; elsewhere
        the messages' Message-IDs (or sizes, for a message without one) are compared in one
        FETCH, which also tells which UIDs are gone (an expunged message needs no action).
        """
        same = self._same_mailbox(folder, selected)
        if same is False:
            raise FolderChangedError(FOLDER_CHANGED, selected)
        if same:
            return uids
        expected = self._expected(op)
        found = self._identities(uids)
        confirmed = []
        for uid in uids:
            if uid not in found:
                continue
            want = expected.get(uid)
            verdict = None if want is None else same_message(want, found[uid])
            if verdict is False:
                raise FolderChangedError(FOLDER_CHANGED, selected)
            if verdict is None:
                raise FolderChangedError(NOT_CONFIRMED, selected)
            confirmed.append(uid)
        return confirmed

    def _expected(self, op: ops.PendingOp) -> dict[int, read.Identity]:
        """UID -> what the op was queued for under it: the Message-ID (and size) the op
        recorded, else, for an op queued before they were recorded, what its row says now."""
        headers = op.args.get("message_id_headers")
        sizes = op.args.get("sizes")
        expected: dict[int, read.Identity] = {}
        for index, target in enumerate(op.targets):
            if target.uid is None:
                continue
            if isinstance(headers, list) and index < len(headers):
                header = headers[index]
                size = sizes[index] if isinstance(sizes, list) and index < len(sizes) else None
                expected[target.uid] = read.Identity(
                    target.uid,
                    str(header) if header else None,
                    int(size) if isinstance(size, int) else None,
                )
                continue
            row = read.row(self.conn, target.message_id)
            if row is not None and row.envelope.message_id:
                expected[target.uid] = read.Identity(target.uid, row.envelope.message_id, None)
        return expected

    def _full(
        self,
        info: read.FolderInfo,
        selected: SelectResult,
        result: FolderResult,
        *,
        first: bool,
    ) -> None:
        """Compare the server's UID list with the store: expunge, flag diff, fetch what lacks."""
        server_uids = imap_ext.uid_search(self.client, "ALL") if selected.exists else []
        local = read.uid_flags(self.conn, info.id)
        on_server = set(server_uids)
        gone = [uid for uid in local if uid not in on_server]
        if gone:
            result.expunged += write.expunge_uids(self.conn, info.id, gone)
            crashpoint("imap.expunges_committed")
        known = [uid for uid in server_uids if uid in local]
        if known:
            # After an interrupted first sync the stored part may be stale too.
            data, _ = imap_ext.uid_fetch(self.client, f"1:{known[-1]}", ("UID", "FLAGS"))
            result.flags_changed += self._apply_flags(info.id, local, data)
        missing = [
            uid for uid in reversed(server_uids) if uid not in local and uid not in self._held
        ]
        if missing:
            # As the other paths: a message marked \\Deleted is not fetched (see the module).
            deleted = set(imap_ext.uid_search(self.client, "DELETED"))
            missing = [uid for uid in missing if uid not in deleted]
        result.new += self._fetch_headers(info, missing, resume=first)

    def _qresync(self, info: read.FolderInfo, selected: SelectResult, result: FolderResult) -> None:
        start = info.uidnext or 1
        if not selected.vanished.ranges and all(uid >= start for uid in selected.changed):
            # Nothing expunged, and the changes reported are new mail (new messages carry a new
            # modseq too). Only the stored messages at or above the lowest of those UIDs matter
            # (an interrupted run may have stored some), not the whole folder.
            new = self._new_uids(info, selected)
            uids = [*new, *selected.changed]
            stored = read.uid_flags_from(self.conn, info.id, min(uids)) if uids else {}
            result.flags_changed += self._apply_flags(info.id, stored, selected.changed)
            result.new += self._fetch_headers(info, self._unknown(reversed(new), stored))
            return
        local = read.uid_flags(self.conn, info.id)
        gone = selected.vanished.select(local)
        if gone:
            result.expunged += write.expunge_uids(self.conn, info.id, gone)
            crashpoint("imap.expunges_committed")
        result.flags_changed += self._apply_flags(info.id, local, selected.changed)
        result.new += self._fetch_new(info, selected, local)
        result.new += self._fetch_headers(info, self._unmarked(info, selected.changed, local))

    def _condstore(
        self, info: read.FolderInfo, selected: SelectResult, result: FolderResult
    ) -> None:
        assert info.uidnext is not None and info.highestmodseq is not None
        local = read.uid_flags(self.conn, info.id)
        if selected.highestmodseq != info.highestmodseq and info.uidnext > 1:
            data, _ = imap_ext.uid_fetch(
                self.client,
                f"1:{info.uidnext - 1}",
                ("UID", "FLAGS"),
                (f"CHANGEDSINCE {info.highestmodseq}",),
            )
            result.flags_changed += self._apply_flags(info.id, local, data)
            result.new += self._fetch_headers(info, self._unmarked(info, data, local))
        new = self._new_uids(info, selected)
        # Without QRESYNC an expunge shows only in the count: list UIDs only when it is off.
        if selected.exists != len(local) + len(new):
            below = imap_ext.uid_search(self.client, f"UID 1:{max(info.uidnext - 1, 1)}")
            on_server = set(below)
            gone = [uid for uid in local if uid < info.uidnext and uid not in on_server]
            if gone:
                result.expunged += write.expunge_uids(self.conn, info.id, gone)
                crashpoint("imap.expunges_committed")
        result.new += self._fetch_headers(info, self._unknown(reversed(new), local))

    def _unmarked(
        self,
        info: read.FolderInfo,
        changed: dict[int, dict[bytes, Any]],
        local: Container[int],
    ) -> list[int]:
        """Changed UIDs below the last UIDNEXT that the store lacks and the server no longer
        marks \\Deleted, newest first: messages skipped as deleted when they arrived, whose
        mark another client has removed since (new mail is found by UIDNEXT instead)."""
        start = info.uidnext or 1
        return sorted(
            (
                uid
                for uid, item in changed.items()
                if uid < start
                and uid not in local
                and uid not in self._held
                and item.get(b"FLAGS") is not None
                and DELETED not in server_flags(item[b"FLAGS"])
            ),
            reverse=True,
        )

    def _fetch_new(
        self,
        info: read.FolderInfo,
        selected: SelectResult,
        local: dict[int, frozenset[str]],
    ) -> int:
        new = self._new_uids(info, selected)
        return self._fetch_headers(info, self._unknown(reversed(new), local))

    def _new_uids(self, info: read.FolderInfo, selected: SelectResult) -> list[int]:
        """UIDs at or above the UIDNEXT of the last sync (none when UIDNEXT did not move)."""
        start = info.uidnext or 1
        if selected.uidnext is not None and selected.uidnext <= start:
            return []
        if not selected.exists:
            return []
        # "n:*" always includes the highest UID, even below n: filter.
        return [
            uid
            for uid in imap_ext.uid_search(self.client, f"UID {start}:* UNDELETED")
            if uid >= start
        ]

    def _apply_flags(
        self,
        folder_id: int,
        local: dict[int, frozenset[str]],
        data: dict[int, dict[bytes, Any]],
    ) -> int:
        changes: dict[int, tuple[bytes | str, ...]] = {}
        for uid, item in data.items():
            flags = item.get(b"FLAGS")
            if uid not in local or flags is None or uid in self._held:
                continue
            decoded = server_flags(flags)
            if decoded != local[uid]:
                changes[uid] = tuple(decoded)
        if not changes:
            return 0
        changed = write.set_flags(self.conn, folder_id, changes)
        crashpoint("imap.flags_committed")
        return changed

    def _fetch_headers(
        self, info: read.FolderInfo, uids: Sequence[int], *, resume: bool = False
    ) -> int:
        """Fetch and store headers of `uids` (newest first), one commit per batch."""
        skipped = self.unreadable.skipped.get(info.id, {})
        uids = [uid for uid in uids if uid not in skipped]
        total = len(uids)
        if not total:
            return 0
        done = 0
        self._progress(info.name, 0, total)
        for chunk in _batches(uids, self.first_page, self.header_batch):
            self._check_cancel()
            data = self._fetch_messages(info.id, chunk, HEADER_ITEMS)
            incoming = [_incoming(uid, data[uid]) for uid in chunk if uid in data]
            # Two commits, not one transaction around both: a nested store_messages would be a
            # savepoint, whose release costs a full-text index flush (time, and memory that
            # grows with the store). The resume note is only a hint: the next run compares UIDs.
            write.store_messages(self.conn, info.id, incoming)
            if resume and incoming:
                write.update_folder_state(self.conn, info.id, sync_resume=f"below:{min(chunk)}")
            crashpoint("imap.headers_committed")
            done += len(chunk)
            self._changed([info.id])
            self._progress(info.name, done, total)
        return total

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
            data.update(self._fetch_or_note(folder_id, [uid], items))
            suspects.discard(uid)
        rest = [uid for uid in uids if uid not in suspects and uid not in data]
        if rest:
            data.update(self._fetch_or_note(folder_id, rest, items))
        return data

    def _fetch_or_note(
        self, folder_id: int, uids: Sequence[int], items: Sequence[str]
    ) -> dict[int, dict[bytes, Any]]:
        try:
            data, _ = imap_ext.uid_fetch(self.client, uid_set(uids), items)
        except imap_ext.LiteralTooLargeError as exc:
            # The rest of the answer is still on the wire: this connection is done. Fetched
            # again one at a time after the reconnect, the message that is too large alone is
            # skipped and named; the others are stored.
            self.client.shutdown()
            self._note_unreadable(folder_id, uids, _error_text(exc), "was too large")
            raise FetchEndedConnection(_error_text(exc)) from exc
        except imapclient.IMAPClient.AbortError as exc:
            said = imap_wire.imaplib_of(self.client).untagged_responses.get("BYE")
            if not said:
                raise  # the connection broke: not the message's doing
            self._note_unreadable(
                folder_id, uids, _error_text(exc), "made the server end the connection"
            )
            raise FetchEndedConnection(_error_text(exc)) from exc
        return data

    def _note_unreadable(self, folder_id: int, uids: Sequence[int], why: str, what: str) -> None:
        """One message: skipped for the rest of the sync, named with `why`. A batch: its UIDs
        become suspects, fetched one at a time after the reconnect."""
        if len(uids) == 1:
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

    # --- ops replay

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
        done = left = 0
        waiting: set[int] = set()  # rows named by ops left pending in this pass
        for queued in ops.pending(self.conn, self.account_id):
            self._check_cancel()
            # Read again: an earlier op's replay may have given this one the UIDs it lacked.
            op = ops.get(self.conn, queued.id)
            if op is None or op.state is not ops.OpState.PENDING:
                continue
            rows = {target.message_id for target in op.targets}
            if rows & waiting:
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
                message = _error_text(exc)
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
        kind = op.kind
        if kind in (ops.OpKind.SEEN, ops.OpKind.UNSEEN, ops.OpKind.FLAG, ops.OpKind.UNFLAG):
            flag = str(op.args.get("flag") or SEEN)
            if kind in (ops.OpKind.SEEN, ops.OpKind.FLAG):
                self.client.add_flags(uids, [flag], silent=True)
            else:
                self.client.remove_flags(uids, [flag], silent=True)
            return
        if kind is ops.OpKind.DELETE:
            self.client.add_flags(uids, [DELETED], silent=True)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
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

    def _count_marked(self, folder_id: int) -> int:
        """Count and record the selected folder's messages marked \\Deleted (no UIDPLUS)."""
        count = len(imap_ext.uid_search(self.client, "DELETED"))
        write.set_marked_deleted(self.conn, folder_id, count)
        return count

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

    # --- bodies

    def download_bodies(
        self,
        folder_id: int,
        *,
        missing: list[int] | None = None,
        examined: SelectResult | None = None,
    ) -> int:
        """Download every body of the folder not yet local (BODY.PEEK: \\Seen is not set),
        newest first, committed in batches. Returns how many were stored; the UIDs asked for
        whose body the server did not send are added to `missing`. `examined`: what the
        caller's EXAMINE of the folder just said on this connection (a folder sync), so it is
        not examined again.

        Pipelined: while batches are parsed for the index (in worker processes when there are
        many, see `BodyIndexer`), the next ones are fetched; each batch is committed as before,
        in order, once its parse is done.
        """
        info = self._folder(folder_id)
        rows = read.without_body(self.conn, folder_id)
        if not rows:
            return 0
        wanted = [(row_id, uid, size) for row_id, uid, size, _ in rows]
        from tuimail.store.indexer import BodyIndexer  # multiprocessing: only when needed

        selected = examined if examined is not None else self._select(info.name)
        same = self._same_mailbox(info, selected)
        if same is False or info.uidvalidity not in (None, 0, selected.uidvalidity):
            self._reset(info, selected, None, "it is another folder than the one cached")
            raise FolderChangedError(FOLDER_REBUILT)
        # Without a MAILBOXID to vouch for the folder, each body comes with what tells whose
        # it is (in the same FETCH), and is kept only under the row of that message.
        items = BODY_ITEMS if same else (*BODY_ITEMS, *IDENTITY_ITEMS[1:])
        expected = (
            {} if same else {uid: read.Identity(uid, mid, size) for _, uid, size, mid in rows}
        )
        strangers: list[int] = []
        total = len(wanted)
        self._progress(info.name, 0, total)
        stored = 0
        unsent: list[int] = []  # asked for, not answered with a body
        pending: deque[_BodyBatch] = deque()
        with BodyIndexer(total) as indexer:
            for chunk in _size_batches(wanted, self.body_batch, BODY_BATCH_BYTES):
                if len(pending) >= indexer.ahead:
                    stored += self._store_bodies(folder_id, indexer, pending.popleft())
                    self._progress(info.name, min(stored, total), total)
                self._check_cancel()
                for _, uid, size in chunk:
                    if size > self.max_literal:  # known too large from the headers: not fetched
                        self.unreadable.skipped.setdefault(folder_id, {}).setdefault(
                            uid, f"{size:,} bytes, over the limit of {self.max_literal:,} bytes"
                        )
                skipped = self.unreadable.skipped.get(folder_id, {})
                uids = [uid for _, uid, _ in chunk if uid not in skipped]
                data = self._fetch_messages(folder_id, uids, items) if uids else {}
                bodies = []
                for message_id, uid, _ in chunk:
                    raw = data.get(uid, {}).get(b"BODY[]")
                    if (
                        isinstance(raw, bytes)
                        and uid in expected
                        and same_message(expected[uid], identity_of(uid, data[uid])) is False
                    ):
                        strangers.append(uid)
                        continue
                    if isinstance(raw, bytes):
                        bodies.append((message_id, raw))
                    elif uid not in skipped:
                        unsent.append(uid)
                del data
                pending.append(_BodyBatch(bodies, indexer.submit([raw for _, raw in bodies])))
            while pending:
                stored += self._store_bodies(folder_id, indexer, pending.popleft())
                self._progress(info.name, min(stored, total), total)
        if strangers:
            why = f"UID {strangers[0]} holds another message than the one cached"
            self._reset(info, selected, None, why)
            raise FolderChangedError(FOLDER_REBUILT)
        if unsent and missing is not None:
            # A message expunged meanwhile has no body to send: only those still there count.
            present = set(imap_ext.uid_search(self.client, f"UID {uid_set(unsent).decode()}"))
            missing.extend(uid for uid in unsent if uid in present)
        return stored

    def _store_bodies(
        self,
        folder_id: int,
        indexer: BodyIndexer,
        batch: _BodyBatch,
    ) -> int:
        """Commit one batch of fetched bodies (waiting for its parse); returns how many."""
        indexes = indexer.result(batch.indexes, [raw for _, raw in batch.bodies])
        write.store_bodies(
            self.conn,
            [
                (message_id, raw, index)
                for (message_id, raw), index in zip(batch.bodies, indexes, strict=True)
            ],
        )
        crashpoint("imap.bodies_committed")
        self._changed([folder_id])
        return len(batch.bodies)

    def fetch_body(self, message_id: int, *, full: bool = False) -> bytes:
        """Fetch one message's body (BODY.PEEK, so \\Seen is not set) and keep it; returns the
        bytes kept. Raises MessageGoneError when the server no longer has the message.

        Without `full`, a message with attachments (as its BODYSTRUCTURE shows) gets only its
        text: the header, every part's MIME header and the text bodies in one FETCH, rebuilt
        and kept as a partial body (`imap_structure`), and the rebuilt bytes are returned. A
        message without attachments, or whose structure lacks the boundaries, is fetched whole
        as with `full`: its exact bytes are kept (replacing a partial body) and returned.
        """
        body = read.body(self.conn, message_id)
        if body is not None:
            return body
        if not full:
            partial = read.partial_body(self.conn, message_id)
            if partial is not None:
                return partial.raw
        row = read.row(self.conn, message_id)
        if row is None:
            raise MessageGoneError("the message is no longer in this folder")
        info = self._folder(row.folder_id)
        if row.uid is None:
            raise MessageGoneError("the message is not on the server yet")
        selected = self._select(info.name)
        changed = MessageGoneError("the folder changed on the server; sync it again")
        if info.uidvalidity is not None and selected.uidvalidity != info.uidvalidity:
            raise changed
        same = self._same_mailbox(info, selected)
        if same is False:
            raise changed
        # Without a MAILBOXID, the FETCH also says whose message the UID holds now.
        expected = (
            None if same else read.Identity(row.uid, row.envelope.message_id, row.envelope.size)
        )
        if not full:
            rebuilt = self._fetch_text_only(message_id, row.uid, expected)
            if rebuilt is not None:
                self._changed([row.folder_id])
                return rebuilt
        items = BODY_ITEMS if expected is None else (*BODY_ITEMS, *IDENTITY_ITEMS[1:])
        data, _ = imap_ext.uid_fetch(self.client, str(row.uid), items)
        raw = data.get(row.uid, {}).get(b"BODY[]")
        if not isinstance(raw, bytes):
            raise MessageGoneError("the message is no longer on the server")
        if (
            expected is not None
            and same_message(expected, identity_of(row.uid, data[row.uid])) is False
        ):
            raise changed
        write.store_body(self.conn, message_id, raw)
        self._changed([row.folder_id])
        return raw

    def _fetch_text_only(
        self, message_id: int, uid: int, expected: read.Identity | None
    ) -> bytes | None:
        """Fetch and keep a message's text without its attachments; None when the message has
        none, or its structure cannot be rebuilt (then the caller fetches it whole). With
        `expected`, the UID must still hold that message (MessageGoneError otherwise)."""
        # The email package: only when a body is opened.
        from tuimail.sync.imap import structure as imap_structure

        items = ("UID", "BODYSTRUCTURE") if expected is None else (*IDENTITY_ITEMS, "BODYSTRUCTURE")
        data, _ = imap_ext.uid_fetch(self.client, str(uid), items)
        if uid not in data:
            raise MessageGoneError("the message is no longer on the server")
        if expected is not None and same_message(expected, identity_of(uid, data[uid])) is False:
            raise MessageGoneError("the folder changed on the server; sync it again")
        plan = imap_structure.plan_partial(data[uid].get(b"BODYSTRUCTURE"))
        if plan is None:
            return None
        data, _ = imap_ext.uid_fetch(self.client, str(uid), ("UID", *plan.items))
        if uid not in data:
            raise MessageGoneError("the message is no longer on the server")
        try:
            raw, omitted = plan.rebuild(data[uid])
        except imap_structure.StructureError as exc:
            log.info("message %s: fetching it whole: %s", message_id, exc)
            return None
        write.store_partial_body(self.conn, message_id, raw, omitted)
        return raw

    # --- helpers

    def _select(
        self, name: str, *, readonly: bool = True, qresync: tuple[int, int] | None = None
    ) -> SelectResult:
        result = select(
            self.client,
            name,
            readonly=readonly,
            condstore=self.condstore and qresync is None,
            qresync=qresync,
        )
        self._selected = (name, readonly)
        if result.mailbox_id is not None and not self.objectid:
            result = replace(result, mailbox_id=None)
        return result

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


@dataclass(slots=True)
class _BodyBatch:
    """Bodies fetched in one FETCH, (row id, raw) in order, and their parse in progress."""

    bodies: list[tuple[int, bytes]]
    indexes: Future[list[BodyIndex]]


class RenumberedError(Exception):
    """The folder's UIDVALIDITY is not the one an op was queued under."""


class FolderChangedError(ImapProtocolError):
    """The folder's name stands for another mailbox than the one cached (or a message under a
    UID could not be confirmed to be the one cached): nothing is done to it under those UIDs.
    `selected`: what selecting the folder said, where the replay found it out."""

    def __init__(self, message: str, selected: SelectResult | None = None) -> None:
        super().__init__(message)
        self.selected = selected


class FolderNotFoundError(Exception):
    """The folder asked for is not on the server."""


def server_flags(flags: Iterable[bytes | str]) -> frozenset[str]:
    """Server flags as the store keeps them (canonical case, no \\Recent)."""
    return codec.decode_flags(codec.encode_flags(flags))


def _incoming(uid: int, item: dict[bytes, Any]) -> IncomingMessage:
    header = b""
    for key, value in item.items():
        if key.upper().startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            header = value
            break
    internaldate = item.get(b"INTERNALDATE")
    size = item.get(b"RFC822.SIZE")
    return IncomingMessage(
        header_bytes=header,
        uid=uid,
        flags=tuple(item.get(b"FLAGS") or ()),
        internaldate=internaldate if isinstance(internaldate, datetime) else None,
        size=size if isinstance(size, int) else None,
    )


def identity_of(uid: int, item: dict[bytes, Any]) -> read.Identity:
    """A message's identity from a FETCH of IDENTITY_ITEMS."""
    from tuimail.mail.parse import parse_envelope  # the email package: only when needed

    header = b""
    for key, value in item.items():
        if key.upper().startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            header = value
            break
    size = item.get(b"RFC822.SIZE")
    message_id = parse_envelope(header).message_id if header.strip() else None
    return read.Identity(uid, message_id, size if isinstance(size, int) else None)


def same_message(expected: read.Identity, found: read.Identity) -> bool | None:
    """Whether `found` is the message `expected` stands for: by Message-ID, else (neither has
    one) by size; None when neither tells."""
    if expected.message_id is not None or found.message_id is not None:
        return expected.message_id == found.message_id
    if expected.size is not None and found.size is not None:
        return expected.size == found.size
    return None


def _batches(items: Sequence[int], first: int, rest: int) -> Iterator[Sequence[int]]:
    """The first `first` items, then chunks of `rest`."""
    if items:
        yield items[:first]
    for start in range(first, len(items), rest):
        yield items[start : start + rest]


def _size_batches(
    rows: Sequence[tuple[int, int, int]], count: int, budget: int
) -> Iterator[list[tuple[int, int, int]]]:
    """Rows (id, uid, size) in batches of at most `count` rows and about `budget` bytes."""
    batch: list[tuple[int, int, int]] = []
    size = 0
    for row in rows:
        if batch and (len(batch) >= count or size + row[2] > budget):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row[2]
    if batch:
        yield batch


def _error_text(exc: BaseException) -> str:
    return sanitize_line(str(exc) or type(exc).__name__)[:300]
