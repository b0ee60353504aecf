"""The work an IMAP account's live session does, in the order it does it (`JobQueue`).

The app asks for work from its own thread (a message opened, a flag set, `G`, the messages around
the cursor); the live session (tuimail.sync.imap.live) does it on its one connection, in its own
thread. A job waits here until the session takes it: the most urgent kind first (what the user
waits for before what the server announced, before background downloads), in the order asked
within a kind. The same job asked for twice while it waits is done once.

`wake` is a socket that becomes readable when a job arrives, so that the session, waiting for the
server's news in IDLE, can wait for both at once (`select`).
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import socket
import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


class JobKind(enum.IntEnum):
    """What a job is; its value is its rank (lower first)."""

    BODY = 0  # a message the user opened (its text), or its attachments (all of it)
    OPS = 1  # the user's actions, replayed to the server
    DRAFTS = 2  # the Drafts folder brought up to date with the drafts kept here
    PASS = 3  # the folder list, then every folder (at start, on `G`, every few minutes)
    RESYNC = 4  # a folder the server said changed
    PREFETCH = 5  # the messages around the cursor, so that opening them does not wait
    FOLDER = 6  # one folder of a pass
    BODIES = 7  # a slice of the background download of bodies for offline reading


# Kinds a user waits for: asked for while the session waits to reconnect, they end the wait.
URGENT = frozenset({JobKind.BODY, JobKind.OPS, JobKind.DRAFTS, JobKind.PASS})
# Kinds that need the account's sync lock (they write what a `tuimail sync` writes).
LOCKED = frozenset({JobKind.OPS, JobKind.PASS, JobKind.RESYNC, JobKind.FOLDER, JobKind.BODIES})


@dataclass(frozen=True, slots=True)
class Job:
    """One piece of work: its kind, and what it is about (a message, a folder, messages)."""

    kind: JobKind
    subject: Hashable = None  # BODY: (message id, full); RESYNC/FOLDER: folder id; PREFETCH: ids
    tries: int = field(default=0, compare=False)  # connections it was started on and lost

    def again(self) -> Job:
        """The job to try once more on the next connection."""
        return Job(self.kind, self.subject, self.tries + 1)


class JobQueue:
    """Jobs waiting for the live session (any thread may `put`; the session takes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[int, int, Job]] = []
        self._waiting: set[tuple[JobKind, Hashable]] = set()
        self._order = itertools.count()
        self.urgent_asked = 0  # how many URGENT jobs were put so far (a waiter compares)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    @property
    def wake(self) -> socket.socket:
        """Readable when a job arrived since the last `take` found the queue empty."""
        return self._wake_reader

    def put(self, job: Job) -> None:
        """Ask for `job` (done once however often it is asked for while it waits)."""
        with self._lock:
            key = (job.kind, job.subject)
            if key in self._waiting:
                return
            self._waiting.add(key)
            heapq.heappush(self._heap, (int(job.kind), next(self._order), job))
            if job.kind in URGENT:
                self.urgent_asked += 1
        self.nudge()

    def nudge(self) -> None:
        """Wake the session's wait without a job: something else it looks at between jobs
        changed (what an extra connection's EXAMINE said, tuimail.sync.imap.watchers)."""
        # The socket may be full of wake-ups already, or closed at exit.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_writer.send(b"j")

    def take(self) -> Job | None:
        """The most urgent job, or None when there is none (the wake-ups are then cleared: a
        job put after this returns wakes the next wait)."""
        with self._lock:
            if self._heap:
                _, _, job = heapq.heappop(self._heap)
                self._waiting.discard((job.kind, job.subject))
                return job
            self._drain()
            return None

    def remove(self, kinds: Iterable[JobKind]) -> list[Job]:
        """Take every waiting job of `kinds` out of the queue, in order; the rest stay."""
        wanted = set(kinds)
        with self._lock:
            taken = sorted(item for item in self._heap if item[2].kind in wanted)
            self._heap = [item for item in self._heap if item[2].kind not in wanted]
            heapq.heapify(self._heap)
            for _, _, job in taken:
                self._waiting.discard((job.kind, job.subject))
        return [job for _, _, job in taken]

    def clear_wake(self) -> None:
        """Forget the wake-ups so far (the caller looks at the queue itself)."""
        with self._lock:
            self._drain()

    def close(self) -> None:
        """Close the wake-up sockets (the session has ended)."""
        self._wake_reader.close()
        self._wake_writer.close()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_reader.recv(4096):
                pass
