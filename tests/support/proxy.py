"""A fault-injecting TCP proxy on loopback, for faults a real server will not produce.

``FaultProxy(target_host, target_port, client=Faults(...), server=Faults(...))`` listens on a free
127.0.0.1 port and forwards every connection to the target. ``client`` faults act on the bytes the
client sends, ``server`` faults on the bytes the server sends:

- ``close_after=N``: forward N bytes in that direction, then close the whole connection (with a
  TCP reset when ``reset=True``);
- ``stall_after=N``: forward N bytes, then forward nothing more for ``stall_for`` seconds, or until
  ``FaultProxy.release()`` when ``stall_for`` is None;
- ``inject_after=PATTERN, inject=BYTES``: right after the first line that matches the regular
  expression PATTERN, add BYTES to the stream (e.g. after ``. OK Begin TLS`` and before the TLS
  handshake: the STARTTLS injection attack);
- ``trickle_after=PATTERN``: from the end of the first match of the regular expression PATTERN
  (``b""``: from the first byte), forward one byte every ``trickle_every`` seconds: a server
  that never stops sending, and never finishes (every byte is on time, the answer never is);
- ``rewrite_line=CALLABLE``: every line (bytes, with its line ending) is replaced by what the
  callable returns (``b""`` drops it); see :func:`hide_capability`.

Line-based faults (``inject_after``, ``rewrite_line``) look at the stream only while it is text:
from the first chunk with binary control bytes (a TLS handshake) the direction passes through
untouched. Every byte is recorded both as received from its sender and as delivered to its
receiver, so a test can assert what crossed the wire (e.g. that a password never did).

IMAP COMPRESS=DEFLATE (RFC 4978) on a connection in the clear is followed: from the server's OK
to ``COMPRESS DEFLATE`` both directions are inflated, so the records (``from_client``, ...) and
every fault see the protocol text; a direction with faults is deflated again towards its
receiver (byte counts are then of the text), one without is forwarded as it came. The bytes
that crossed the wire are in ``raw_from_client`` and the other ``raw_*`` records.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

LineRewriter = Callable[[bytes], bytes]

# Bytes that never appear in the text protocols (IMAP, POP3, SMTP) but do in TLS records.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CHUNK = 65536
# The client's COMPRESS command (its tag), and the server's tagged answer to it.
_COMPRESS_COMMAND = re.compile(rb"^(\S+) COMPRESS DEFLATE\r?\n$", re.IGNORECASE)
_DEFLATE_WBITS = -15  # raw deflate (RFC 4978)


@dataclass
class Faults:
    """What to do to the bytes flowing in one direction (see the module docstring)."""

    close_after: int | None = None
    reset: bool = False
    stall_after: int | None = None
    stall_for: float | None = None
    inject_after: bytes | re.Pattern[bytes] | None = None
    inject: bytes = b""
    rewrite_line: LineRewriter | None = None
    trickle_after: bytes | re.Pattern[bytes] | None = None
    trickle_every: float = 1.0

    @property
    def needs_lines(self) -> bool:
        """True when this direction must be parsed into lines."""
        return self.inject_after is not None or self.rewrite_line is not None

    @property
    def any(self) -> bool:
        """True when this direction has any fault at all."""
        return self != Faults()


@dataclass
class ProxiedConnection:
    """One client connection through the proxy and everything that crossed it."""

    from_client: bytearray = field(default_factory=bytearray)
    to_server: bytearray = field(default_factory=bytearray)
    from_server: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    # The same as they crossed the wire (they differ from the above only once compressed).
    raw_from_client: bytearray = field(default_factory=bytearray)
    raw_to_server: bytearray = field(default_factory=bytearray)
    raw_from_server: bytearray = field(default_factory=bytearray)
    raw_to_client: bytearray = field(default_factory=bytearray)
    closed: threading.Event = field(default_factory=threading.Event)
    # Set when a close_after fault cut the connection.
    cut: bool = False
    # Set once the connection is compressed (COMPRESS DEFLATE answered OK).
    compressed: bool = False


class FaultProxy:
    """A threaded TCP proxy from a free 127.0.0.1 port to ``(target_host, target_port)``.

    Use as a context manager (or ``start()``/``close()``); point the client at ``host``/``port``.
    The fault settings are read when a connection is accepted, so a test can change ``client`` or
    ``server`` between connections (e.g. fail the first attempt only).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        client: Faults | None = None,
        server: Faults | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.client = client or Faults()
        self.server = server or Faults()
        self.connections: list[ProxiedConnection] = []
        self._connect_timeout = connect_timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._released = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept_thread: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Start accepting connections."""
        self._listener.listen(16)
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, close every connection and join the threads (bounded)."""
        self._closing.set()
        self._released.set()
        # shutdown() wakes the thread blocked in accept(); close() alone does not.
        _close(self._listener)
        # The accept loop lists a connection's record before its pump threads: join it first so
        # every socket and thread it started is listed before they are closed and joined.
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            _close(sock)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- controls and records -------------------------------------------------------------------
    def release(self) -> None:
        """End every stall that waits for release (current and future ones)."""
        self._released.set()

    @property
    def from_client(self) -> bytes:
        """Every byte any client sent, all connections in order."""
        return self._joined("from_client")

    @property
    def to_server(self) -> bytes:
        """Every byte the proxy passed on to the server."""
        return self._joined("to_server")

    @property
    def from_server(self) -> bytes:
        """Every byte the server sent."""
        return self._joined("from_server")

    @property
    def to_client(self) -> bytes:
        """Every byte the proxy passed on to clients (after rewriting and injection)."""
        return self._joined("to_client")

    @property
    def raw_from_client(self) -> bytes:
        """Every byte any client sent, as it crossed the wire (compressed or not)."""
        return self._joined("raw_from_client")

    @property
    def raw_to_server(self) -> bytes:
        """Every byte passed on to the server, as it crossed the wire."""
        return self._joined("raw_to_server")

    @property
    def raw_from_server(self) -> bytes:
        """Every byte the server sent, as it crossed the wire."""
        return self._joined("raw_from_server")

    @property
    def raw_to_client(self) -> bytes:
        """Every byte passed on to clients, as it crossed the wire."""
        return self._joined("raw_to_client")

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` connections were accepted (raises TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while len(self.connections) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.connections)} of {count} connections arrived")
            time.sleep(0.01)

    def _joined(self, name: str) -> bytes:
        with self._lock:
            return b"".join(bytes(getattr(conn, name)) for conn in self.connections)

    # --- plumbing -------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                downstream, _address = self._listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self.target, timeout=self._connect_timeout)
            except OSError:
                _close(downstream)
                continue
            upstream.settimeout(None)
            record = ProxiedConnection()
            link = _Link(self, record, downstream, upstream)
            with self._lock:
                self.connections.append(record)
                self._sockets += [downstream, upstream]
            client_faults, server_faults = self.client, self.server
            for name, source, sink, faults in (
                ("c2s", downstream, upstream, client_faults),
                ("s2c", upstream, downstream, server_faults),
            ):
                pump = _Pump(link, source, sink, faults, from_client=name == "c2s")
                thread = threading.Thread(
                    target=pump.run, name=f"fault-proxy-{self.port}-{name}", daemon=True
                )
                thread.start()  # before it is listed: close() may join any listed thread
                with self._lock:
                    self._threads.append(thread)


class _Link:
    """The two sockets of one proxied connection; closing it ends both pumps."""

    def __init__(
        self,
        proxy: FaultProxy,
        record: ProxiedConnection,
        downstream: socket.socket,
        upstream: socket.socket,
    ) -> None:
        self.proxy = proxy
        self.record = record
        self.downstream = downstream
        self.upstream = upstream
        self._half_closed = 0
        self._lock = threading.Lock()
        # COMPRESS DEFLATE: the tag of the client's command, while its answer is awaited.
        self.compress_tag: bytes | None = None

    def cut(self, *, reset: bool) -> None:
        """Close both sides now (RST instead of FIN when ``reset``)."""
        self.record.cut = True
        if reset:
            for sock in (self.downstream, self.upstream):
                # Closing with a zero linger time sends RST; SHUT_RD (which sends nothing) first
                # wakes the other pump's recv() on the same socket.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                with contextlib.suppress(OSError):
                    sock.close()
        self.close()

    def close(self) -> None:
        """Close both sockets and mark the connection closed."""
        _close(self.downstream)
        _close(self.upstream)
        self.record.closed.set()

    def source_finished(self) -> None:
        """One direction ended; the connection is over when both have."""
        with self._lock:
            self._half_closed += 1
            done = self._half_closed == 2
        if done:
            self.close()


class _Pump:
    """Copies one direction of one connection, applying that direction's faults."""

    def __init__(
        self,
        link: _Link,
        source: socket.socket,
        sink: socket.socket,
        faults: Faults,
        *,
        from_client: bool,
    ) -> None:
        self.link = link
        self.source = source
        self.sink = sink
        self.faults = faults
        record = link.record
        self.from_client = from_client
        if from_client:
            self.received, self.sent = record.from_client, record.to_server
            self.raw_received, self.raw_sent = record.raw_from_client, record.raw_to_server
        else:
            self.received, self.sent = record.from_server, record.to_client
            self.raw_received, self.raw_sent = record.raw_from_server, record.raw_to_client
        # COMPRESS DEFLATE: lines are watched while the stream is text and not yet compressed.
        self.watching = True
        self.watched = b""  # the incomplete last line seen
        self.inflate: Any = None
        self.deflate: Any = None
        self.forwarded = 0
        self.line_mode = faults.needs_lines
        self.pending = b""  # an incomplete line held back in line mode
        self.injected = False
        self.stalled = False
        self.trickling = False
        self.tail = b""  # the last bytes forwarded, for a trickle_after match across chunks

    def run(self) -> None:
        try:
            while True:
                try:
                    data = self.source.recv(_CHUNK)
                except OSError:
                    break
                if not data:
                    # Pass the end of stream on as a half-close so the peer sees EOF.
                    self._flush_pending()
                    with contextlib.suppress(OSError):
                        self.sink.shutdown(socket.SHUT_WR)
                    break
                if not self._take(data):
                    return
        finally:
            self.link.source_finished()

    def _take(self, raw: bytes) -> bool:
        """Record and pass on what the source sent; False when the connection was cut."""
        self.raw_received += raw
        if self.inflate is None and self.from_client and self.link.record.compressed:
            self._start_compression()
        if self.inflate is None:
            cut = self._watch(raw)
            plain = raw if cut is None else raw[:cut]
            if cut is not None:
                # Known before the OK is passed on: the client compresses once it has read it.
                self.link.record.compressed = True
            self.received += plain
            if not self._forward(self._transform(plain)):
                return False
            if cut is None:
                return True
            self._start_compression()
            raw = raw[cut:]
            if not raw:
                return True
        text = self.inflate.decompress(raw)
        self.received += text
        if not self.faults.any:
            self.sent += text
            return self._send_raw(raw)
        return self._forward(self._transform(text))

    def _watch(self, raw: bytes) -> int | None:
        """Follow COMPRESS DEFLATE in the clear: the client's command (its tag), and the end of
        the server's OK to it (returned: where this chunk turns compressed)."""
        if not self.watching:
            return None
        if _BINARY.search(raw):
            self.watching = False  # TLS: nothing to follow
            return None
        buffer = self.watched + raw
        start = 0
        while (end := buffer.find(b"\n", start) + 1) > 0:
            line, start = buffer[start:end], end
            if self.from_client:
                match = _COMPRESS_COMMAND.match(line)
                if match:
                    self.link.compress_tag = match.group(1)
            elif self.link.compress_tag is not None and line.startswith(
                self.link.compress_tag + b" "
            ):
                self.link.compress_tag = None
                if line[len(line.split(b" ")[0]) + 1 :].upper().startswith(b"OK"):
                    self.watching = False
                    return end - len(self.watched)
        self.watched = buffer[start:][-4096:]
        return None

    def _start_compression(self) -> None:
        self.watching = False
        self.inflate = zlib.decompressobj(wbits=_DEFLATE_WBITS)
        self.deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, _DEFLATE_WBITS)

    def _transform(self, data: bytes) -> bytes:
        if not self.line_mode:
            return data
        if _BINARY.search(data):
            # The stream turned binary (TLS): pass it through from here on.
            self.line_mode = False
            out, self.pending = self.pending + data, b""
            return out
        buffer = self.pending + data
        *lines, self.pending = buffer.split(b"\n")
        out = bytearray()
        for line in lines:
            out += self._transform_line(line + b"\n")
        return bytes(out)

    def _transform_line(self, line: bytes) -> bytes:
        faults = self.faults
        result = faults.rewrite_line(line) if faults.rewrite_line else line
        if (
            not self.injected
            and faults.inject_after is not None
            and re.search(faults.inject_after, line)
        ):
            self.injected = True
            result += faults.inject
        return result

    def _flush_pending(self) -> None:
        if self.pending:
            data, self.pending = self.pending, b""
            self._forward(data)

    def _forward(self, data: bytes) -> bool:
        """Send ``data`` on, honouring byte-count faults. False when the connection was cut."""
        faults = self.faults
        if faults.close_after is not None:
            allowed = max(faults.close_after - self.forwarded, 0)
            if len(data) >= allowed:
                self._send(data[:allowed])
                self.link.cut(reset=faults.reset)
                return False
        if faults.stall_after is not None and not self.stalled:
            allowed = max(faults.stall_after - self.forwarded, 0)
            if len(data) >= allowed:
                self._send(data[:allowed])
                self.stalled = True
                self._stall()
                data = data[allowed:]
        if faults.trickle_after is not None and not self.trickling:
            window = self.tail + data
            match = re.search(faults.trickle_after, window)
            if match is None:
                self.tail = window[-4096:]
                return self._send(data)
            start = max(match.end() - len(self.tail), 0)
            if not self._send(data[:start]):
                return False
            self.trickling = True
            data = data[start:]
        if self.trickling:
            return self._trickle(data)
        return self._send(data)

    def _trickle(self, data: bytes) -> bool:
        closing = self.link.proxy._closing
        for index in range(len(data)):
            if closing.is_set() or self.link.record.closed.is_set():
                return False
            if not self._send(data[index : index + 1]):
                return False
            closing.wait(self.faults.trickle_every)
        return True

    def _stall(self) -> None:
        # While stalled nothing is read from the source either, so TCP pushes back on the sender.
        released = self.link.proxy._released
        if self.faults.stall_for is None:
            released.wait()
        else:
            released.wait(self.faults.stall_for)

    def _send(self, data: bytes) -> bool:
        if not data:
            return True
        # Recorded before sending: a client that fails at once on these bytes must not be faster
        # than the record a test then reads (a failed send leaves at most bytes that were lost).
        self.sent += data
        self.forwarded += len(data)
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._send_raw(data)

    def _send_raw(self, data: bytes) -> bool:
        self.raw_sent += data
        try:
            self.sink.sendall(data)
        except OSError:
            return False
        return True


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def hide_capability(name: str) -> LineRewriter:
    """A ``rewrite_line`` that hides one capability from IMAP, POP3 and SMTP announcements.

    The token is renamed to ``X-HIDDEN-<name>`` (which every client ignores) instead of being cut,
    so multi-line replies keep their shape: IMAP ``CAPABILITY`` lists (untagged or in a response
    code), POP3 ``CAPA`` lines, and SMTP ``EHLO`` lines (``250-NAME`` / ``250 NAME``).
    Only lines that look like such announcements are touched.
    """
    token = re.compile(rb"(?<![\w=-])" + re.escape(name.encode()) + rb"(?![\w=-])", re.IGNORECASE)
    hidden = b"X-HIDDEN-" + name.encode()
    imap = re.compile(rb"CAPABILITY ", re.IGNORECASE)
    smtp = re.compile(rb"^250[- ]" + re.escape(name.encode()) + rb"\b", re.IGNORECASE)
    pop3 = re.compile(rb"^" + re.escape(name.encode()) + rb"(?: |\r?\n)", re.IGNORECASE)

    def rewrite(line: bytes) -> bytes:
        if smtp.match(line):
            return line[:4] + hidden + line[4 + len(name) :]
        if imap.search(line) or pop3.match(line):
            return token.sub(hidden, line)
        return line

    return rewrite


class SpecialUseOnRequest:
    """Rewriters that make an IMAP server send special-use attributes (RFC 6154: ``\\Sent``,
    ``\\Trash``, ...) only to ``LIST ... RETURN (SPECIAL-USE)``, as Cyrus does with
    ``specialusealways: no``; Dovecot sends them to every LIST.

    Use both: ``Faults(rewrite_line=hook.client)`` for the client's direction (it only watches
    which command was sent last: imapclient waits for each answer) and
    ``Faults(rewrite_line=hook.server)`` for the server's.
    """

    _ATTRIBUTE = re.compile(
        rb" ?\\(?:All|Archive|Drafts|Flagged|Junk|Sent|Trash|Important)(?=[ )])", re.IGNORECASE
    )
    _COMMAND = re.compile(rb"^[^ *+]\S* (\S+)")

    def __init__(self) -> None:
        self._plain_list = False
        self.stripped = 0  # attributes removed so far

    def client(self, line: bytes) -> bytes:
        """Note whether the command just sent is a LIST without the SPECIAL-USE return option."""
        match = self._COMMAND.match(line)
        if match:
            upper = line.upper()
            self._plain_list = match.group(1).upper() == b"LIST" and b"SPECIAL-USE" not in upper
        return line

    def server(self, line: bytes) -> bytes:
        """Drop special-use attributes from LIST replies to a plain LIST."""
        if not (self._plain_list and line.upper().startswith(b"* LIST (")):
            return line
        end = line.index(b")") + 1
        attributes, count = self._ATTRIBUTE.subn(b"", line[8:end])
        self.stripped += count
        return line[:8] + attributes.lstrip() + line[end:]
