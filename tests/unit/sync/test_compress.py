"""COMPRESS=DEFLATE's stream wrapper: lines and literals inflated from a raw deflate stream
however it is cut, commands deflated so the server can read each at once, and the input an IDLE
must not miss while its socket shows nothing."""

from __future__ import annotations

import imaplib
import os
import socket
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from tuimail.sync.imap.compress import (
    INFLATE_STEP,
    MAX_LINE,
    DeflateStreamEnded,
    Inflater,
    buffered_input,
    compress_connection,
)
from tuimail.sync.imap.news import _readable


def deflated(*writes: bytes) -> bytes:
    """A raw deflate stream as a server writes it: each write ends on a sync flush."""
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return b"".join(deflate.compress(w) + deflate.flush(zlib.Z_SYNC_FLUSH) for w in writes)


def receiver(stream: bytes, sizes: Iterator[int] | None = None) -> Any:
    """`receive(n)` over `stream`, giving at most n bytes, or what `sizes` says if less."""
    position = 0

    def receive(n: int) -> bytes:
        nonlocal position
        size = min(n, next(sizes)) if sizes is not None else n
        chunk = stream[position : position + size]
        position += len(chunk)
        return chunk

    return receive


def ones() -> Iterator[int]:
    while True:
        yield 1


def test_lines_come_whole_from_a_stream_received_one_byte_at_a_time() -> None:
    lines = [b"* 1 EXISTS\r\n", b"* 1 RECENT\r\n", b"A001 OK done\r\n"]
    reader = Inflater(receiver(deflated(b"".join(lines)), ones()))
    assert [reader.readline() for _ in lines] == lines
    assert reader.readline() == b""  # the end of the stream


def test_a_line_split_across_deflate_blocks_is_one_line() -> None:
    # The server flushed in the middle of the line, twice: three deflate blocks, one line.
    stream = deflated(b"* 3 FETCH (UID 7 FL", b"AGS (\\Seen)", b")\r\nA1 OK\r\n")
    reader = Inflater(receiver(stream))
    assert reader.readline() == b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"
    assert reader.readline() == b"A1 OK\r\n"


def test_a_large_literal_is_read_exactly_with_the_line_after_it() -> None:
    # 3 MB of incompressible bytes then 3 MB of highly compressible ones: reads of a literal span
    # many inflate steps and receive chunks, and stop at its last byte.
    literal = os.urandom(3_000_000) + b"x" * 3_000_000
    response = b"* 1 FETCH (BODY[] {%d}\r\n" % len(literal) + literal + b")\r\nA2 OK\r\n"
    reader = Inflater(receiver(deflated(response[:100_000], response[100_000:])))
    assert reader.readline() == b"* 1 FETCH (BODY[] {6000000}\r\n"
    assert reader.read(len(literal)) == literal
    assert reader.readline() == b")\r\n"
    assert reader.readline() == b"A2 OK\r\n"


def test_a_small_chunk_that_inflates_hugely_is_inflated_step_by_step() -> None:
    # 50 MB of zeros compress to ~50 KB: one receive must not turn into 50 MB at once.
    stream = deflated(b"\0" * 50_000_000)
    received: list[int] = []
    inner = receiver(stream)

    def receive(n: int) -> bytes:
        chunk: bytes = inner(n)
        received.append(len(chunk))
        return chunk

    reader = Inflater(receive)
    assert reader.read(10) == b"\0" * 10
    assert len(reader._buffer) <= INFLATE_STEP  # what one read inflated, bounded
    assert reader.buffered()  # received bytes wait to be inflated


def test_readline_stops_at_its_limit() -> None:
    reader = Inflater(receiver(deflated(b"abcdefgh\r\n")))
    assert reader.readline(4) == b"abcd"
    assert reader.readline() == b"efgh\r\n"


def test_what_is_inflated_survives_a_receive_that_fails() -> None:
    # A socket in non-blocking mode (imapclient's idle_check) with nothing more to read raises:
    # the half line already inflated must still be there for the next read.
    stream = deflated(b"* 4 EXI", b"STS\r\n")
    first = len(deflated(b"* 4 EXI"))
    parts: list[bytes | Exception] = [stream[:first], BlockingIOError(), stream[first:]]

    def receive(n: int) -> bytes:
        part = parts.pop(0)
        if isinstance(part, Exception):
            raise part
        return part

    reader = Inflater(receive)
    with pytest.raises(BlockingIOError):
        reader.readline()
    assert not reader.buffered()  # half a line: nothing a read can give yet
    assert reader.readline() == b"* 4 EXISTS\r\n"


def test_a_server_ending_its_deflate_stream_ends_the_connection() -> None:
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    stream = deflate.compress(b"* BYE\r\n") + deflate.flush(zlib.Z_FINISH)
    reader = Inflater(receiver(stream + b"junk after the end"))
    assert reader.readline() == b"* BYE\r\n"
    assert reader.readline() == b""


def test_a_final_empty_block_is_an_error_not_silence() -> None:
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    reader = Inflater(receiver(deflate.flush(zlib.Z_FINISH)))
    with pytest.raises(DeflateStreamEnded):
        reader.readline()


class _Imap:
    """The part of imaplib's connection that compression uses: its socket and writer."""

    error = imaplib.IMAP4.error

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def socket(self) -> socket.socket:
        return self.sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, size: int) -> bytes:
        raise AssertionError("the uncompressed reader is not used once compressed")

    readline = read


class _Client:
    """What buffered_input and the IDLE wait read of an imapclient client."""

    def __init__(self, imap: _Imap) -> None:
        self._imap = imap

    def socket(self) -> socket.socket:
        return self._imap.sock


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_each_command_reaches_the_server_whole_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    imap = _Imap(ours)
    compress_connection(imap)
    server = zlib.decompressobj(wbits=-15)
    for command in (b"A1 NOOP\r\n", b"A2 UID FETCH 1:* (FLAGS)\r\n", b"A3 LOGOUT\r\n"):
        imap.send(command)
        # Everything sent so far inflates to the whole command: the sync flush pushed it out.
        assert server.decompress(theirs.recv(65536)) == command


def test_a_line_longer_than_the_limit_is_refused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    imap = _Imap(ours)
    compress_connection(imap)
    theirs.sendall(deflated(b"* " + b"x" * MAX_LINE + b"\r\n"))
    with pytest.raises(imaplib.IMAP4.error, match="got more than"):
        imap.readline()


def test_idle_sees_inflated_input_the_socket_no_longer_shows(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    imap = _Imap(ours)
    client = _Client(imap)
    assert not buffered_input(client)  # type: ignore[arg-type]
    compress_connection(imap)
    # Two untagged responses in one flush: reading the first leaves the second inflated, and
    # the socket empty.
    theirs.sendall(deflated(b"* 5 EXISTS\r\n* 1 RECENT\r\n"))
    assert imap.readline() == b"* 5 EXISTS\r\n"
    assert buffered_input(client)  # type: ignore[arg-type]
    wake, _ = socket.socketpair()  # the live session's wake-up for work: nothing to say here
    assert _readable(client, wake, 0) == "server"  # type: ignore[arg-type]
    assert imap.readline() == b"* 1 RECENT\r\n"
    assert not buffered_input(client)  # type: ignore[arg-type]
    assert _readable(client, wake, 0) == ""  # type: ignore[arg-type]
