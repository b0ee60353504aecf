"""A TCP proxy on loopback that puts a wide-area network between a client and a server.

``LatencyProxy(target_host, target_port, delay=0.025)`` listens on a free 127.0.0.1 port and
forwards every connection to the target, each direction delayed by ``delay`` seconds (one way:
half the round-trip time). Each chunk read from one side is stamped with its arrival time and
written to the other side at arrival + delay, in order, by a writer of its own: chunks follow
each other down the "wire" as they came, so the delay adds latency without cutting throughput
(it is not a sleep per chunk, which would serialise them). Both sides have TCP_NODELAY set, so
Nagle's algorithm adds nothing on top. A direction holds at most ``MAX_QUEUED`` bytes in flight;
beyond that the proxy stops reading and TCP pushes back on the sender, as a full window would.

What crosses is encrypted (TLS) and not recorded; the proxy counts connections
(``connections``: every one it accepted, each one a client's login) and notes when the last byte
crossed (``quiet_for``). For an outage, ``cut()`` resets every open connection and closes the
listening socket (new connections are refused, as by a server that is down); ``restore()``
listens again on the same port.

The bench runs the proxy in a process of its own (``ProxyProcess``; ``python -m bench.latency``
speaks a line protocol on stdin/stdout), so its timers do not wait for the bench's own Python
threads. See bench/README.md ("Over a wide-area network").
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType

from bench.pipes import LineReader

CHUNK = 65536
MAX_QUEUED = 32 << 20  # bytes in flight per direction before the proxy stops reading
HERE = Path(__file__).resolve().parent
# The proxy process answers a command at once; one it has not answered in this long, it will not.
ANSWER_TIMEOUT = 30.0


class LatencyProxy:
    """A threaded TCP proxy from 127.0.0.1:``port`` to the target, with a one-way delay."""

    host = "127.0.0.1"

    def __init__(
        self, target_host: str, target_port: int, *, delay: float = 0.0, port: int = 0
    ) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.port = port
        self.connections = 0
        self.refused = 0
        self._last_activity = time.monotonic()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._closed = False

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> LatencyProxy:
        """Listen (on ``port``, or a free one the first time) and start accepting."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"latency-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed = True
        self._stop_listening()
        self._reset_all()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- the outage -------------------------------------------------------------------------------
    def cut(self) -> None:
        """An outage: reset every open connection and refuse new ones until ``restore()``."""
        self._stop_listening()
        self._reset_all()

    def restore(self, timeout: float = 10.0) -> None:
        """The end of the outage: listen again on the same port (retried while it is busy).
        Nothing to do when the proxy is listening."""
        if self._listener is not None:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.start()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # --- what it saw ------------------------------------------------------------------------------
    @property
    def open_connections(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._links)

    def quiet_for(self) -> float:
        """Seconds since the last byte crossed the proxy (either way)."""
        return time.monotonic() - self._last_activity

    def touch(self) -> None:
        """Note that bytes crossed now."""
        self._last_activity = time.monotonic()

    # --- plumbing ---------------------------------------------------------------------------------
    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown() wakes the thread blocked in accept()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None

    def _reset_all(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.reset()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _address = listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                self.refused += 1
                _close(downstream)
                continue
            upstream.settimeout(None)
            for sock in (downstream, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, downstream, upstream)
            with self._lock:
                self.connections += 1
                self._links.add(link)
            link.start()

    def _finished(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


class _Link:
    """One proxied connection: two directions, each a reader and a delayed writer."""

    def __init__(
        self, proxy: LatencyProxy, downstream: socket.socket, upstream: socket.socket
    ) -> None:
        self.proxy = proxy
        self.downstream = downstream
        self.upstream = upstream
        self._ended = 0
        self._lock = threading.Lock()
        self.directions = (
            _Direction(self, downstream, upstream, "c2s"),
            _Direction(self, upstream, downstream, "s2c"),
        )

    def start(self) -> None:
        for direction in self.directions:
            direction.start()

    def reset(self) -> None:
        """Close both sides with a TCP reset (an outage, or the proxy closing)."""
        for sock in (self.downstream, self.upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # wakes the reader blocked in recv()
            with contextlib.suppress(OSError):
                sock.close()
        for direction in self.directions:
            direction.abort()
        self.proxy._finished(self)

    def direction_ended(self) -> None:
        """One direction delivered its end of stream (or failed); both done: close."""
        with self._lock:
            self._ended += 1
            done = self._ended == 2
        if done:
            _close(self.downstream)
            _close(self.upstream)
            self.proxy._finished(self)

    def failed(self) -> None:
        """A send or receive failed: the connection is over for both sides."""
        self.reset()


class _Direction:
    """Bytes from ``source`` to ``sink``, each chunk written ``delay`` after it arrived."""

    def __init__(self, link: _Link, source: socket.socket, sink: socket.socket, name: str) -> None:
        self.link = link
        self.source = source
        self.sink = sink
        self.name = name
        self.queue: deque[tuple[float, bytes]] = deque()  # (due, data); b"": end of stream
        self.queued = 0
        self.condition = threading.Condition()
        self.aborted = False

    def start(self) -> None:
        port = self.link.proxy.port
        for target, what in ((self._read, "read"), (self._write, "write")):
            threading.Thread(
                target=target, name=f"latency-{port}-{self.name}-{what}", daemon=True
            ).start()

    def abort(self) -> None:
        with self.condition:
            self.aborted = True
            self.queue.clear()
            self.condition.notify_all()

    def _read(self) -> None:
        proxy = self.link.proxy
        while True:
            try:
                data = self.source.recv(CHUNK)
            except OSError:
                self.link.failed()
                return
            arrived = time.monotonic()
            proxy.touch()
            with self.condition:
                while self.queued > MAX_QUEUED and not self.aborted:
                    self.condition.wait()
                if self.aborted:
                    return
                self.queue.append((arrived + proxy.delay, data))
                self.queued += len(data)
                self.condition.notify_all()
            if not data:
                return  # end of stream, passed on in order by the writer

    def _write(self) -> None:
        while True:
            with self.condition:
                while not self.queue and not self.aborted:
                    self.condition.wait()
                if self.aborted:
                    return
                due, data = self.queue.popleft()
                self.queued -= len(data)
                self.condition.notify_all()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    self.sink.shutdown(socket.SHUT_WR)  # the other side sees EOF
                self.link.direction_ended()
                return
            try:
                self.sink.sendall(data)
            except OSError:
                self.link.failed()
                return
            self.link.proxy.touch()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# --- the proxy in a process of its own ----------------------------------------------------------


class ProxyProcess:
    """``python -m bench.latency`` as a child process, driven over its stdin and stdout.

    The same controls as LatencyProxy: ``port``, ``connections``, ``quiet_for()``, ``cut()``,
    ``restore()``, ``set_delay()``; ``close()`` ends the process.
    """

    host = LatencyProxy.host

    def __init__(self, target_host: str, target_port: int, *, delay: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.latency", target_host, str(target_port),
             "--delay", repr(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=HERE.parent,
        )  # fmt: skip
        assert self._process.stdout is not None
        self._answers = LineReader(self._process.stdout)
        self.delay = delay
        try:
            self.port = int(self._ask("port"))
        except BaseException:
            self.close()
            raise

    def _ask(self, command: str) -> str:
        """Send one command; its answer, within ANSWER_TIMEOUT (RuntimeError otherwise: a
        proxy that does not answer fails the row that needs it, it does not hold the bench)."""
        process = self._process
        assert process.stdin is not None
        try:
            process.stdin.write((command + "\n").encode())
            process.stdin.flush()
            answer = (self._answers.readline(time.monotonic() + ANSWER_TIMEOUT) or "").strip()
        except TimeoutError:
            raise RuntimeError(
                f"latency proxy: {command!r}: no answer within {ANSWER_TIMEOUT:.0f} s"
            ) from None
        except OSError as error:
            raise RuntimeError(f"latency proxy: {command!r}: {error}") from None
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"latency proxy: {command!r}: {answer or 'no answer'}")
        return answer

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return int(self._ask("connections"))

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return int(self._ask("open"))

    def quiet_for(self) -> float:
        """Seconds since the last byte crossed the proxy."""
        return float(self._ask("quiet"))

    def wait_quiet(self, seconds: float, *, timeout: float = 60.0) -> bool:
        """Wait until nothing crossed for ``seconds`` (False if that did not happen in time)."""
        deadline = time.monotonic() + timeout
        while True:
            quiet = self.quiet_for()
            if quiet >= seconds:
                return True
            if time.monotonic() + (seconds - quiet) > deadline:
                return False
            time.sleep(max(seconds - quiet, 0.01))

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        self._ask("cut")

    def restore(self) -> None:
        """Accept connections again, on the same port (nothing to do if it does)."""
        self._ask("restore")

    def set_delay(self, delay: float) -> None:
        """The one-way delay for chunks arriving from now on."""
        self._ask(f"delay {delay!r}")
        self.delay = delay

    def close(self) -> None:
        """End the proxy process (its connections with it)."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def serve(proxy: LatencyProxy) -> None:
    """Answer one line per command read from stdin, until it ends."""
    answers = {
        "port": lambda: str(proxy.port),
        "connections": lambda: str(proxy.connections),
        "open": lambda: str(proxy.open_connections),
        "quiet": lambda: f"{proxy.quiet_for():.6f}",
    }
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        try:
            if command in answers:
                answer = answers[command]()
            elif command == "cut":
                proxy.cut()
                answer = "ok"
            elif command == "restore":
                proxy.restore()
                answer = "ok"
            elif command == "delay":
                proxy.delay = float(argument)
                answer = "ok"
            else:
                answer = f"error unknown command {command!r}"
        except (OSError, ValueError) as error:
            answer = f"error {error}"
        print(answer, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.latency HOST PORT [--delay SECONDS]``: the proxy, driven on stdin."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0, help="one-way delay in seconds")
    args = parser.parse_args(argv)
    # Hand the interpreter over between the proxy's threads quickly: a writer whose chunk is due
    # must not wait out the default 5 ms switch interval behind a busy reader.
    sys.setswitchinterval(0.0005)
    with LatencyProxy(args.host, args.port, delay=args.delay) as proxy:
        serve(proxy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
