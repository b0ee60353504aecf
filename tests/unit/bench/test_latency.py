"""The bench's latency proxy: delay each way without serialising, count connections, and an
outage that resets what is open and refuses new connections until it is restored."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bench.latency import LatencyProxy, ProxyProcess

DELAY = 0.1  # one way


class EchoServer:
    """A loopback server that sends back what it receives, on every connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := _recv(conn):
                conn.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except OSError:
        return b""


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def test_a_round_trip_takes_the_delay_each_way_and_keeps_the_bytes(echo: EchoServer) -> None:
    with LatencyProxy("127.0.0.1", echo.port, delay=DELAY) as proxy:
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as conn:
            sent = time.monotonic()
            conn.sendall(b"ping\r\n")
            assert _read_exactly(conn, 6) == b"ping\r\n"
            # A lower bound that holds by construction: each chunk waits the delay each way.
            assert time.monotonic() - sent >= 2 * DELAY
        assert proxy.connections == 1


def test_chunks_in_flight_are_delayed_together_not_one_after_another(echo: EchoServer) -> None:
    # Ten chunks sent 10 ms apart: each arrives back about 2 x DELAY after it was sent, in order.
    # A proxy that slept the delay per chunk would need at least 10 x 2 x DELAY for all of them.
    count = 10
    with (
        LatencyProxy("127.0.0.1", echo.port, delay=DELAY) as proxy,
        socket.create_connection((proxy.host, proxy.port), timeout=10) as conn,
    ):
        started = time.monotonic()
        payload = b""
        for number in range(count):
            chunk = f"chunk {number:02d}\n".encode()
            payload += chunk
            conn.sendall(chunk)
            time.sleep(0.01)
        assert _read_exactly(conn, len(payload)) == payload
        elapsed = time.monotonic() - started
    assert elapsed >= 2 * DELAY
    assert elapsed < count * 2 * DELAY


def test_an_outage_resets_open_connections_refuses_new_ones_and_ends(echo: EchoServer) -> None:
    with LatencyProxy("127.0.0.1", echo.port) as proxy:
        port = proxy.port
        conn = socket.create_connection((proxy.host, port), timeout=10)
        conn.sendall(b"a")
        assert _read_exactly(conn, 1) == b"a"

        proxy.cut()
        # The open connection is gone: reading gives a reset or the end of the stream.
        assert _recv(conn) == b""
        conn.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, port), timeout=10)

        proxy.restore()
        assert proxy.port == port
        with socket.create_connection((proxy.host, port), timeout=10) as again:
            again.sendall(b"b")
            assert _read_exactly(again, 1) == b"b"
        # Accepted connections are counted; the refused one never reached the proxy.
        assert proxy.connections == 2


def test_the_proxy_process_is_driven_over_its_pipes(echo: EchoServer) -> None:
    with ProxyProcess("127.0.0.1", echo.port, delay=0.0) as proxy:
        assert proxy.connections == 0
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as conn:
            conn.sendall(b"x")
            assert _read_exactly(conn, 1) == b"x"
            assert proxy.open_connections == 1
        proxy.cut()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, proxy.port), timeout=10)
        proxy.restore()
        proxy.set_delay(DELAY)
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as conn:
            sent = time.monotonic()
            conn.sendall(b"y")
            assert _read_exactly(conn, 1) == b"y"
            assert time.monotonic() - sent >= 2 * DELAY
        assert proxy.connections == 2
        assert proxy.wait_quiet(0.05, timeout=10)
