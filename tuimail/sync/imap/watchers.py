"""The extra connections of an IMAP account's live session that IDLE on the folders whose mail
the user wants at once (`accounts.NAME.notify_folders`), on a server with IDLE but no NOTIFY.

Without NOTIFY (RFC 5465) a connection hears of one folder only, the one it IDLEs on (RFC 2177):
the live session (tuimail.sync.imap.live) IDLEs on INBOX and asks the other folders' STATUS every
30 s. For the folders that match the account's `notify_folders` patterns, INBOX aside,
`FolderWatchers` keeps one more connection each, at most `MAX_WATCHERS` of them (servers limit
the connections of a user: Dovecot to 10 from one address by default); the folders past the
bound, in the patterns' order, stay in the STATUS round, and the log names them.

Each connection is owned by a thread of its own (imapclient is not thread-safe): it logs in,
EXAMINEs its folder and IDLEs; when the server says the folder changed (EXISTS, EXPUNGE, FETCH,
VANISHED) it asks the session for that folder's RESYNC job, the job the session's own news
makes, and IDLEs again. The store is the session's alone: a watcher neither writes nor reads it.
What its EXAMINE said (mail that came before the IDLE began, which the IDLE does not announce)
is handed to the session, which compares it with the store in its own thread (`behind`). A lost
connection is tried again after the session's backoff; a refused login ends the watcher until
the next pass (a wrong password is the session's to tell; a server at its limit of connections
per user refuses the login too). All end with the session (`stop`, or the session's `cancel`).
While a watcher is not idling (it connects, waits to reconnect, or has ended), its folder is
back in the STATUS round (`watching`).
"""

from __future__ import annotations

import logging
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import imapclient

from tuimail.config.patterns import pattern_rank
from tuimail.core.failure import FailureKind
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.sync.deadline import deadline_of
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.compress import buffered_input
from tuimail.sync.imap.extensions import logout_quietly, server_response
from tuimail.sync.imap.jobs import Job, JobKind, JobQueue
from tuimail.sync.imap.news import is_change
from tuimail.sync.imap.selection import select as select_folder
from tuimail.sync.session import failure_of

log = logging.getLogger(__name__)

MAX_WATCHERS = 4  # extra connections per account, besides the session's own
STOP_WAIT = 10.0  # seconds `stop` waits for the connections' LOGOUT


@dataclass(frozen=True, slots=True)
class Examined:
    """What a watcher's EXAMINE said of its folder."""

    folder_id: int
    uidvalidity: int
    uidnext: int | None
    exists: int


class FolderWatchers:
    """The session's extra connections, one per watched folder (see the module). `choose`,
    `behind`, `watching` and `stop` are called by the session's thread."""

    def __init__(
        self,
        account: str,
        connect: Callable[[], imapclient.IMAPClient],
        jobs: JobQueue,
        *,
        cancel: threading.Event,
        check_interval: float,
        idle_renew: float,
        backoff_start: float,
        backoff_limit: Callable[[str], float],
        most: int = MAX_WATCHERS,
    ) -> None:
        self.account = account
        self.connect = connect
        self.jobs = jobs
        self.cancel = cancel
        self.check_interval = check_interval
        self.idle_renew = idle_renew
        self.backoff_start = backoff_start
        self.backoff_limit = backoff_limit  # a failure's kind -> the longest wait before a retry
        self.most = most
        self._running: dict[tuple[int, str], _Watcher] = {}
        self._lock = threading.Lock()
        self._examined: dict[int, Examined] = {}
        self.polled: tuple[str, ...] = ()  # notify folders past the bound: in the STATUS round

    def choose(self, folders: Sequence[read.FolderInfo], patterns: Sequence[str]) -> None:
        """Watch the folders among `folders` (the account's, as listed) that match `patterns`,
        INBOX aside, the first `most` in the patterns' order; stop watching the others."""
        ranked: list[tuple[int, int, read.FolderInfo]] = []
        for position, info in enumerate(folders):
            if info.name.upper() == "INBOX":
                continue  # the session's own connection IDLEs there
            names = (info.name, info.display_name, "/".join(info.path))
            rank = pattern_rank(patterns, names)
            if rank is not None:
                ranked.append((rank, position, info))
        wanted = [info for _, _, info in sorted(ranked, key=lambda item: item[:2])]
        # A watcher that ended on its own (a refused login) is started again with the pass.
        self._running = {key: w for key, w in self._running.items() if w.thread.is_alive()}
        chosen = {(info.id, info.name): info for info in wanted[: self.most]}
        polled = tuple(info.display_name for info in wanted[self.most :])
        if set(chosen) == set(self._running) and polled == self.polled:
            return
        for key in [key for key in self._running if key not in chosen]:
            self._running.pop(key).stop.set()
        for key, info in chosen.items():
            if key not in self._running:
                watcher = _Watcher(self, info.id, info.name)
                self._running[key] = watcher
                watcher.thread.start()
        self.polled = polled
        if chosen:
            shown = ", ".join(sanitize_line(info.display_name) for info in chosen.values())
            extra = "connection" if len(chosen) == 1 else "connections"
            log.info("IMAP %s: IDLE on %s over %d more %s", self.account, shown, len(chosen),
                     extra)  # fmt: skip
        if polled:
            log.info("IMAP %s: at most %d more connections: %s by STATUS with the other folders",
                     self.account, self.most, ", ".join(map(sanitize_line, polled)))  # fmt: skip

    def watching(self) -> set[int]:
        """The folders a watcher IDLEs on now (the STATUS round leaves them out)."""
        return {key[0] for key, watcher in list(self._running.items()) if watcher.idling}

    def behind(self, conn: sqlite3.Connection) -> list[int]:
        """The folders whose EXAMINE, since the last call, told of what the store lacks (mail
        that arrived before the IDLE began). `conn`: the session's store connection."""
        with self._lock:
            examined, self._examined = self._examined, {}
        ids: list[int] = []
        for said in examined.values():
            info = read.folder(conn, said.folder_id)
            if info is None:
                continue  # gone with the last folder list
            if (
                info.uidnext is None
                or info.uidvalidity != said.uidvalidity
                or (said.uidnext is not None and said.uidnext > info.uidnext)
                or said.exists != info.total
            ):
                ids.append(info.id)
        return ids

    def stop(self) -> None:
        """End every watcher and wait (a while) for its connection to be logged out."""
        running = list(self._running.values())
        self._running.clear()
        for watcher in running:
            watcher.stop.set()
        until = time.monotonic() + STOP_WAIT  # for all of them: they log out side by side
        for watcher in running:
            watcher.thread.join(timeout=max(until - time.monotonic(), 0.0))

    def _tell(self, said: Examined) -> None:
        """A watcher's thread: hand what its EXAMINE said to the session."""
        with self._lock:
            self._examined[said.folder_id] = said
        self.jobs.nudge()


class _Watcher:
    """One folder's connection and the thread that owns it."""

    def __init__(self, owner: FolderWatchers, folder_id: int, name: str) -> None:
        self.owner = owner
        self.folder_id = folder_id
        self.name = name
        self.stop = threading.Event()
        self.idling = False
        self.thread = threading.Thread(
            target=self._run, name=f"imap-watch-{owner.account}-{folder_id}", daemon=True
        )

    def _ended(self) -> bool:
        return self.stop.is_set() or self.owner.cancel.is_set()

    def _run(self) -> None:
        owner = self.owner
        where = f"{owner.account}/{sanitize_line(self.name)}"
        delay = owner.backoff_start
        while not self._ended():
            client: imapclient.IMAPClient | None = None
            limit = owner.backoff_limit(FailureKind.INTERNAL)
            try:
                client = owner.connect()
                self._watch(client)
                return
            except Exception as exc:
                if self.idling:
                    delay = owner.backoff_start  # it was up: the backoff starts over
                failure = failure_of(exc)
                if failure is None:
                    log.warning("IMAP %s: watching connection failed", where, exc_info=True)
                elif failure.kind == FailureKind.CANCELLED:
                    log.info("IMAP %s: watching connection ends: %s", where, failure.message)
                    return
                elif failure.auth:
                    # Not tried again until the next pass: a refused login counts towards a
                    # lockout. A server at its limit of connections per user refuses the login
                    # too (Dovecot: [LIMIT]); the folder is asked by STATUS meanwhile.
                    log.warning("IMAP %s: no connection of its own (%s); asked by STATUS with "
                                "the other folders", where, failure.message)  # fmt: skip
                    return
                else:
                    limit = owner.backoff_limit(failure.kind)
                    log.info("IMAP %s: watching connection: %s", where, failure.message)
            finally:
                self.idling = False
                if client is not None:
                    logout_quietly(client)
            delay = min(delay, limit)
            if self._pause(delay):
                return
            delay = min(delay * 2, limit)

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` before reconnecting; True when the watcher was ended meanwhile."""
        until = time.monotonic() + seconds
        while not self._ended():
            left = until - time.monotonic()
            if left <= 0:
                return False
            self.stop.wait(min(left, self.owner.check_interval))
        return True

    def _watch(self, client: imapclient.IMAPClient) -> None:
        """EXAMINE the folder, then IDLE until ended; each change asks for a resync."""
        examined = select_folder(client, self.name, readonly=True)
        self.owner._tell(
            Examined(self.folder_id, examined.uidvalidity, examined.uidnext, examined.exists)
        )
        self.idling = True
        while not self._ended():
            if self._idle(client):
                self.owner.jobs.put(Job(JobKind.RESYNC, self.folder_id))

    def _idle(self, client: imapclient.IMAPClient) -> bool:
        """One IDLE, until the folder changed (True), `idle_renew` passed, or the end."""
        owner = self.owner
        until = time.monotonic() + owner.idle_renew
        # What the server said before IDLE's continuation (mail that came after the EXAMINE).
        changed = _changes(imap_wire.start_idle(client))
        while not changed and not self._ended() and time.monotonic() < until:
            if not _spoke(client, owner.check_interval):
                continue
            # The server spoke: reading it is a new answer, however long the IDLE lasted.
            if (deadline := deadline_of(client.socket())) is not None:
                deadline.restart("the news it announced during IDLE")
            with server_response("IDLE"):
                said = client.idle_check(timeout=0)
            if not said:
                break  # nothing to read: ending the IDLE finds out whether the server is gone
            if _changes(said):
                changed = True
                break
        with server_response("IDLE"):
            _, ended = client.idle_done()
        return changed or _changes(ended)


def _changes(said: Sequence[object]) -> bool:
    """Whether untagged responses said during IDLE tell of a change in the folder."""
    return any(is_change(response) for response in said if isinstance(response, tuple))


def _spoke(client: imapclient.IMAPClient, timeout: float) -> bool:
    """Whether the server sent something within `timeout` seconds."""
    if buffered_input(client):
        return True  # inflated (COMPRESS) input is waiting that select() cannot see
    sock = client.socket()
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True  # TLS has decrypted bytes buffered that select() cannot see
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready)
