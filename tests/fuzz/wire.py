"""Scripted IMAP and POP3 servers, for the fuzz targets and the chunked-response tests.

A script is what a server says: its greeting, then one answer per command the client sends,
in order. In an IMAP answer a line starting with ``TAG `` gets the tag of the command it
answers (``DONE``, which ends an IDLE, is answered with the IDLE's tag). When the answers run
out the server closes the connection, so a client that waits for more sees the end of the
stream rather than hanging.

Two ways to deliver a script, each cutting the server's bytes into chunks of given sizes:

- `InProcessTransport`: no socket, no thread. Each read of the client's buffered reader gets at
  most one chunk, as `recv` does. Deterministic and fast: what the fuzz targets use.
- `SocketPairTransport`: a real socket pair; a thread writes each chunk once the client has
  read everything written before (the reading side's queue is empty), so every chunk boundary
  is a separate `recv` for the client.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import imaplib
import io
import poplib
import re
import select
import socket
import termios
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import imapclient

from tuimail.sync.pop3 import connect as pop3_connect

# A client that waits longer than this for the scripted server has hung: the test fails.
CLIENT_TIMEOUT = 20.0
# How long the writing thread waits for the client to read a chunk before writing the next one
# anyway (chunks then merge, which only weakens the test; it never fails it).
_DRAIN_WAIT = 2.0

_LITERAL_END_RE = re.compile(rb"\{(\d{1,20})\}\r?\n\Z")


def _tagged(answer: bytes, tag: bytes) -> bytes:
    """`answer` with the lines starting ``TAG `` given `tag`; literals are left as they are."""
    out = bytearray()
    position = 0
    while position < len(answer):
        end = answer.find(b"\n", position)
        end = len(answer) if end < 0 else end + 1
        line = answer[position:end]
        out += tag + line[3:] if line.startswith(b"TAG ") else line
        position = end
        if literal := _LITERAL_END_RE.search(line):
            size = int(literal[1])
            out += answer[position : position + size]
            position += size
    return bytes(out)


class Script(Protocol):
    """What a scripted server says."""

    def greeting(self) -> bytes: ...

    def answer(self, command_line: bytes) -> bytes | None:
        """The bytes answering one command line; None to close the connection."""
        ...


class ImapScript:
    """An IMAP server: a greeting and one answer per tagged command (see the module doc)."""

    def __init__(self, greeting: bytes, answers: Iterable[bytes]) -> None:
        self._greeting = greeting
        self._answers = iter(answers)
        self._idle_tag = b"*"
        self.commands: list[bytes] = []

    def greeting(self) -> bytes:
        return self._greeting

    def answer(self, command_line: bytes) -> bytes | None:
        self.commands.append(command_line)
        words = command_line.split()
        if not words:
            return b""
        if words[0].upper() == b"DONE":
            tag = self._idle_tag
        else:
            tag = words[0]
            if len(words) > 1 and words[1].upper() == b"IDLE":
                self._idle_tag = tag
        answer = next(self._answers, None)
        if answer is None:
            return None
        return _tagged(answer, tag)


class Pop3Script:
    """A POP3 server: a greeting and one answer per command line."""

    def __init__(self, greeting: bytes, answers: Iterable[bytes]) -> None:
        self._greeting = greeting
        self._answers = iter(answers)
        self.commands: list[bytes] = []

    def greeting(self) -> bytes:
        return self._greeting

    def answer(self, command_line: bytes) -> bytes | None:
        self.commands.append(command_line)
        return next(self._answers, None)


def split_script(body: bytes, separator: bytes = b"=====\n") -> tuple[bytes, list[bytes]]:
    """(greeting, answers) from one byte string: the pieces between separator lines."""
    greeting, *answers = body.split(separator)
    return greeting, answers


def chunk_sizes_from(header: bytes) -> list[int]:
    """Chunk sizes written as decimal numbers in a line (``chunks 1 7 300``); others ignored."""
    return [min(int(word), 1 << 20) for word in re.findall(rb"\d{1,7}", header) if int(word)]


def _chunks(data: bytes, sizes: Iterator[int]) -> Iterator[bytes]:
    """`data` cut by the next sizes (the rest whole when they run out)."""
    position = 0
    while position < len(data):
        size = next(sizes, len(data) - position)
        yield data[position : position + size]
        position += size


# --- in-process


class _ChunkedReader(io.RawIOBase):
    """The reading end of a connection: each read returns at most one chunk."""

    def __init__(self, sizes: Iterator[int]) -> None:
        self.pending = bytearray()
        self._sizes = sizes
        self._chunk_left = 0
        self.closed_by_server = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            # The client waits for more than the script has: the server closes the connection
            # (as SocketPairTransport does).
            self.closed_by_server = True
            return 0
        if self._chunk_left <= 0:
            self._chunk_left = next(self._sizes, len(self.pending))
        size = min(self._chunk_left, len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        del self.pending[:size]
        self._chunk_left -= size
        return size


class _InProcessSocket:
    """Enough of a socket for imaplib and poplib; the script answers each complete line."""

    def __init__(self, script: Script, sizes: Iterator[int]) -> None:
        self._script = script
        self._reader = _ChunkedReader(sizes)
        self._reader.pending += script.greeting()
        self._line = bytearray()
        self._open = True

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(self._reader)

    def sendall(self, data: bytes) -> None:
        if not self._open or self._reader.closed_by_server:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        self._line += data
        while (end := self._line.find(b"\n")) >= 0:
            line = bytes(self._line[: end + 1])
            del self._line[: end + 1]
            answer = self._script.answer(line)
            if answer is None:
                self._open = False
                return
            self._reader.pending += answer

    def settimeout(self, timeout: float | None) -> None:
        pass

    def setblocking(self, flag: bool) -> None:
        pass

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        self._open = False


class InProcessTransport:
    """Delivers a script without a socket (see the module doc)."""

    def __init__(self, script: Script, sizes: Sequence[int] = ()) -> None:
        self.socket = _InProcessSocket(script, iter(sizes))

    def __enter__(self) -> InProcessTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()


# --- socket pair


def _unread_bytes(sock: socket.socket) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    return count[0]


class _WatchedReader(io.RawIOBase):
    """The client's reading end of the socket pair; `waiting` is True while it waits in recv."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.waiting = False
        self.received = 0  # counted after `waiting` is cleared (see SocketPairTransport)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.waiting = True
        try:
            count = self._sock.recv_into(buffer)
        finally:
            self.waiting = False
        self.received += count
        return count


class _ClientSocket:
    """The client's socket, with `makefile` giving the watched reader."""

    def __init__(self, sock: socket.socket, reader: _WatchedReader) -> None:
        self._sock = sock
        self._reader = reader

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(self._reader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class SocketPairTransport:
    """Delivers a script over a real socket pair, chunk by chunk (see the module doc).

    As in-process, a client that waits for bytes the script does not have (an answer without
    its tagged line) gets the end of the stream: the writer closes the connection once the
    client waits in recv with nothing unread and no command sent.
    """

    def __init__(self, script: Script, sizes: Sequence[int] = ()) -> None:
        client, self._peer = socket.socketpair()
        client.settimeout(CLIENT_TIMEOUT)
        self._reader = _WatchedReader(client)
        self._client = client
        self.socket = _ClientSocket(client, self._reader)
        # The client's end as the writer sees it (the client may close its own at any time).
        self._client_queue = client.dup()
        self._script = script
        self._sizes = iter(sizes)
        self._received = bytearray()
        self._sent = 0
        self._thread = threading.Thread(target=self._serve, name="scripted-server", daemon=True)
        self._thread.start()

    def _command_sent(self, timeout: float) -> bool:
        return bool(select.select([self._peer], [], [], timeout)[0])

    def _write(self, data: bytes) -> None:
        for chunk in _chunks(data, self._sizes):
            self._peer.sendall(chunk)
            self._sent += len(chunk)
            deadline = time.monotonic() + _DRAIN_WAIT
            # Until the client has read it, or has moved on and sent a command (after IDLE's
            # "+" it reads nothing more until it sends DONE).
            while _unread_bytes(self._client_queue) and time.monotonic() < deadline:
                if self._command_sent(0.0002):
                    break

    def _next_command(self) -> bytes | None:
        """The next command line; None when the connection ended or the client waits for
        bytes that will not come."""
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while b"\n" not in self._received:
            # Order matters. Once the client has counted every byte written, `waiting` can only
            # be set by a new recv: it waits for more, after sending every command it will.
            stuck = self._reader.received == self._sent and self._reader.waiting
            if self._command_sent(0.0002):
                data = self._peer.recv(65536)
                if not data:
                    return None
                self._received += data
            elif stuck or time.monotonic() > deadline:
                return None
        end = self._received.index(b"\n") + 1
        line = bytes(self._received[:end])
        del self._received[:end]
        return line

    def _serve(self) -> None:
        try:
            self._write(self._script.greeting())
            while (line := self._next_command()) is not None:
                answer = self._script.answer(line)
                if answer is None:
                    break
                self._write(answer)
        except OSError:
            pass  # the client closed its end
        finally:
            with contextlib.suppress(OSError):
                self._peer.shutdown(socket.SHUT_RDWR)
            self._peer.close()
            self._client_queue.close()

    def __enter__(self) -> SocketPairTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        # shutdown, not only close: the writer's duplicate would keep the connection open.
        with contextlib.suppress(OSError):  # the client shut it already
            self._client.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(CLIENT_TIMEOUT)


Transport = InProcessTransport | SocketPairTransport


# --- clients over a transport


class _ScriptedImap4(imaplib.IMAP4):
    """imaplib.IMAP4 over a transport's socket; tags are ``T1``, ``T2``, ... (any tag works)."""

    def __init__(self, transport: Transport) -> None:
        self._transport_socket = transport.socket
        super().__init__("scripted", 0)

    # imaplib picks a random tag prefix per connection; a fixed one makes runs comparable
    # (error texts quote the server's lines, tags included).
    @property
    def tagpre(self) -> bytes:
        return b"T"

    @tagpre.setter
    def tagpre(self, value: bytes) -> None:
        pass

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.sock = self._transport_socket
        self.file = self.sock.makefile("rb")


def imap_client(transport: Transport) -> imapclient.IMAPClient:
    """An imapclient.IMAPClient that has read the script's greeting (and CAPABILITY answer)."""

    class ScriptedClient(imapclient.IMAPClient):
        def _create_IMAP4(self) -> imaplib.IMAP4:
            return _ScriptedImap4(transport)

    return ScriptedClient("scripted", port=1, ssl=False)


class _ScriptedPop3(pop3_connect.Pop3):
    """tuimail's poplib.POP3 (long lines allowed) over a transport's socket."""

    def __init__(self, transport: Transport) -> None:
        self._transport_socket = transport.socket
        super().__init__("scripted", 0)

    def _create_socket(self, timeout: Any) -> Any:
        return self._transport_socket


def pop3_client(transport: Transport) -> poplib.POP3:
    """tuimail's POP3 session class that has read the script's greeting."""
    return _ScriptedPop3(transport)


def comparable(value: Any) -> Any:
    """`value` with its datetimes as (local time, UTC offset): a server may send an offset that
    makes comparing two datetimes raise."""
    if isinstance(value, datetime):
        offset = value.tzinfo.utcoffset(None) if value.tzinfo is not None else None
        return (value.replace(tzinfo=None), offset)
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(comparable(item) for item in value)
    return value


class SessionEnded(Exception):
    """Raised by `Outcomes.step` after recording an allowed error: the session stops there."""


class Outcomes(list[tuple[str, Any]]):
    """What each step of a client session gave, in order, for comparing two runs.

    An error of one of the `allowed` types (the clear ones the engines handle) is recorded as
    ("error", type name, text) and ends the session; any other exception escapes: that is the
    failure the fuzz targets and the chunked tests look for.
    """

    def __init__(self, allowed: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self._allowed = allowed

    def step(
        self,
        name: str,
        action: Callable[[], Any],
        allowed: tuple[type[BaseException], ...] | None = None,
    ) -> Any:
        """Run one step and record its result (`allowed` replaces the session's error types)."""
        handled: tuple[type[BaseException], ...] = allowed or self._allowed
        try:
            value = action()
        except handled as exc:
            self.append((name, ("error", type(exc).__name__, str(exc))))
            raise SessionEnded from exc
        self.append((name, comparable(value)))
        return value
