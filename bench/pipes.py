"""Lines read from a child process's pipe, each within a bound: a child that stops answering
fails the caller with TimeoutError instead of holding the bench forever.

A plain ``readline()`` on a pipe blocks until the child writes a line or closes the pipe; a child
that is stuck (a tmux server that no longer answers its control client, a proxy process that
hangs) would hold the bench with it. ``LineReader`` reads the pipe's file descriptor itself,
waiting with ``select`` for at most what is left of the deadline.
"""

from __future__ import annotations

import os
import select
import time
from typing import IO

CHUNK = 65536


class LineReader:
    """Lines (decoded as UTF-8, bad bytes replaced) from a binary pipe, each within a deadline.

    Only this reader may read the pipe: it keeps what it read past a line for the next call.
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self.fd = pipe.fileno()
        self._buffer = b""
        self._eof = False

    def readline(self, deadline: float, *, what: str = "a line") -> str | None:
        """The next line without its end; None at the end of the pipe (the child closed it).

        Raises TimeoutError when the monotonic clock passes ``deadline`` first (``what`` names
        what was awaited, for the message).
        """
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
                return line.decode("utf-8", errors="replace")
            if self._eof:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", errors="replace") if rest else None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within the time allowed: {what}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue  # the deadline check above raises
            data = os.read(self.fd, CHUNK)
            if not data:
                self._eof = True
            self._buffer += data
