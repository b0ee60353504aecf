"""COMPRESS=DEFLATE (RFC 4978): an IMAP connection that reads and writes raw deflate after login.

`start_compression(client)` sends `COMPRESS DEFLATE` when the server offers it; from the server's
OK everything the connection reads is inflated and everything it writes is deflated, each write
ending on a sync flush so the server can act on a command at once. A server that refuses (NO,
BAD) leaves the connection as it was, uncompressed. `buffered_input(client)` says whether
inflated bytes are waiting that the socket no longer shows (IDLE selects on the socket).

How it reaches the connection: imaplib reads every line with `IMAP4.readline()`, every literal
with `IMAP4.read(size)` and writes with `IMAP4.send(data)`, methods its documentation says a
subclass may override; here instance attributes shadow them (as `extensions.cap_literals` does),
so only this connection changes, and everything above (imapclient, its IDLE, the wire log that
imapclient makes from imaplib's lines, the literal caps) sees the protocol text. Compressed bytes
are read with `recv` on the connection's socket (`IMAP4.socket()`), which keeps its per-read
timeout and command deadline (tuimail.sync.deadline); sends restart the deadline as before, and
the plain text is shown to it first so a timeout still names the command.

Relied on beyond the documented methods (checked by tests/unit/sync/test_wire.py, imapclient
pinned below 5 in pyproject.toml): imaplib reads lines and literals only through `readline`
and `read` (imapclient's `idle_check` reads through `IMAP4._get_line`, which calls `readline`),
and sends only through `send`; and its read buffer holds nothing after the OK line, which
holds since a server sends nothing unasked between that OK and the next command in the
authenticated state (a stray byte would fail the next read as bad deflate data, not pass).
"""

from __future__ import annotations

import imaplib
import logging
import weakref
import zlib
from collections.abc import Callable
from typing import Any

import imapclient

from tuimail.sync.deadline import deadline_of
from tuimail.sync.imap import wire as imap_wire

log = logging.getLogger(__name__)

CAPABILITY = "COMPRESS=DEFLATE"
WBITS = -15  # raw deflate: no zlib header or checksum (RFC 4978, section 3)
RECEIVE_CHUNK = 64 * 1024
# The most one inflate step may produce: a small compressed chunk can expand a thousandfold, so
# what a read inflates is bounded by what it asked for plus this.
INFLATE_STEP = 256 * 1024
# The longest line accepted, as imaplib's own readline limit.
MAX_LINE = 1_000_000

# imaplib checks a command's name against this table (a public module attribute) before
# sending; imapclient adds its own commands the same way.
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))

# The reader of each compressed connection (the imaplib object), for buffered_input().
_READERS: weakref.WeakKeyDictionary[Any, Inflater] = weakref.WeakKeyDictionary()


class DeflateStreamEnded(OSError):
    """The server ended its deflate stream, which RFC 4978 never does: the connection is over."""


class Inflater:
    """Lines and blocks of bytes from a raw deflate stream whose compressed bytes come from
    `receive(n)` (at most n bytes; b"" at the end of the stream).

    What is inflated and not yet read stays here across reads, also when `receive` raises (a
    timeout, or a socket in non-blocking mode with nothing to read): a later read goes on.
    """

    def __init__(self, receive: Callable[[int], bytes]) -> None:
        self._receive = receive
        self._inflate = zlib.decompressobj(wbits=WBITS)
        self._buffer = bytearray()
        self._ended = False

    def buffered(self) -> bool:
        """Whether a read can give something without receiving: a whole line is inflated, or
        compressed bytes already received are still to be inflated."""
        return b"\n" in self._buffer or bool(self._inflate.unconsumed_tail)

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer at the end of the stream."""
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, limit: int = -1) -> bytes:
        """One line with its b"\\n"; at most `limit` bytes when it is not negative; what is
        left at the end of the stream."""
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                return self._take(end + 1 if limit < 0 else min(end + 1, limit))
            if 0 <= limit <= len(self._buffer):
                return self._take(limit)
            searched = len(self._buffer)
            if not self._fill():
                return self._take(len(self._buffer))

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self) -> bool:
        """Inflate more into the buffer; False at the end of the stream."""
        while not self._ended:
            data = self._inflate.unconsumed_tail or self._receive(RECEIVE_CHUNK)
            if not data:
                self._ended = True
                break
            inflated = self._inflate.decompress(data, INFLATE_STEP)
            if self._inflate.eof:
                # A final block: nothing after it can be read as part of the stream.
                self._ended = True
                if not inflated:
                    raise DeflateStreamEnded("the server ended its compressed stream")
            if inflated:
                self._buffer += inflated
                return True
            # Only a block header or a sync flush marker so far: receive more.
        return False


def start_compression(client: imapclient.IMAPClient) -> bool:
    """After login: COMPRESS DEFLATE when the server offers it, and from its OK the connection
    reads and writes deflate. True when the connection is compressed from now on.

    A refusal (NO or BAD) leaves the connection uncompressed and usable; a broken connection
    raises as any command would.
    """
    if not client.has_capability(CAPABILITY):
        return False
    imap = imap_wire.imaplib_of(client)
    try:
        typ, data = imap_wire.simple_command(imap, "COMPRESS", "DEFLATE")
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:  # BAD: imaplib raises it
        log.info("the server refused COMPRESS DEFLATE: %s", exc)
        return False
    if typ != "OK":
        log.info("the server refused COMPRESS DEFLATE: %s %r", typ, data)
        return False
    compress_connection(imap)
    return True


def compress_connection(imap: Any) -> Inflater:
    """From now on `imap` (an imaplib connection) reads inflated and writes deflated bytes."""
    sock = imap.socket()
    reader = Inflater(sock.recv)
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, WBITS)
    send_bytes = imap.send  # the method in place now, which writes to the socket

    def read(size: int) -> bytes:
        return reader.read(size)

    def readline() -> bytes:
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise imap.error(f"got more than {MAX_LINE} bytes")
        return line

    def send(data: bytes) -> None:
        if (deadline := deadline_of(sock)) is not None:
            deadline.sent(data)  # the command's name, for a timeout's message
        send_bytes(deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))

    imap.read = read
    imap.readline = readline
    imap.send = send
    _READERS[imap] = reader
    return reader


def buffered_input(client: imapclient.IMAPClient) -> bool:
    """Whether the connection holds server input that a select() on its socket cannot see:
    inflated lines not yet read, or received compressed bytes not yet inflated."""
    reader = _READERS.get(imap_wire.imaplib_of(client))
    return reader is not None and reader.buffered()
