"""The command deadline on a plain socket pair: a trickle ends, a send starts it again, a spent
connection fails at once, and abort_all wakes a read blocked in another thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tuimail.sync.deadline import (
    IMAP_COMMAND,
    POP3_COMMAND,
    CommandTimeout,
    ConnectionAborted,
    Deadline,
    abort_all,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    client.settimeout(5.0)  # one read's timeout: longer than the trickle's gaps
    yield client, server
    client.close()
    server.close()


def trickle(server: socket.socket, data: bytes, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        for byte in data:
            if stop.wait(0.05):
                return
            try:
                server.sendall(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_trickled_answer_ends_at_the_deadline_and_says_what_was_awaited(pair) -> None:
    client, server = pair
    sock = Deadline(0.5, "127.0.0.1:143", IMAP_COMMAND).adopt(client)
    sock.sendall(b"ABCD1 UID FETCH 1:* (FLAGS)\r\n")
    stop = threading.Event()
    trickle(server, b"* 1 FETCH (FLAGS ())" * 100, stop)
    reader = sock.makefile("rb")
    try:
        with pytest.raises(CommandTimeout) as failure:
            reader.readline()  # every byte on time, the line never ends
    finally:
        stop.set()
    assert str(failure.value) == (
        "timed out: 127.0.0.1:143 did not finish its answer to FETCH within 0.5 s (command_timeout)"
    )
    # Spent: a polite LOGOUT fails at once instead of waiting again.
    with pytest.raises(CommandTimeout):
        sock.sendall(b"ABCD2 LOGOUT\r\n")
    with pytest.raises(CommandTimeout):
        sock.recv(1)


def test_each_command_gets_the_whole_deadline(pair) -> None:
    client, server = pair
    sock = Deadline(2.0, "pop:110", POP3_COMMAND).adopt(client)
    server.sendall(b"+OK ready\r\n")
    assert sock.recv(100) == b"+OK ready\r\n"
    for number in range(3):
        sock.sendall(b"STAT\r\n")
        server.sendall(b"+OK %d 0\r\n" % number)
        assert sock.recv(100) == b"+OK %d 0\r\n" % number


def test_the_greeting_is_awaited_first(pair) -> None:
    client, _server = pair
    sock = Deadline(0.2, "pop:110", POP3_COMMAND).adopt(client)
    with pytest.raises(CommandTimeout, match=r"did not finish its greeting within 0\.2 s"):
        sock.recv(1)


def test_abort_all_wakes_a_read_blocked_in_another_thread(pair) -> None:
    client, _server = pair
    sock = Deadline(600, "imap:143", IMAP_COMMAND).adopt(client)
    sock.settimeout(None)
    results: list[object] = []

    def read() -> None:
        try:
            results.append(sock.recv(1))
        except OSError as exc:
            results.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(0.2)  # the read is blocked (nothing was sent)
    assert reader.is_alive()
    abort_all("quitting")
    reader.join(10)
    assert not reader.is_alive()
    assert results == [b""] or isinstance(results[0], OSError)  # the end, or an error
    with pytest.raises(ConnectionAborted, match="quitting"):
        sock.recv(1)
