"""The folder resync (`FolderResync.sync_folder`): header-first, by the best the server offers.

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
- A folder renumbered (UIDVALIDITY), or whose name stands for another mailbox, is rebuilt first
  (see tuimail.sync.imap.identity).
- A message the store does not have and the server holds marked \\Deleted is not fetched, on
  every path: it is on its way out, and it may be one this client deleted or moved away on a
  server without UIDPLUS (where the original stays, marked, until some client expunges it).
  A stored message that another client marks \\Deleted stays, with the flag, until expunged.
  When the mark is removed, the message is fetched then: the full path lists every UID; on the
  QRESYNC and CONDSTORE paths its flag change is reported, and a changed UID the store lacks
  that is no longer marked is fetched like new mail.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import DELETED
from tuimail.store import codec, ops, read, write
from tuimail.store.ingest import IncomingMessage
from tuimail.sync.events import NewMail
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap.engine import FolderResult, skipped_text
from tuimail.sync.imap.identity import FolderIdentity
from tuimail.sync.imap.selection import Behind, SelectResult

if TYPE_CHECKING:
    import sqlite3

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


class FolderResync(FolderIdentity):
    """Bringing one folder of the store up to date with the server (see the module)."""

    # The search for new mail sent behind the SELECT: (the UID it searched from, the UIDs).
    _new_ahead: tuple[int, list[int]] | None = None

    def sync_folder(self, folder_id: int) -> FolderResult:
        """Bring one folder of the store up to date with the server (its headers and flags; the
        bodies come after every folder's, see `tuimail.sync.imap.offline`)."""
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
        try:
            selected = self._select_ahead(info, qresync=qresync, resynced=resynced)
            return self._sync_selected(info, result, selected, qresync=qresync, resynced=resynced)
        finally:
            self._identities_ahead = self._new_ahead = None

    def _select_ahead(
        self, info: read.FolderInfo, *, qresync: tuple[int, int] | None, resynced: bool
    ) -> SelectResult:
        """SELECT the folder, with what a resync asks next sent behind it in the same round
        trip: the identity check's FETCH and the search for new mail (read-only commands; what
        the SELECT's answer makes useless is left unused)."""
        behind: list[Behind] = []
        identity = self.identity_check_behind(info)
        if identity is not None:
            behind.append(identity[1])
        new: Behind | None = None
        if resynced and (qresync is not None or self.condstore):
            start = info.uidnext or 1
            new = Behind((b"SEARCH", f"UID {start}:* UNDELETED".encode("ascii")), "SEARCH")
            behind.append(new)
        selected = self._select(info.name, qresync=qresync, behind=behind)
        if identity is not None:
            self.identities_fetched(*identity)
        if new is not None and new.ok:
            self._new_ahead = (info.uidnext or 1, imap_ext.parse_search(new.lines))
        return selected

    def _sync_selected(
        self,
        info: read.FolderInfo,
        result: FolderResult,
        selected: SelectResult,
        *,
        qresync: tuple[int, int] | None,
        resynced: bool,
    ) -> FolderResult:
        folder_id = info.id
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
        ahead = self._new_ahead
        if ahead is not None and ahead[0] == start:
            found = ahead[1]  # searched behind the SELECT
        else:
            found = imap_ext.uid_search(self.client, f"UID {start}:* UNDELETED")
        # "n:*" always includes the highest UID, even below n: filter.
        return [uid for uid in found if uid >= start]

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
        """Fetch and store headers of `uids` (newest first), one commit per batch (by the
        writer process in a large pass: `writes.BatchWrites`), all committed on return."""
        skipped = self.unreadable.skipped.get(info.id, {})
        uids = [uid for uid in uids if uid not in skipped]
        total = len(uids)
        if not total:
            return 0
        done = 0
        self._progress(info.name, 0, total)

        def committed(count: int) -> None:
            nonlocal done
            done += count
            self._changed([info.id])
            self._progress(info.name, done, total)

        for chunk in _batches(uids, self.first_page, self.header_batch):
            self._check_cancel()
            data = self._fetch_messages(info.id, chunk, HEADER_ITEMS)
            incoming = [_incoming(uid, data[uid]) for uid in chunk if uid in data]
            note = f"below:{min(chunk)}" if resume and incoming else None
            self._store(
                total, store_header_batch, info.id, incoming, note, len(chunk), then=committed
            )
        self._writes_done()
        return total


def store_header_batch(
    conn: sqlite3.Connection,
    folder_id: int,
    incoming: list[IncomingMessage],
    resume: str | None,
    fetched: int,
) -> int:
    """Store one batch of headers (by the writer process in a large pass), with the resume
    note of a first sync; returns `fetched` (the batch's UIDs, for the progress)."""
    # Two commits, not one transaction around both: a nested store_messages would be a
    # savepoint, whose release costs a full-text index flush (time, and memory that grows with
    # the store). The resume note is only a hint: the next run compares UIDs.
    write.store_messages(conn, folder_id, incoming)
    if resume is not None:
        write.update_folder_state(conn, folder_id, sync_resume=resume)
    crashpoint("imap.headers_committed")
    return fetched


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
    if isinstance(internaldate, datetime) and internaldate.tzinfo is not None:
        # The same moment in UTC: imapclient's own time zone class cannot be pickled, and a
        # large pass hands the batch to a writer process.
        internaldate = internaldate.astimezone(UTC)
    size = item.get(b"RFC822.SIZE")
    return IncomingMessage(
        header_bytes=header,
        uid=uid,
        flags=tuple(item.get(b"FLAGS") or ()),
        internaldate=internaldate if isinstance(internaldate, datetime) else None,
        size=size if isinstance(size, int) else None,
    )


def _batches(items: Sequence[int], first: int, rest: int) -> Iterator[Sequence[int]]:
    """The first `first` items, then chunks of `rest`."""
    if items:
        yield items[:first]
    for start in range(first, len(items), rest):
        yield items[start : start + rest]
