"""One sync at a time per account and protocol, across processes (a cron `tuimail sync` and a
running app): an exclusive `fcntl.flock` on a file in `<data_dir>/locks/`.

The lock is held by an open file description, so the kernel releases it when the holder exits,
however it exits; lock files are never deleted (deleting a locked file lets a second process
lock a new file of the same name). The holder writes its PID, start time and command into the
file so that a process that has to wait can say who it waits for.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from tuimail.core.paths import private_dir, tighten_file
from tuimail.store import codec
from tuimail.store.db import StoreError

LOCK_DIR = "locks"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_POLL_SECONDS = 0.05


class LockBusyError(StoreError):
    """Another process holds the lock; the message names it."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a lock, as it wrote itself into the lock file."""

    pid: int
    since: datetime
    command: str


def lock_file_name(account: str, protocol: str) -> str:
    """The lock file name for an account and protocol: the names themselves when they are
    plain (letters, digits, '-', '_'), else a digest, so no text ever becomes a path.
    """
    if _SAFE_NAME.fullmatch(account) and _SAFE_NAME.fullmatch(protocol):
        return f"{account}.{protocol}.lock"
    digest = hashlib.sha256(f"{account}\0{protocol}".encode("utf-8", "surrogatepass")).hexdigest()
    # '~' cannot appear in a plain name, so a digest never collides with one.
    return f"~{digest[:40]}.lock"


class AccountLock:
    """The sync lock of one account and protocol. Use as a context manager, or acquire/release.

    `timeout`: seconds to wait before LockBusyError; 0 tries once, `math.inf` waits as long as
    it takes.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        account: str,
        protocol: str,
        *,
        timeout: float = 0,
    ) -> None:
        self.account = account
        self.protocol = str(protocol)
        self.path = Path(data_dir) / LOCK_DIR / lock_file_name(account, self.protocol)
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock, waiting up to `timeout` seconds (None: the one given at construction)."""
        if self._fd is not None:
            raise StoreError(f"the lock of {self._label()} is already held by this object")
        try:
            fd = self._open()
        except OSError as exc:
            # A read-only data directory (or one of another user): in words, not a traceback.
            raise StoreError(
                f"{self.path.parent.parent}: the data directory cannot be written "
                f"({exc.strerror or exc}); tuimail keeps its mail and locks there"
            ) from exc
        try:
            self._lock(fd, self.timeout if timeout is None else timeout)
            self._write_holder(fd)
        except BaseException:
            os.close(fd)  # closing releases a lock taken just before a failure
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def holder(self) -> LockHolder | None:
        """Who last wrote itself into the lock file (None when unreadable or never held)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        lines = text.split("\n")
        try:
            return LockHolder(
                pid=int(lines[0]),
                since=codec.to_datetime(float(lines[1])),
                command=lines[2] if len(lines) > 2 else "",
            )
        except (ValueError, IndexError, OverflowError):
            return None

    def _label(self) -> str:
        return f"{self.account!r} ({self.protocol})"

    def _open(self) -> int:
        directory = self.path.parent
        private_dir(directory.parent)  # the data directory
        private_dir(directory)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            tighten_file(fd)  # a lock file left by an older version may be 0644
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _lock(self, fd: int, timeout: float) -> None:
        if math.isinf(timeout):
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._busy(timeout) from None
                time.sleep(_POLL_SECONDS)

    def _busy(self, waited: float) -> LockBusyError:
        holder = self.holder()
        if holder is None:
            who = "another process"
        else:
            since = holder.since.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            command = f" ({holder.command})" if holder.command else ""
            who = f"process {holder.pid}{command}, since {since}"
        after = f" after waiting {waited:g} s" if waited else ""
        return LockBusyError(f"{self._label()} is being synced by {who}; gave up{after}", holder)

    def _write_holder(self, fd: int) -> None:
        # Printable text only: the command line is shown to users when they have to wait.
        command = " ".join(
            os.path.basename(arg) if i == 0 else arg for i, arg in enumerate(sys.argv)
        )
        command = "".join(ch if ch.isprintable() else "?" for ch in command)[:200]
        record = f"{os.getpid()}\n{time.time():.3f}\n{command}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
