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

import contextlib
import sqlite3
import threading
from typing import TYPE_CHECKING

from tuimail.store import codec
from tuimail.store.db import StoreError, transaction

if TYPE_CHECKING:
    import zstandard

RAW = 0
ZSTD = 1
ZSTD_DICT = 2

LEVEL = 3  # zstd's default: ~500 MB/s on one core, within 1% of level 9 on mail (measured)
TRAIN_AFTER = 1000  # bodies stored before a dictionary is trained
TRAIN_SAMPLES = 4000  # the newest bodies the dictionary learns from
SAMPLE_BYTES = 16 * 1024  # of each: the headers and the text, not a whole attachment
DICT_BYTES = 112 * 1024  # zstd's own default size
_TRAIN_LOCK = threading.Lock()


class _Codecs:
    """One connection's compressors and decompressors (zstd objects are not thread-safe, and a
    connection belongs to one thread)."""

    def __init__(self) -> None:
        self.newest: int | bool | None = False  # the dictionary to pack with; False: not read
        self.packers: dict[int | None, zstandard.ZstdCompressor] = {}
        self.unpackers: dict[int | None, zstandard.ZstdDecompressor] = {}
        self.dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}


def _codecs(conn: sqlite3.Connection) -> _Codecs:
    """The connection's codecs, kept on it (a store connection takes attributes; a plain one
    gets fresh ones each time, which is only slower)."""
    found = getattr(conn, "_body_codecs", None)
    if found is None:
        found = _Codecs()
        with contextlib.suppress(AttributeError):
            conn._body_codecs = found  # type: ignore[attr-defined]
    return found


def _dictionary(conn: sqlite3.Connection, dict_id: int) -> zstandard.ZstdCompressionDict:
    import zstandard  # here, not at import: the headless start-up does not need it

    codecs = _codecs(conn)
    found = codecs.dictionaries.get(dict_id)
    if found is None:
        row = conn.execute("SELECT data FROM body_dictionaries WHERE id = ?", (dict_id,)).fetchone()
        if row is None:
            raise StoreError(f"the body dictionary {dict_id} is missing from the store")
        found = codecs.dictionaries[dict_id] = zstandard.ZstdCompressionDict(bytes(row[0]))
    return found


def _newest_dictionary(conn: sqlite3.Connection) -> int | None:
    codecs = _codecs(conn)
    if codecs.newest is False:
        row = conn.execute("SELECT max(id) FROM body_dictionaries").fetchone()
        codecs.newest = None if row is None or row[0] is None else int(row[0])
    return codecs.newest if isinstance(codecs.newest, int) else None


def pack(conn: sqlite3.Connection, raw: bytes) -> tuple[bytes, int, int | None]:
    """What to store for the body `raw`: (blob, codec, dictionary id)."""
    import zstandard

    dict_id = _newest_dictionary(conn)
    codecs = _codecs(conn)
    packer = codecs.packers.get(dict_id)
    if packer is None:
        if dict_id is None:
            packer = zstandard.ZstdCompressor(level=LEVEL)
        else:
            packer = zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary(conn, dict_id))
        codecs.packers[dict_id] = packer
    return packer.compress(raw), (ZSTD if dict_id is None else ZSTD_DICT), dict_id


def unpack(conn: sqlite3.Connection, blob: bytes, body_codec: int, dict_id: int | None) -> bytes:
    """The exact bytes of a body stored as (`blob`, `body_codec`, `dict_id`)."""
    if body_codec == RAW:
        return bytes(blob)
    import zstandard

    if body_codec not in (ZSTD, ZSTD_DICT):
        raise StoreError(f"a body is stored in an unknown form ({body_codec})")
    key = dict_id if body_codec == ZSTD_DICT else None
    codecs = _codecs(conn)
    unpacker = codecs.unpackers.get(key)
    if unpacker is None:
        if key is None:
            unpacker = zstandard.ZstdDecompressor()
        else:
            unpacker = zstandard.ZstdDecompressor(dict_data=_dictionary(conn, key))
        codecs.unpackers[key] = unpacker
    try:
        return unpacker.decompress(blob)
    except zstandard.ZstdError as exc:
        raise StoreError(f"a stored body cannot be read back ({exc})") from exc


def insert(conn: sqlite3.Connection, message_id: int, raw: bytes) -> None:
    """Store the body of message `message_id` (inside the caller's transaction)."""
    blob, body_codec, dict_id = pack(conn, raw)
    conn.execute(
        "INSERT INTO bodies (message_id, raw, codec, dict_id) VALUES (?, ?, ?, ?)",
        (message_id, blob, body_codec, dict_id),
    )


def train_if_due(conn: sqlite3.Connection) -> int | None:
    """Train the store's dictionary from its newest bodies once it holds `TRAIN_AFTER` of them
    and has none yet; the new dictionary's id (None: not due, or the mail too uniform to learn
    from). Later bodies are packed with it; earlier ones keep theirs until `compact`."""
    if _newest_dictionary(conn) is not None:
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


def compact(conn: sqlite3.Connection, *, batch: int = 500, limit: int | None = None) -> int:
    """Pack again, a committed batch at a time, the bodies not kept with the newest dictionary
    (raw ones from before schema 11, the first ones without a dictionary); how many were.
    Nothing is read back differently: each is checked byte for byte before it replaces the old."""
    train_if_due(conn)
    dict_id = _newest_dictionary(conn)
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        rows = conn.execute(
            "SELECT message_id, raw, codec, dict_id FROM bodies"
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
                    "UPDATE bodies SET raw = ?, codec = ?, dict_id = ? WHERE message_id = ?",
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


def forget(conn: sqlite3.Connection) -> None:
    """Read the dictionaries again on next use (one was added)."""
    with contextlib.suppress(AttributeError):
        conn._body_codecs = None  # type: ignore[attr-defined]
