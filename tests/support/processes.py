"""Process and port helpers shared by the test server launchers."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

# Addresses the servers listen on; the whole of 127.0.0.0/8 reaches the loopback interface on Linux.
LOOPBACK_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")


class ServerStartError(RuntimeError):
    """A test server could not be started; the message carries the server's own log."""


def require_root(what: str) -> None:
    """Fail with a clear message unless running as root (the servers drop privileges themselves)."""
    if os.geteuid() != 0:
        raise ServerStartError(
            f"{what} must be started as root: Dovecot and Postfix switch to their own service "
            "users. Run the test suite as root (see docs/testing.md)."
        )


def require_traversable(directory: Path) -> None:
    """Fail unless every parent of ``directory`` lets other users pass (o+x).

    Dovecot's and Postfix's service users (dovecot, dovenull, postfix, the mail owner) must reach
    files inside the server directory; pytest's own temporary directories are 0700.
    """
    for parent in directory.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise ServerStartError(
                f"{parent} is not traversable by other users (o+x), so the mail servers' service "
                f"users cannot reach {directory}; use a directory made by tempfile.mkdtemp() "
                "under /tmp"
            )


def pick_free_ports(count: int, addresses: Iterable[str] = LOOPBACK_ADDRESSES) -> list[int]:
    """Return ``count`` distinct TCP ports that are free right now on every one of ``addresses``.

    The kernel picks each port (bind to port 0 on the first address); it is then checked on the
    other addresses too, since the servers listen on the same port on several of them. The ports
    are released again before returning, so a start-up can still lose a race: callers retry.
    """
    addresses = tuple(addresses)
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if port not in ports and all(_port_is_free(address, port) for address in addresses[1:]):
            ports.append(port)
    return ports


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on ``host`` where every connection is refused while the block runs.

    The port stays bound (never listening) until the end: a port picked free and released again
    can meanwhile be given to a server of a test running in parallel, which would then answer.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((host, 0))
        yield holder.getsockname()[1]


def _port_is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def is_listening(host: str, port: int) -> bool:
    """True when a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    failure_details: Callable[[], str],
    still_starting: Callable[[], bool] = lambda: True,
) -> None:
    """Poll ``condition`` until it holds; raise ServerStartError with details on timeout.

    ``still_starting`` lets the caller give up early when the server process already died.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if not still_starting():
            raise ServerStartError(f"{what}: exited during start-up\n{failure_details()}")
        if time.monotonic() > deadline:
            raise ServerStartError(f"{what}: not ready after {timeout:.0f} s\n{failure_details()}")
        time.sleep(0.05)


def wait_for_master(
    pid_file: Path,
    listeners: Iterable[tuple[str, int]],
    *,
    timeout: float,
    what: str,
    failure_details: Callable[[], str],
) -> int:
    """Wait (bounded) until a daemon wrote its master PID and listens on every address; return
    the PID. Gives up early when the master died."""
    expected = list(listeners)
    pid: int | None = None

    def ready() -> bool:
        nonlocal pid
        pid = pid or read_pid_file(pid_file)
        return pid is not None and all(is_listening(host, port) for host, port in expected)

    wait_until(
        ready,
        timeout=timeout,
        what=what,
        failure_details=failure_details,
        still_starting=lambda: pid is None or pid_alive(pid),
    )
    assert pid is not None
    return pid


def read_pid_file(path: Path) -> int | None:
    """The PID stored in ``path``, or None while the file is missing or still empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text()
        # The state letter follows the parenthesised command name.
        if status.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_pids(pids: Iterable[int], *, grace: float = 10.0) -> set[int]:
    """Send SIGTERM to every PID, then SIGKILL to those still there after ``grace`` seconds.

    All are signalled first and awaited together, so stopping several servers takes as long as
    the slowest. Returns the PIDs that had to be killed.
    """
    waiting = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            waiting.add(pid)
    deadline = time.monotonic() + grace
    while waiting and time.monotonic() < deadline:
        waiting = {pid for pid in waiting if pid_alive(pid)}
        if waiting:
            time.sleep(0.05)
    for pid in waiting:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return waiting


class MasterProcess(Protocol):
    """A server whose master process can be found and forgotten."""

    pid: int | None

    def master_pid(self) -> int | None:
        """The running master's PID, if known."""
        ...


def stop_servers(servers: Iterable[MasterProcess], *, grace: float = 10.0) -> None:
    """Stop the master processes of ``servers`` together, by PID (TERM, then KILL)."""
    servers = list(servers)
    stop_pids([pid for server in servers if (pid := server.master_pid()) is not None], grace=grace)
    for server in servers:
        server.pid = None


def tail(path: Path, max_chars: int = 6000) -> str:
    """The end of a log file for an error message, or a note that it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    if len(text) > max_chars:
        text = "...\n" + text[-max_chars:]
    return f"--- {path} ---\n{text}"
