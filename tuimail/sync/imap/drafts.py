"""Copy an IMAP account's drafts to its Drafts folder, and remove the copies of discarded ones.

`sync_drafts(account, data_dir, emit)` makes one pass; the app runs it when the composer closes
or goes idle, and at the start of each mail pass. It connects only when there is work: a draft
saved since its last upload, or a discarded draft that had (or may have had) a server copy.

Uploading a draft (the `drafts` table is the local truth; server copies follow it):
1. build its bytes from the saved fields (compose: the Message-ID stays the draft's), and
   commit them with the Drafts folder as the draft's server folder (`drafts.begin_upload`), so
   a discard from now on waits for this worker;
2. APPEND to the Drafts folder with \\Draft \\Seen; the new UID comes from APPENDUID (UIDPLUS),
   else from a SEARCH for the Message-ID (the newest hit: a later APPEND has a higher UID);
3. delete every other copy: the one recorded before, and any other message of the Drafts folder
   with the draft's Message-ID (left by a run that died after its APPEND): UID STORE +FLAGS
   \\Deleted, then UID EXPUNGE with UIDPLUS; without UIDPLUS the copies stay marked \\Deleted
   (a plain EXPUNGE would also remove what other clients marked);
4. record the new copy (`drafts.record_upload`).
A run killed anywhere leaves at worst an extra copy with the same Message-ID, which the next
upload of that draft removes: the draft is still marked for upload until step 4.

Removing a discarded draft: its recorded copy, and every message with its Message-ID in its
server folder and in the Drafts folder, are deleted as above; then the row is deleted.

An account whose server has no Drafts folder keeps its drafts local (none is created). Never
raises for server, network or store trouble: failures are reported through `emit`.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import imapclient
import imapclient.exceptions

from tuimail.config.schema import AccountConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import DELETED, DRAFT, SEEN, FolderRole, Protocol
from tuimail.mail.compose import ComposeError
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts, read
from tuimail.store.drafts import ServerCopy, StoredDraft
from tuimail.sync.events import Emit, StoreChanged
from tuimail.sync.imap.connect import imap_for

log = logging.getLogger(__name__)

# The drafts lock (one worker per account, across processes): how long a second one waits.
LOCK_WAIT_SECONDS = 30.0
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DraftsResult:
    """What a pass did."""

    uploaded: int = 0
    removed: int = 0
    skipped: int = 0  # drafts that cannot be built (a bad address, a missing attachment)
    error: str | None = None


def drafts_folder(conn: sqlite3.Connection, account_id: int) -> read.FolderInfo | None:
    """The account's Drafts folder as the store knows it from the server (None: it has none)."""
    return next((f for f in read.folders(conn, account_id) if f.role is FolderRole.DRAFTS), None)


def draft_bytes(conn: sqlite3.Connection, stored: StoredDraft) -> bytes:
    """The bytes of a saved draft, with its own Message-ID. Raises ComposeError when it cannot be
    built (a bad address, an unreadable attachment, a forwarded message no longer stored)."""
    return drafts.compose_draft(conn, stored.draft, message_id=stored.message_id).as_bytes()


def sync_drafts(
    account: AccountConfig,
    data_dir: Path,
    emit: Emit,
    *,
    cancel: threading.Event | None = None,
    password: Callable[[], str] | None = None,
    lock_timeout: float = LOCK_WAIT_SECONDS,
) -> DraftsResult:
    """One pass over the drafts of an IMAP account (see the module docstring)."""
    from tuimail.sync.session import EngineSession

    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    name = account.name
    cancel = cancel or threading.Event()
    with EngineSession(
        account, Protocol.IMAP, data_dir, emit, prefix="drafts: ", log_level=logging.WARNING
    ) as session:
        conn = session.store()
        if not drafts_due(conn, name):
            return DraftsResult()  # nothing to do: no connection
        session.lock("drafts", timeout=lock_timeout)
        return copy_drafts(conn, name, imap_for(session, password), emit, cancel=cancel)
    assert session.failure is not None
    return DraftsResult(error=session.failure.message)


def drafts_due(conn: sqlite3.Connection, account: str) -> bool:
    """Whether account `account` has a draft to upload or a server copy to remove."""
    account_id = read.account_id(conn, account)
    if account_id is None:
        return False
    folder = drafts_folder(conn, account_id)
    uploads = drafts.uploads_due(conn, account_id) if folder is not None else []
    return bool(uploads or drafts.removals_due(conn, account_id))


def copy_drafts(
    conn: sqlite3.Connection,
    account: str,
    client: imapclient.IMAPClient,
    emit: Emit,
    *,
    cancel: threading.Event | None = None,
) -> DraftsResult:
    """Upload the drafts due and remove the copies of discarded ones, on a logged-in `client`
    (the caller holds the account's drafts lock). Server and network errors propagate."""
    account_id = read.account_id(conn, account)
    if account_id is None:
        return DraftsResult()
    cancel = cancel or threading.Event()
    folder = drafts_folder(conn, account_id)
    worker = _DraftsWorker(conn, client, folder)
    # Read again under the lock: another pass may have done some of it.
    if folder is not None:
        for stored in drafts.uploads_due(conn, account_id):
            if cancel.is_set():
                break
            worker.upload(stored)
    for stored in drafts.removals_due(conn, account_id):
        if cancel.is_set():
            break
        worker.remove(stored)
    changed = (folder.id,) if folder is not None else ()
    emit(StoreChanged(account, changed, read.revision(conn)))
    if worker.skipped:
        log.warning("IMAP %s: %d draft(s) cannot be built yet", account, worker.skipped)
    return DraftsResult(worker.uploaded, worker.removed, worker.skipped)


class _DraftsWorker:
    """The IMAP side of a pass: one client, one store connection (same thread)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        client: imapclient.IMAPClient,
        folder: read.FolderInfo | None,
    ) -> None:
        self.conn = conn
        self.client = client
        self.folder = folder
        self.uidplus = client.has_capability("UIDPLUS")
        self.uploaded = self.removed = self.skipped = 0

    def upload(self, stored: StoredDraft) -> None:
        folder = self.folder
        assert folder is not None
        try:
            raw = draft_bytes(self.conn, stored)
        except ComposeError as exc:
            log.warning("draft %d cannot be built: %s", stored.id, exc)
            self.skipped += 1
            return
        if not drafts.begin_upload(
            self.conn, stored.id, folder.id, fields_json=stored.fields_json, raw=raw
        ):
            return  # discarded meanwhile: the removal below deals with it
        uidvalidity = self._select(folder.name)
        response = self.client.append(folder.name, raw, flags=(DRAFT, SEEN))
        crashpoint("drafts.appended")
        new_uid = self._appended_uid(response, uidvalidity)
        copies = self._copies(stored.message_id)
        if new_uid is None and copies:
            new_uid = max(copies)
        stale = [uid for uid in copies if uid != new_uid]
        old = stored.server
        if old is not None and old.uid is not None and old.folder_id != folder.id:
            self._delete_recorded(old, stored.message_id)
            self._select(folder.name)
        elif (
            old is not None
            and old.uid is not None
            and old.uidvalidity == uidvalidity
            and old.uid not in copies
            and self._holds(old.uid, stored.message_id)
        ):
            stale.append(old.uid)
        self._delete([uid for uid in stale if uid != new_uid])
        crashpoint("drafts.old_copies_deleted")
        copy = ServerCopy(folder.id, uidvalidity if new_uid is not None else None, new_uid)
        drafts.record_upload(self.conn, stored.id, copy, fields_json=stored.fields_json)
        self.uploaded += 1

    def remove(self, stored: StoredDraft) -> None:
        old = stored.server
        where = [f for f in (old.folder_id if old else None,) if f is not None]
        if self.folder is not None and self.folder.id not in where:
            where.append(self.folder.id)
        for folder_id in where:
            info = read.folder(self.conn, folder_id)
            if info is None:
                continue
            uidvalidity = self._select(info.name, missing_ok=True)
            if uidvalidity is None:
                continue  # the folder is gone from the server, and its messages with it
            doomed = set(self._copies(stored.message_id))
            if (
                old is not None
                and old.folder_id == folder_id
                and old.uid is not None
                and old.uidvalidity == uidvalidity
                and old.uid not in doomed
                and self._holds(old.uid, stored.message_id)
            ):
                doomed.add(old.uid)
            self._delete(sorted(doomed))
        crashpoint("drafts.discarded_removed")
        drafts.purge(self.conn, stored.id)
        self.removed += 1

    # --- IMAP helpers

    def _select(self, name: str, *, missing_ok: bool = False) -> int | None:
        """SELECT (read-write) `name`; its UIDVALIDITY. With `missing_ok`, None when the server
        refuses it (the folder no longer exists)."""
        from tuimail.sync.imap.selection import select

        try:
            return select(self.client, name, readonly=False).uidvalidity
        except imapclient.exceptions.IMAPClientError as exc:
            if not missing_ok or isinstance(exc, imapclient.IMAPClient.AbortError):
                raise
            log.info("drafts: folder %s cannot be selected: %s", sanitize_line(name), exc)
            return None

    def _appended_uid(self, response: object, uidvalidity: int | None) -> int | None:
        """The UID of the APPEND from its APPENDUID code (trusted with UIDPLUS only)."""
        if not self.uidplus or not isinstance(response, bytes | str):
            return None
        text = response.encode() if isinstance(response, str) else response
        found = _APPENDUID.search(text)
        if found is None or int(found.group(1)) != uidvalidity:
            return None
        return int(found.group(2))

    def _copies(self, message_id: str) -> list[int]:
        """UIDs in the selected folder whose Message-ID is exactly the draft's."""
        from tuimail.sync.imap import extensions as imap_ext

        return imap_ext.search_message_ids(self.client, [message_id]).get(message_id, [])

    def _holds(self, uid: int, message_id: str) -> bool:
        """Whether UID `uid` of the selected folder holds the draft (its Message-ID): a recorded
        UID is deleted only then, since the folder's name may stand for another mailbox by now
        (renamed or swapped by another client, with the same UIDVALIDITY)."""
        from tuimail.sync.imap import extensions as imap_ext
        from tuimail.sync.imap.identity import IDENTITY_ITEMS, identity_of

        data, _ = imap_ext.uid_fetch(self.client, str(uid), IDENTITY_ITEMS)
        return uid in data and identity_of(uid, data[uid]).message_id == message_id

    def _delete_recorded(self, copy: ServerCopy, message_id: str) -> None:
        """Delete a copy recorded in another folder than the Drafts folder (an edited draft)."""
        info = read.folder(self.conn, copy.folder_id)
        if info is None or copy.uid is None:
            return
        uidvalidity = self._select(info.name, missing_ok=True)
        if (
            uidvalidity is not None
            and uidvalidity == copy.uidvalidity
            and self._holds(copy.uid, message_id)
        ):
            self._delete([copy.uid])

    def _delete(self, uids: Iterable[int]) -> None:
        """Delete messages of the selected folder: \\Deleted, then UID EXPUNGE of just them
        (without UIDPLUS they stay marked: never a plain EXPUNGE)."""
        wanted = sorted(set(uids))
        if not wanted:
            return
        self.client.add_flags(wanted, [DELETED], silent=True)
        if self.uidplus:
            self.client.uid_expunge(wanted)
