"""Waiting on an IMAP connection for the server's news, in every folder, until work arrives.

Between jobs the live session (tuimail.sync.imap.live) hands its connection to `NewsWatch.wait`,
which returns the folders the server says changed (to resync) as soon as it says so, or nothing
when a job arrived (the queue's `wake` socket), `cancel` was set, or it was time to look again.
How the server tells depends on what it offers:

- NOTIFY (RFC 5465) with IDLE: `NOTIFY SET` asks once per connection for new mail, expunges and
  flag changes in the selected folder and in every personal folder; during IDLE the server then
  sends `STATUS` for a folder that changed, and EXISTS/EXPUNGE/FETCH/VANISHED for the selected
  one. One connection watches every folder.
- IDLE only (RFC 2177): IDLE on INBOX, left every `status_interval` seconds to ask the other
  folders' STATUS (pipelined: one round trip for all of them), but those that another
  connection IDLEs on (`elsewhere`: the account's `notify_folders`, tuimail.sync.imap.watchers).
- Neither: every `poll_interval` seconds, the STATUS of every folder, INBOX included.

A STATUS is compared with what the store knows of the folder (UIDVALIDITY, UIDNEXT, the message
count, HIGHESTMODSEQ where the server has CONDSTORE): only a folder that differs is resynced.
IDLE is re-issued every `idle_renew` seconds, well before the 29 minutes after which a server
may drop an idle client. Every socket wait is bounded by `check_interval`, so `cancel` is seen.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import imapclient
import imapclient.exceptions
import imapclient.response_parser

from tuimail.store import read
from tuimail.sync.deadline import deadline_of
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.compress import buffered_input
from tuimail.sync.imap.engine import EngineBase
from tuimail.sync.imap.extensions import ImapProtocolError, server_response
from tuimail.sync.imap.selection import SELECTED_NEWS

log = logging.getLogger(__name__)

IDLE_RENEW = 24 * 60.0  # IDLE is re-issued this often (servers may drop it after 29 minutes)
STATUS_INTERVAL = 30.0  # without NOTIFY: how often the folders other than INBOX are asked
POLL_INTERVAL = 60.0  # without IDLE: how often every folder is asked
CHECK_INTERVAL = 1.0  # longest wait before `cancel` is looked at

# Untagged responses during IDLE that mean the selected folder changed.
_CHANGES = {b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED"}
# What NOTIFY asks for: the events that change what the store holds, in every personal folder.
NOTIFY_EVENTS = "(MessageNew MessageExpunge FlagChange)"
NOTIFY_SET = f"SET (selected {NOTIFY_EVENTS}) (personal {NOTIFY_EVENTS})"


class NewsWatch:
    """How one connection learns of changes (see the module); one per connection."""

    def __init__(
        self,
        engine: EngineBase,
        *,
        cancel: threading.Event,
        check_interval: float = CHECK_INTERVAL,
        idle_renew: float = IDLE_RENEW,
        status_interval: float = STATUS_INTERVAL,
        poll_interval: float = POLL_INTERVAL,
        elsewhere: Callable[[], Collection[int]] = frozenset,
    ) -> None:
        self.engine = engine
        self.client = client = engine.client
        self.conn = engine.conn
        self.account_id = engine.account_id
        self.cancel = cancel
        self.check_interval = check_interval
        self.idle_renew = idle_renew
        self.status_interval = status_interval
        self.poll_interval = poll_interval
        # The folders another connection IDLEs on (tuimail.sync.imap.watchers): not asked.
        self.elsewhere = elsewhere
        self.idle = client.has_capability("IDLE")
        self.notify = self.idle and client.has_capability("NOTIFY") and _notify_set(client)
        self.condstore = client.has_capability("CONDSTORE")
        self._next_status = time.monotonic()  # the first wait asks at once
        self._behind_asked: dict[int, int] = {}  # folder id -> the UIDNEXT resynced for
        self._grew_asked: dict[int, int] = {}  # folder id -> the EXISTS resynced for
        self._ended: list[bytes] = []  # IDLEs ended without waiting, their answers not yet read

    @property
    def mode(self) -> str:
        """How news arrives, in words for the log: "NOTIFY", "IDLE" or "polling"."""
        return "NOTIFY" if self.notify else "IDLE" if self.idle else "polling"

    def wait(self, wake: socket.socket) -> list[int]:
        """Wait for news or work; returns the ids of the folders that changed ([] when woken
        by work, `cancel`, or a renewal)."""
        selected = self.engine.selected_folder
        if self.notify:
            return self._idle(wake, selected, until=time.monotonic() + self.idle_renew)
        if not self.idle:
            if not _wait_readable(wake, self._next_status - time.monotonic(), self.cancel,
                                  self.check_interval):  # fmt: skip
                self._next_status = time.monotonic() + self.poll_interval
                return self._polled(selected)
            return []
        if time.monotonic() >= self._next_status:
            self._next_status = time.monotonic() + self.status_interval
            skip = self.elsewhere()
            others = [f for f in self._watched() if f.name.upper() != "INBOX" and f.id not in skip]
            changed = self.changed_folders(others)
            if changed:
                return changed
        inbox = read.find_folder(self.conn, self.account_id, "INBOX")
        if inbox is None:
            return []
        examined = self.engine.examine(inbox.name)
        # Mail that arrived since the last resync is counted in the EXAMINE, not announced by
        # the IDLE that follows (a server need not): UIDNEXT says.
        uidnext = examined.uidnext
        if uidnext is not None and inbox.uidnext is not None and uidnext > inbox.uidnext:
            return [inbox.id]
        until = min(time.monotonic() + self.idle_renew, self._next_status)
        return self._idle(wake, inbox.name, until=until)

    def _polled(self, selected: str | None) -> list[int]:
        """Without IDLE: the folders that changed, by STATUS, and by NOOP for the selected
        one. What the connection heard of the selected folder before that NOOP counts too:
        mail counted by its SELECT (a job's, e.g. the download of bodies) or announced with
        a job's answers, which the NOOP does not tell again."""
        imap = imap_wire.imaplib_of(self.client)
        heard = [
            self._selected_grew(selected, imap.untagged_responses.pop("EXISTS", [])),
            self._selected_behind(selected),
        ]
        changed = [folder for folder in dict.fromkeys(heard) if folder is not None]
        return changed + [f for f in self.changed_folders(self._watched()) if f not in changed]

    # --- IDLE, until news, work, cancel or `until`

    def _idle(self, wake: socket.socket, selected: str | None, *, until: float) -> list[int]:
        imap = imap_wire.imaplib_of(self.client)
        for tag in imap_wire.forget_answered(self.client, self._ended):
            # No command has read this IDLE's answer (the job sent none): read it now, before
            # the next IDLE.
            with server_response("IDLE"):
                imap_wire.command_complete(imap, "IDLE", tag)
        self._ended = []
        # What the server said while the connection was busy came with the answers to commands:
        # imaplib kept it aside. NOTIFY's STATUS for other folders ...
        waiting = imap.untagged_responses.pop("STATUS", [])
        changed = self._folders_in(_status_responses(waiting), selected) if waiting else []
        # ... news of a folder the connection left before reading it (see `selection.select`) ...
        for name in sorted(self.engine.left_with_news):
            info = read.find_folder(self.conn, self.account_id, name)
            if info is not None and info.id not in changed:
                changed.append(info.id)
        self.engine.left_with_news.clear()
        if changed:
            return changed
        # ... and new mail in the selected folder, announced after its SELECT, or counted by a
        # SELECT: the IDLE that follows would not announce it.
        if (
            grew := self._selected_grew(selected, imap.untagged_responses.pop("EXISTS", []))
        ) is not None:
            return [grew]
        if (behind := self._selected_behind(selected)) is not None:
            return [behind]
        # What the server said before IDLE's continuation may be news already.
        responses: list[Any] = imap_wire.start_idle(self.client)
        work = failed = False
        try:
            while (
                not (responses and self._folders_in(responses, selected))
                and not self.cancel.is_set()
                and time.monotonic() < until
            ):
                ready = _readable(self.client, wake, self.check_interval)
                if ready == "work":
                    work = True
                    break
                if ready != "server":
                    continue
                # The server spoke: reading it is a new answer, however long the IDLE lasted.
                if (deadline := deadline_of(self.client.socket())) is not None:
                    deadline.restart("the news it announced during IDLE")
                with server_response("IDLE"):
                    said = self.client.idle_check(timeout=0)
                if not said:
                    # Woken with nothing to read: the server may have closed the connection.
                    # Ending the IDLE finds out (it raises when the connection is gone).
                    # (idle_check polls the socket: input already inflated, with nothing more
                    # on the socket, is read by idle_done here.)
                    break
                responses.extend(said)
                if self._folders_in(responses, selected):
                    break
        except BaseException:
            failed = True
            raise
        finally:
            changed = [] if failed else self._folders_in(responses, selected)
            if (work and not responses) or changed:
                # The job (or the resync the news asks for) goes out right behind DONE; the
                # IDLE's answer comes with its answer. What the server says before that answer
                # is read then: STATUS is kept for the next wait, and news of this folder
                # read by a SELECT of another one is kept by the engine (`left_with_news`).
                self._ended.append(imap_wire.end_idle_later(self.client))
            else:
                with server_response("IDLE"):
                    _, ended = self.client.idle_done()
                responses.extend(ended)
                changed = self._folders_in(responses, selected)
        return changed

    def _selected_grew(self, selected: str | None, said: Sequence[Any]) -> int | None:
        """The selected folder's id when the server said it holds more messages than the store
        has (EXISTS), once per count: a message the server will not give keeps the store short
        until the next pass, which tries it again."""
        if selected is None or not said:
            return None
        try:
            exists = int(said[-1])
        except (TypeError, ValueError):
            return None
        info = read.find_folder(self.conn, self.account_id, selected)
        if info is None or exists <= info.total or self._grew_asked.get(info.id) == exists:
            return None
        self._grew_asked[info.id] = exists
        return info.id

    def _selected_behind(self, selected: str | None) -> int | None:
        """The selected folder's id when its SELECT told of mail the store does not have."""
        last = self.engine.last_selected
        if selected is None or last is None:
            return None
        info = read.find_folder(self.conn, self.account_id, selected)
        if info is None or info.uidnext is None or last.uidnext is None:
            return None
        if last.uidnext <= info.uidnext or self._behind_asked.get(info.id) == last.uidnext:
            # Asked once already: a message the server will not give keeps the store's UIDNEXT
            # below the server's until the next pass, which tries it again.
            return None
        self._behind_asked[info.id] = last.uidnext
        return info.id

    def _folders_in(self, responses: Sequence[Any], selected: str | None) -> list[int]:
        """The folders `responses` say changed: a STATUS names one (when what it says differs
        from the store: a server may announce what this connection did itself); EXISTS and the
        like are about the selected folder."""
        ids: list[int] = []
        for response in responses:
            if not isinstance(response, tuple) or not response:
                continue
            info: read.FolderInfo | None = None
            if response[0] == b"STATUS" and len(response) >= 2:
                name = _text(response[1], utf7=self.client.folder_encode)
                info = read.find_folder(self.conn, self.account_id, name)
                items = _status_pairs(response[2]) if len(response) >= 3 else {}
                if (
                    info is not None
                    and items
                    and not _differs(info, items, condstore=self.condstore)
                ):
                    continue
            elif selected is not None and is_change(response):
                info = read.find_folder(self.conn, self.account_id, selected)
            if info is not None and info.id not in ids and self.engine.syncs(info):
                ids.append(info.id)
        return ids

    # --- STATUS of folders, compared with the store

    def _watched(self) -> list[read.FolderInfo]:
        return self.engine.synced_folders()

    def changed_folders(self, folders: Iterable[read.FolderInfo]) -> list[int]:
        """Ask the STATUS of `folders` in one round trip (pipelined); the ids of those that
        differ from the store. The selected folder is asked with NOOP instead: a server may
        answer STATUS for it from what it told the connection already (RFC 3501, 6.3.10)."""
        folders = list(folders)
        if not folders:
            return []
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
        if self.condstore:
            items.append("HIGHESTMODSEQ")
        imap = imap_wire.imaplib_of(self.client)
        wanted = f"({' '.join(items)})"
        selected = self.engine.selected_folder
        current = next((info for info in folders if info.name == selected), None)
        noop: bytes | None = None
        if current is not None:
            for name in SELECTED_NEWS:
                imap.untagged_responses.pop(name, None)
            noop = imap_wire.send_command(imap, "NOOP")
        tags = [
            (info, imap_wire.send_command(imap, "STATUS", _quoted(self.client, info.name), wanted))
            for info in folders
            if info is not current
        ]
        changed: list[int] = []
        if current is not None and noop is not None:
            with server_response("NOOP"):
                imap_wire.command_complete(imap, "NOOP", noop)
            if any(imap.untagged_responses.pop(name, None) for name in SELECTED_NEWS):
                changed.append(current.id)
        for info, tag in tags:
            with server_response("STATUS"):
                typ, _ = imap_wire.command_complete(imap, "STATUS", tag)
            said = imap.untagged_responses.pop("STATUS", [])
            if typ != "OK":
                continue  # a folder gone meanwhile: the next pass finds out
            status = _status_items(said)
            if status and _differs(info, status, condstore=self.condstore):
                changed.append(info.id)
        if changed:
            log.debug("IMAP: STATUS says %d folder(s) changed", len(changed))
        return changed


def is_change(response: Sequence[object]) -> bool:
    """Whether an untagged response during IDLE means the selected folder changed."""
    return any(isinstance(part, bytes) and part.upper() in _CHANGES for part in response[:2])


def _notify_set(client: imapclient.IMAPClient) -> bool:
    """Ask for NOTIFY's events; False when the server refuses (IDLE on INBOX is used then)."""
    imap = imap_wire.imaplib_of(client)
    imap_wire.allow_command("NOTIFY", ("AUTH", "SELECTED"))
    try:
        with server_response("NOTIFY"):
            typ, data = imap_wire.simple_command(imap, "NOTIFY", NOTIFY_SET)
    except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
        if isinstance(exc, imapclient.IMAPClient.AbortError):
            raise
        typ, data = "NO", [str(exc).encode()]
    if typ != "OK":
        log.info("IMAP: the server refused NOTIFY (%s); IDLE on INBOX instead", data)
        return False
    return True


def _readable(client: imapclient.IMAPClient, wake: socket.socket, timeout: float) -> str:
    """What came first: "server" (the server sent something), "work" (a job arrived) or ""
    (`timeout` passed)."""
    if buffered_input(client):
        return "server"  # inflated (COMPRESS) input is waiting that select() cannot see
    sock = client.socket()
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return "server"  # TLS has decrypted bytes buffered that select() cannot see
    ready, _, _ = select.select([sock, wake], [], [], timeout)
    if wake in ready:
        return "work"
    return "server" if ready else ""


def _wait_readable(
    wake: socket.socket, seconds: float, cancel: threading.Event, step: float
) -> bool:
    """Wait up to `seconds` for `wake`; True when work arrived (or `cancel` was set)."""
    until = time.monotonic() + max(seconds, 0.0)
    while not cancel.is_set():
        left = until - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([wake], [], [], min(left, step))
        if ready:
            return True
    return True


def _quoted(client: imapclient.IMAPClient, name: str) -> bytes:
    """A folder name as a STATUS argument (modified UTF-7 where the client uses it, quoted as
    imapclient quotes it)."""
    return imap_wire.normalise_folder(client, name)


def _text(name: object, *, utf7: bool = True) -> str:
    """A folder name as the server sent it, decoded (modified UTF-7 unless UTF8=ACCEPT)."""
    if isinstance(name, int):
        name = str(name).encode()
    if isinstance(name, bytes):
        if utf7:
            from imapclient.imap_utf7 import decode

            return str(decode(name))
        return name.decode("utf-8", "replace")
    return str(name)


def _status_pairs(items: object) -> dict[str, int]:
    """A parsed STATUS item list, (b"MESSAGES", 2, b"UIDNEXT", 3, ...), as a dict."""
    if not isinstance(items, tuple):
        return {}
    pairs: dict[str, int] = {}
    for key, value in zip(items[::2], items[1::2], strict=False):
        if isinstance(key, bytes) and isinstance(value, int):
            pairs[key.decode("ascii", "replace").upper()] = value
    return pairs


def _status_responses(said: Sequence[Any]) -> list[tuple[object, ...]]:
    """imaplib's untagged STATUS lines as imapclient parses them: (b"STATUS", name, items)."""
    found: list[tuple[object, ...]] = []
    for line in said:
        if not isinstance(line, bytes):
            continue
        try:
            parsed = imapclient.response_parser.parse_response([line])
        except (imapclient.exceptions.ProtocolError, ValueError):
            continue
        if parsed:
            found.append((b"STATUS", *parsed[:2]))
    return found


def _status_items(said: Sequence[Any]) -> dict[str, int]:
    """The numbers of the first STATUS answer in `said` (imaplib's untagged lines), parsed as
    NOTIFY's are (imapclient's response parser)."""
    for response in _status_responses(said):
        if len(response) > 2:
            return _status_pairs(response[2])
    return {}


def _differs(info: read.FolderInfo, status: dict[str, int], *, condstore: bool) -> bool:
    """Whether the server's STATUS of a folder says it holds something the store does not."""
    if info.uidvalidity is None or info.uidnext is None:
        return True  # never synced
    if status.get("UIDVALIDITY", info.uidvalidity) != info.uidvalidity:
        return True
    if status.get("UIDNEXT", info.uidnext) != info.uidnext:
        return True
    if condstore and info.highestmodseq is not None and "HIGHESTMODSEQ" in status:
        return status["HIGHESTMODSEQ"] != info.highestmodseq
    # Without a modseq an expunge or a flag change shows only in the count (flags not at all:
    # the periodic pass finds them).
    return status.get("MESSAGES", info.total) != info.total
