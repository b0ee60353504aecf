"""Packing and unpacking stored bytes (bodies, and the text of the full-text index's entries):
zstd, with the newest of the store's dictionaries (body_dictionaries) once one is trained, and
byte-exact on read. What and when to train, and the bodies' table, are store/body_codec.py's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

from tuimail.store.errors import StoreError

if TYPE_CHECKING:
    import zstandard

RAW = 0
ZSTD = 1
ZSTD_DICT = 2

LEVEL = 3  # zstd's default: ~500 MB/s on one core, within 1% of level 9 on mail (measured)


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


def newest_dictionary(conn: sqlite3.Connection) -> int | None:
    codecs = _codecs(conn)
    if codecs.newest is False:
        row = conn.execute("SELECT max(id) FROM body_dictionaries").fetchone()
        codecs.newest = None if row is None or row[0] is None else int(row[0])
    return codecs.newest if isinstance(codecs.newest, int) else None


def pack(conn: sqlite3.Connection, raw: bytes) -> tuple[bytes, int, int | None]:
    """What to store for the body `raw`: (blob, codec, dictionary id)."""
    import zstandard

    dict_id = newest_dictionary(conn)
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


def forget(conn: sqlite3.Connection) -> None:
    """Read the dictionaries again on next use (one was added)."""
    with contextlib.suppress(AttributeError):
        conn._body_codecs = None  # type: ignore[attr-defined]
