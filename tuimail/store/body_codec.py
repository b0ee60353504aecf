"""How the store keeps message bodies: compressed with zstd, once enough mail is stored with a
dictionary trained on the user's own mail (small messages share most of their bytes: header
names, the same senders, signatures, HTML boilerplate), and decompressed on read, byte-exact.

`bodies.codec` says how each row's `raw` is kept: `RAW` (as received: stores made before
schema 11, until `compact` packs them), `ZSTD` (without a dictionary: the first bodies of a
store), `ZSTD_DICT` (with the dictionary `bodies.dict_id` of `body_dictionaries`). A dictionary
is trained once, when the store holds `TRAIN_AFTER` bodies (`train_if_due`, after an ingest
batch); later bodies use the newest one. Every read and write of `bodies.raw` goes through
`pack` and `unpack`.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

from tuimail.store import codec
from tuimail.store.db import StoreError, transaction

# Re-exported: the bodies' callers name them here.
from tuimail.store.packing import LEVEL as LEVEL
from tuimail.store.packing import RAW as RAW
from tuimail.store.packing import ZSTD as ZSTD
from tuimail.store.packing import ZSTD_DICT as ZSTD_DICT
from tuimail.store.packing import forget as forget
from tuimail.store.packing import newest_dictionary, pack, unpack

TRAIN_AFTER = 1000  # bodies stored before a dictionary is trained
TRAIN_SAMPLES = 4000  # the newest bodies the dictionary learns from
SAMPLE_BYTES = 16 * 1024  # of each: the headers and the text, not a whole attachment
DICT_BYTES = 112 * 1024  # zstd's own default size
_TRAIN_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PackedBody:
    """A body packed by the caller (`pack_body`) before it hands it on to be stored: a writer
    process then stores the blob as it is, and the packing is done beside its work."""

    blob: bytes
    codec: int
    dict_id: int | None
    size: int  # of the exact bytes


def pack_body(conn: sqlite3.Connection, raw: bytes) -> PackedBody:
    """`raw` packed as `insert` would pack it now on `conn`. A dictionary trained meanwhile by
    another connection is used once `newest_dictionary` has been read again (`forget`)."""
    blob, body_codec, dict_id = pack(conn, raw)
    return PackedBody(blob, body_codec, dict_id, len(raw))


def insert(conn: sqlite3.Connection, message_id: int, raw: bytes | PackedBody) -> None:
    """Store the body of message `message_id` (inside the caller's transaction)."""
    packed = raw if isinstance(raw, PackedBody) else pack_body(conn, raw)
    conn.execute(
        "INSERT INTO bodies (message_id, raw, codec, dict_id) VALUES (?, ?, ?, ?)",
        (message_id, packed.blob, packed.codec, packed.dict_id),
    )


def train_if_due(conn: sqlite3.Connection) -> int | None:
    """Train the store's dictionary from its newest bodies once it holds `TRAIN_AFTER` of them
    and has none yet; the new dictionary's id (None: not due, or the mail too uniform to learn
    from). Later bodies are packed with it; earlier ones keep theirs until `compact`."""
    if newest_dictionary(conn) is not None:
        return None
    with _TRAIN_LOCK:
        enough = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM bodies LIMIT ?)", (TRAIN_AFTER,)
        ).fetchone()[0]
        if enough < TRAIN_AFTER:
            return None
        import zstandard

        samples: list[bytes | bytearray | memoryview] = [
            unpack(conn, blob, body_codec, dict_id)[:SAMPLE_BYTES]
            for blob, body_codec, dict_id in conn.execute(
                "SELECT raw, codec, dict_id FROM bodies ORDER BY message_id DESC LIMIT ?",
                (TRAIN_SAMPLES,),
            )
        ]
        try:
            trained = zstandard.train_dictionary(DICT_BYTES, samples, level=LEVEL)
        except zstandard.ZstdError:
            return None  # too few distinct samples to learn from: stay without one
        with transaction(conn):
            if conn.execute("SELECT 1 FROM body_dictionaries").fetchone() is not None:
                return None  # another connection trained one meanwhile
            dict_id = int(
                conn.execute(
                    "INSERT INTO body_dictionaries (data, created) VALUES (?, ?) RETURNING id",
                    (trained.as_bytes(), codec.now_epoch(None)),
                ).fetchall()[0][0]
            )
        forget(conn)
        return dict_id


# The tables whose rows are packed, and the column packed: names for compact's statements.
_PACKED = {"bodies": "raw", "index_texts": "packed"}


def compact(
    conn: sqlite3.Connection, *, table: str = "bodies", batch: int = 500, limit: int | None = None
) -> int:
    """Pack again, a committed batch at a time, the rows of `table` (the bodies, or the texts of
    the full-text index's entries) not kept with the newest dictionary (raw bodies from before
    schema 11, the first rows packed without a dictionary); how many were. Nothing is read back
    differently: each is checked byte for byte before it replaces the old."""
    column = _PACKED[table]
    train_if_due(conn)
    dict_id = newest_dictionary(conn)
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        rows = conn.execute(
            f"SELECT message_id, {column}, codec, dict_id FROM {table}"  # noqa: S608 - _PACKED
            " WHERE codec != ? OR dict_id IS NOT ? LIMIT ?",
            (ZSTD_DICT if dict_id is not None else ZSTD, dict_id, size),
        ).fetchall()
        if not rows:
            break
        with transaction(conn):
            for message_id, blob, body_codec, old_dict in rows:
                raw = unpack(conn, blob, body_codec, old_dict)
                packed, new_codec, new_dict = pack(conn, raw)
                if unpack(conn, packed, new_codec, new_dict) != raw:
                    raise StoreError(f"message {message_id} did not pack back byte for byte")
                conn.execute(
                    f"UPDATE {table} SET {column} = ?, codec = ?, dict_id = ?"  # noqa: S608
                    " WHERE message_id = ?",
                    (packed, new_codec, new_dict, message_id),
                )
        done += len(rows)
    return done


def give_space_back(conn: sqlite3.Connection) -> None:
    """Hand the pages that packing freed back to the file system: VACUUM, then a checkpoint
    that empties the write-ahead log. Needs as much free disk as the store takes; raises
    sqlite3.OperationalError while another connection uses the store."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
