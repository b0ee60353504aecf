"""Message bodies (`BodyDownload`): given messages of one folder downloaded in batches,
pipelined with their parse for the index (what `tuimail.sync.imap.offline` builds the policy's
download and the prefetch on), and one message's body fetched when it is opened (its text only
when it has attachments). Without a MAILBOXID to vouch for the folder, each body is checked to
be the message cached under its UID. (The app asks for the latter through its live session,
`tuimail.sync.imap.live`.)
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tuimail.core.crashpoint import crashpoint
from tuimail.store import body_codec, read, write
from tuimail.store.wanted import WantedBody
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap.engine import MessageGoneError
from tuimail.sync.imap.identity import (
    FOLDER_REBUILT,
    IDENTITY_ITEMS,
    FolderChangedError,
    FolderIdentity,
    identity_of,
    same_message,
)

log = logging.getLogger(__name__)

BODY_ITEMS = ("UID", "BODY.PEEK[]")

BODY_BATCH_BYTES = 8 * 1024 * 1024
# Opening a message of at most this size whose headers show no attachment fetches it whole.
WHOLE_AT_ONCE = 256 * 1024


class BodyDownload(FolderIdentity):
    """Fetching and keeping message bodies (see the module)."""

    def _download_rows(
        self,
        info: read.FolderInfo,
        rows: Sequence[WantedBody],
        *,
        tally: BodyTally | None = None,
        unsent: list[int] | None = None,
        behind: bool = False,
    ) -> int:
        """Download the bodies of `rows`, messages of one folder in the order given (BODY.PEEK:
        \\Seen is not set), in FETCH batches committed one by one; returns how many were stored
        (of those committed: `behind`, see below).
        The UIDs asked for whose body the server did not send are added to `unsent`; `tally`
        counts the progress reported. Raises FolderChangedError (after rebuilding the folder)
        when the folder, or a UID in it, no longer holds what the store cached.

        Each batch is committed as it comes (by the writer process in a large pass:
        `writes.BatchWrites`), unparsed: the bodies' text is indexed behind (store/reindex.py),
        so the download waits for no parse. All are committed on return unless `behind`: a
        caller downloading more at once lets the writer go on meanwhile (`tally` counts what
        is committed), and waits itself (`_writes_done`) before it reads what was stored.
        """
        folder_id = info.id
        wanted = [(row.id, row.uid, row.size) for row in rows]
        selected = self._in_folder(info.name)
        same = self._same_mailbox(info, selected)
        if same is False or info.uidvalidity not in (None, 0, selected.uidvalidity):
            self._reset(info, selected, None, "it is another folder than the one cached")
            raise FolderChangedError(FOLDER_REBUILT)
        # Without a MAILBOXID to vouch for the folder, each body comes with what tells whose
        # it is (in the same FETCH), and is kept only under the row of that message.
        items = BODY_ITEMS if same else (*BODY_ITEMS, *IDENTITY_ITEMS[1:])
        expected = (
            {}
            if same
            else {row.uid: read.Identity(row.uid, row.message_id, row.size) for row in rows}
        )
        strangers: list[int] = []
        stored = 0

        def committed(count: int) -> None:
            nonlocal stored
            stored += count
            self._changed([folder_id])
            if tally is not None:
                tally.done += count
                self._progress(info.name, min(tally.done, tally.total), tally.total)

        for chunk in _size_batches(wanted, self.body_batch, BODY_BATCH_BYTES):
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
                elif uid not in skipped and unsent is not None:
                    unsent.append(uid)
            del data
            self._store(len(wanted), store_body_batch, self._packed(bodies), then=committed)
        if strangers or not behind:
            self._writes_done()
        if strangers:
            why = f"UID {strangers[0]} holds another message than the one cached"
            self._reset(info, selected, None, why)
            raise FolderChangedError(FOLDER_REBUILT)
        return stored

    def _packed(
        self, bodies: list[tuple[int, bytes]]
    ) -> list[tuple[int, bytes | body_codec.PackedBody]]:
        """The bodies to hand on: packed here when a writer process stores them (so that the
        packing runs beside its work, and fewer bytes cross to it), as they are else."""
        if self._writer is None:
            return list(bodies)
        if body_codec.newest_dictionary(self.conn) is None:
            body_codec.forget(self.conn)  # the writer may have trained one since
        return [(message_id, body_codec.pack_body(self.conn, raw)) for message_id, raw in bodies]

    def fetch_body(self, message_id: int, *, full: bool = False) -> bytes:
        """Fetch one message's body (BODY.PEEK, so \\Seen is not set) and keep it; returns the
        bytes kept. Raises MessageGoneError when the server no longer has the message.

        Without `full`, a message with attachments (as its BODYSTRUCTURE shows) gets only its
        text: the header, every part's MIME header and the text bodies in one FETCH, rebuilt
        and kept as a partial body (`imap_structure`), and the rebuilt bytes are returned. A
        message without attachments, or whose structure lacks the boundaries, is fetched whole
        as with `full`: its exact bytes are kept (replacing a partial body) and returned; so is
        one of at most WHOLE_AT_ONCE bytes whose headers show no attachment (its structure is
        not asked for). In the folder this connection has selected, no SELECT is sent.
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
        selected = self._in_folder(info.name)
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
        # A small message whose headers show no attachment comes whole in one FETCH, without
        # asking its structure first: a round trip less for most mail.
        plain = not row.envelope.has_attachments and 0 < row.envelope.size <= WHOLE_AT_ONCE
        if not full and not plain:
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


def store_body_batch(
    conn: sqlite3.Connection, bodies: list[tuple[int, bytes | body_codec.PackedBody]]
) -> int:
    """Commit one batch of fetched bodies, (row id, raw or packed), unparsed (by the writer
    process in a large pass); returns how many."""
    write.store_bodies(
        conn, [(message_id, raw, None) for message_id, raw in bodies], defer_index=True
    )
    crashpoint("imap.bodies_committed")
    body_codec.train_if_due(conn)  # once, when enough mail is stored
    return len(bodies)


@dataclass(slots=True)
class BodyTally:
    """Bodies stored so far out of those asked for, for the progress a download reports."""

    total: int
    done: int = 0


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
