"""What imapclient 4.1 lacks for a resyncing client: the commands and parsers the engine
shares (selecting a mailbox is `tuimail.sync.imap.selection`; the folder list is
`tuimail.sync.imap.listing`).

- `uid_fetch()`: UID FETCH of a UID set given as text (`"5:*"`), with modifiers such as
  `CHANGEDSINCE n VANISHED`, returning the FETCH data by UID *and* the VANISHED UIDs, which
  imapclient's `fetch` drops (it also cannot take a range, only a list of ints).
- `uid_search()`: UID SEARCH with a raw criteria string (a range), as a list of ints.
- `cap_literals()`: a server literal (`{n}`) larger than a cap is refused before anything is
  read; imaplib would try to read (and allocate) whatever size the server announces. The
  answer to one command is bounded as a whole too.
  `CappedIMAPClient` does the same from the greeting on, with a small cap until login.
- `uid_transfer()`: UID COPY / UID MOVE returning the COPYUID (RFC 4315) the server reported,
  which imapclient leaves in imaplib's untagged responses; `search_message_ids()` finds a copy
  by its Message-ID where the server reports no COPYUID.
- `append_streamed()`: APPEND whose literal is written from chunks as they come (imaplib needs
  the whole message as one bytes object, and copies it once more to fix its line ends).
- `SequenceSet`: a parsed sequence set kept as ranges, so `1:4294967295` from a hostile server
  costs two integers, not four billion.

Everything here works on the imaplib object inside the client, the same way imapclient itself
does; the library internals this needs are reached only through tuimail.sync.imap.wire. One
client per thread, as always.
"""

from __future__ import annotations

import bisect
import logging
import re
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import imapclient
import imapclient.exceptions
import imapclient.imap4
import imapclient.tls
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.imapclient import seq_to_parenstr
from imapclient.response_parser import parse_fetch_response

from tuimail.sync.deadline import Deadline
from tuimail.sync.errors import ServerProtocolError
from tuimail.sync.imap import wire as imap_wire

# RFC 3501 numbers are 32-bit; anything else in a sequence set is malformed.
log = logging.getLogger(__name__)

_MAX_NUMBER = 2**32 - 1
_SET_ITEM = re.compile(rb"^(\d{1,10})(?::(\d{1,10}))?$")
# A sequence set longer than this (in items) is treated as malformed rather than parsed.
_MAX_SET_ITEMS = 1_000_000


class ImapProtocolError(ServerProtocolError):
    """The server sent something malformed or unreasonable; `message` says what, in words."""


class LiteralTooLargeError(ImapProtocolError):
    """The server announced a literal larger than the configured cap."""


@contextmanager
def server_response(what: str) -> Iterator[None]:
    """Turn a parser's failure on a malformed server response into an ImapProtocolError.

    imapclient's response parsers raise TypeError, AttributeError, IndexError, KeyError or
    OverflowError on shapes they do not expect (a list where an atom belongs, NIL for a string,
    a year past 9999); to the engine that is the server sending something unexpected, not a bug
    of its own.
    """
    try:
        yield
    except (TypeError, AttributeError, IndexError, KeyError, OverflowError) as exc:
        raise ImapProtocolError(f"the server sent a malformed {what} response") from exc


# --- sequence sets


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Sorted, merged, inclusive UID ranges (from VANISHED or a SEARCH result)."""

    ranges: tuple[tuple[int, int], ...] = ()
    _starts: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def parse(cls, text: bytes | str) -> SequenceSet:
        """Parse `1,3:5,9` (no `*`: servers send concrete numbers). Raises ImapProtocolError."""
        raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
        raw = raw.strip()
        if not raw:
            return cls()
        items = raw.split(b",")
        if len(items) > _MAX_SET_ITEMS:
            raise ImapProtocolError("the server sent an oversized UID set")
        pairs: list[tuple[int, int]] = []
        for item in items:
            match = _SET_ITEM.match(item)
            if match is None:
                raise ImapProtocolError(f"the server sent a malformed UID set item {item[:40]!r}")
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) is not None else low
            low, high = min(low, high), max(low, high)
            if low < 1 or high > _MAX_NUMBER:
                raise ImapProtocolError("the server sent a UID out of range")
            pairs.append((low, high))
        return cls.of_ranges(pairs)

    @classmethod
    def of_ranges(cls, pairs: Iterable[tuple[int, int]]) -> SequenceSet:
        """Merge overlapping or adjacent ranges."""
        merged: list[list[int]] = []
        for low, high in sorted(pairs):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        ranges = tuple((low, high) for low, high in merged)
        return cls(ranges, tuple(low for low, _ in ranges))

    @classmethod
    def of(cls, uids: Iterable[int]) -> SequenceSet:
        """The set of the given UIDs."""
        return cls.of_ranges((uid, uid) for uid in uids)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        index = bisect.bisect_right(self._starts, uid) - 1
        return index >= 0 and uid <= self.ranges[index][1]

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def count(self) -> int:
        """How many numbers the set holds."""
        return sum(high - low + 1 for low, high in self.ranges)

    def select(self, candidates: Iterable[int]) -> set[int]:
        """The candidates that are in the set (cheap whatever the ranges span)."""
        return {uid for uid in candidates if uid in self}

    def __iter__(self) -> Iterator[int]:
        for low, high in self.ranges:
            yield from range(low, high + 1)

    def to_imap(self) -> bytes:
        """The set in IMAP syntax (`1:3,7`); empty bytes for an empty set."""
        return b",".join(
            str(low).encode() if low == high else f"{low}:{high}".encode()
            for low, high in self.ranges
        )


def uid_set(uids: Iterable[int]) -> bytes:
    """A compact IMAP sequence set for the given UIDs."""
    return SequenceSet.of(uids).to_imap()


def parse_vanished(lines: Sequence[Any]) -> SequenceSet:
    """The UIDs of `* VANISHED [(EARLIER)] set` responses (as imaplib stores their data)."""
    pairs: list[tuple[int, int]] = []
    for line in lines:
        data = line[0] if isinstance(line, tuple) else line
        if not isinstance(data, bytes | bytearray):
            raise ImapProtocolError("the server sent a malformed VANISHED response")
        text = bytes(data).strip()
        if text.upper().startswith(b"(EARLIER)"):
            text = text[len(b"(EARLIER)") :].strip()
        pairs.extend(SequenceSet.parse(text).ranges)
    return SequenceSet.of_ranges(pairs)


# --- literals


def cap_literals(
    client: imapclient.IMAPClient, max_bytes: int, per_command: int | None = None
) -> None:
    """Refuse any server literal larger than `max_bytes` before reading it, and stop reading
    once the answer to one command (its lines and literals together) passes `per_command`.

    imaplib reads a literal with `self.read(size)` after parsing `{size}` from the line, and
    every line with `self.readline()`; instance attributes shadow those methods, so only this
    connection is affected, and the count starts again with each command (`on_new_tag`). The
    connection is unusable after a refusal (the rest of the answer is still on the wire): every
    later read is refused too, and the caller drops it.
    """
    imap = imap_wire.imaplib_of(client)
    original_read, original_readline = imap.read, imap.readline
    total = 0
    refused: str | None = None

    def count(size: int) -> None:
        nonlocal total, refused
        if refused is not None:
            raise LiteralTooLargeError(refused)
        if size > max_bytes:
            refused = (
                f"the server announced a {size:,}-byte item, over the limit of {max_bytes:,}"
                " bytes; refused without reading it"
            )
            raise LiteralTooLargeError(refused)
        total += size
        if per_command is not None and total > per_command:
            refused = (
                f"the server's answer to one command passed the limit of {per_command:,}"
                " bytes; the rest was not read"
            )
            raise LiteralTooLargeError(refused)

    def read(size: int) -> bytes:
        count(size)
        return original_read(size)

    def readline() -> bytes:
        count(0)
        line: bytes = original_readline()
        count(len(line))
        return line

    def new_command() -> None:
        nonlocal total
        total = 0

    imap.read = read
    imap.readline = readline
    imap_wire.on_new_tag(imap, new_command)


# Before login nothing a server sends needs a literal of any size (greeting, CAPABILITY, the
# STARTTLS and login answers), so until `lift_pre_login_cap()` every literal is capped at this.
PRE_LOGIN_MAX_LITERAL = 64 * 1024


class _PreLoginCap:
    """Mixed into imapclient's imaplib classes: literals are capped from the greeting on.

    imaplib reads the greeting inside its constructor, before `cap_literals` could shadow `read`
    on the instance, and would allocate whatever size a hostile greeting announces.
    """

    literal_cap: int | None = PRE_LOGIN_MAX_LITERAL

    def read(self, size: int) -> bytes:
        if self.literal_cap is not None and size > self.literal_cap:
            raise LiteralTooLargeError(
                f"the server announced a {size:,}-byte item before login, over the limit of "
                f"{self.literal_cap:,} bytes; refused without reading it"
            )
        return super().read(size)  # type: ignore[misc]


class _Deadlined(imap_wire.SocketHooks):
    """Mixed into imapclient's imaplib classes: the socket keeps a deadline per command (see
    tuimail.sync.deadline) from the greeting on. TLS sockets get it from the armed context."""

    deadline: Deadline | None = None

    def open_socket(self, timeout: float | None) -> socket.socket:
        """imaplib's socket, adopted by the deadline."""
        sock = super().open_socket(timeout)
        return sock if self.deadline is None else self.deadline.adopt(sock)


class _CappedIMAP4(_PreLoginCap, _Deadlined, imapclient.imap4.IMAP4WithTimeout):
    pass


class _CappedIMAP4TLS(_PreLoginCap, _Deadlined, imapclient.tls.IMAP4_TLS):
    pass


class CappedIMAPClient(imap_wire.ClientHooks):
    """An IMAPClient whose literals are capped from the greeting until `lift_pre_login_cap`,
    and whose connection keeps `deadline` (when given) from the greeting on.

    Makes its imaplib connection as imapclient 4.1 does (TLS and plain; tuimail never uses a
    stream), with the capped classes.
    """

    def __init__(self, *args: Any, deadline: Deadline | None = None, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)  # connects and reads the greeting
        imap_wire.log_wire_only_when_asked(self)

    def create_imaplib(self, connect_timeout: float | None) -> Any:
        """imapclient's imaplib class for the connection, with the cap and the deadline."""
        # The deadline is set before imaplib's constructor runs: it makes the socket and reads
        # the greeting.
        if self.ssl:
            tls = _CappedIMAP4TLS.__new__(_CappedIMAP4TLS)
            tls.deadline = self._deadline
            tls.__init__(self.host, self.port, self.ssl_context, connect_timeout)  # type: ignore[misc]
            return tls
        plain = _CappedIMAP4.__new__(_CappedIMAP4)
        plain.deadline = self._deadline
        plain.__init__(self.host, self.port, connect_timeout)  # type: ignore[misc]
        return plain

    def capabilities(self) -> tuple[bytes, ...]:
        """The server's capabilities. Between STARTTLS and login, the list imaplib asked for
        on the protected connection, right after the handshake: imapclient would send
        CAPABILITY again on every call there (the plaintext list is never used either way)."""
        imap = imap_wire.imaplib_of(self)
        if imap_wire.starttls_done(self) and imap.state == "NONAUTH":
            return tuple(
                c if isinstance(c, bytes) else str(c).encode("ascii", "replace")
                for c in imap.capabilities
            )
        return tuple(super().capabilities())


def lift_pre_login_cap(client: imapclient.IMAPClient) -> None:
    """After login: literals are the caller's to cap (`cap_literals`), messages can be large."""
    imap = imap_wire.imaplib_of(client)
    if isinstance(imap, _PreLoginCap):
        imap.literal_cap = None


# --- commands


def uid_fetch(
    client: imapclient.IMAPClient,
    uids: bytes | str,
    items: Sequence[str],
    modifiers: Sequence[str] = (),
) -> tuple[dict[int, dict[bytes, Any]], SequenceSet]:
    """UID FETCH `uids` (a set in IMAP syntax, ranges and `*` allowed) -> (data by UID, VANISHED).

    Unsolicited FETCH responses without a UID are dropped; VANISHED appears only with the
    `VANISHED` modifier (QRESYNC) or as unsolicited expunge news.
    """
    imap = imap_wire.imaplib_of(client)
    imap.untagged_responses.pop("VANISHED", None)
    spec = uids.encode("ascii") if isinstance(uids, str) else uids
    arguments: list[bytes] = [b"FETCH", spec, ("(" + " ".join(items) + ")").encode("ascii")]
    if modifiers:
        arguments.append(("(" + " ".join(modifiers) + ")").encode("ascii"))
    tag = imap_wire.send_command(imap, "UID", *arguments)
    typ, data = imap_wire.command_complete(imap, "FETCH", tag)
    if typ != "OK":
        raise imapclient.exceptions.IMAPClientError(f"fetch failed: {response_text(data)}")
    vanished = parse_vanished(imap.untagged_responses.pop("VANISHED", []))
    _, lines = imap_wire.untagged_response(imap, typ, data, "FETCH")
    return fetch_by_uid(lines), vanished


def uid_search(client: imapclient.IMAPClient, criteria: str) -> list[int]:
    """UID SEARCH with raw criteria (e.g. `ALL`, `UID 100:*`), as sorted ints."""
    imap = imap_wire.imaplib_of(client)
    typ, data = imap.uid("SEARCH", criteria)
    if typ != "OK":
        raise imapclient.exceptions.IMAPClientError(f"search failed: {response_text(data)}")
    return parse_search(data)


def parse_search(data: Sequence[Any]) -> list[int]:
    """The numbers of untagged SEARCH lines, sorted; raises ImapProtocolError on anything else."""
    numbers: list[int] = []
    for line in data:
        if not line:
            continue
        if not isinstance(line, bytes):  # a literal: SEARCH results are numbers only
            raise ImapProtocolError("the server sent a malformed SEARCH result")
        for word in line.split():
            if not word.isdigit() or len(word) > 10:
                raise ImapProtocolError("the server sent a malformed SEARCH result")
            numbers.append(int(word))
    return sorted(set(numbers))


# One FETCH response of the shape a header fetch (resync.HEADER_ITEMS) gets from
# common servers: the items in the order asked, atoms for flags, one literal for the header.
_HEADER_FETCH_RE = re.compile(
    rb"(\d+) \(UID (\d+) FLAGS \(([^()\"{}\r\n]*)\) RFC822\.SIZE (\d+) "
    rb'INTERNALDATE "([^"\\\r\n]*)" (BODY\[HEADER\.FIELDS \([A-Z0-9 -]*\)\]) \{(\d+)\}',
    re.IGNORECASE,
)


def _fast_header_fetch(lines: Sequence[Any]) -> dict[int, dict[bytes, Any]] | None:
    """What `parse_fetch_response` makes of header-fetch responses, read with one regular
    expression per message; None when any response has another shape (then imapclient's
    general parser reads them all). Same keys and value types as imapclient's."""
    if len(lines) % 2:
        return None
    by_uid: dict[int, dict[bytes, Any]] = {}
    for index in range(0, len(lines), 2):
        head, tail = lines[index], lines[index + 1]
        if not isinstance(head, tuple) or len(head) != 2 or tail != b")":
            return None
        prefix, literal = head
        match = _HEADER_FETCH_RE.fullmatch(prefix)
        if match is None or not isinstance(literal, bytes) or int(match[7]) != len(literal):
            return None
        flags = tuple(match[3].split())
        if any(flag.isdigit() or flag.upper() == b"NIL" for flag in flags):
            return None  # imapclient would turn these atoms into numbers or None
        uid = int(match[2])
        if uid in by_uid:
            return None
        by_uid[uid] = {
            b"SEQ": int(match[1]),
            b"UID": uid,
            b"FLAGS": flags,
            b"RFC822.SIZE": int(match[4]),
            b"INTERNALDATE": imap_wire.convert_internaldate(match[5]),
            match[6].upper(): literal,
        }
    return by_uid


def fetch_by_uid(lines: Sequence[Any]) -> dict[int, dict[bytes, Any]]:
    """FETCH responses keyed by UID; responses without a UID (unsolicited) are dropped."""
    lines = [line for line in lines if line is not None]
    if not lines:
        return {}
    with server_response("FETCH"):
        fast = _fast_header_fetch(lines)
        if fast is not None:
            return fast
        parsed = parse_fetch_response(lines, False, False)
    by_uid: dict[int, dict[bytes, Any]] = {}
    for item in parsed.values():
        uid = item.get(b"UID")
        if isinstance(uid, int):
            by_uid.setdefault(uid, {}).update(item)
    return by_uid


def response_text(data: Sequence[Any]) -> str:
    """The text of a command's tagged answer, for messages and logs."""
    first = data[0] if data else b""
    if isinstance(first, bytes):
        return first.decode("utf-8", "replace")
    return str(first)


# --- copy and move


@dataclass(frozen=True, slots=True)
class CopyUid:
    """A COPYUID response code (RFC 4315): where the server put copied or moved messages."""

    uidvalidity: int
    mapping: dict[int, int]  # source UID -> UID in the target folder


def parse_copyuid(text: bytes | str, *, limit: int) -> CopyUid:
    """`uidvalidity source-set dest-set` -> CopyUid. The two sets pair up in the order written;
    a set naming more than `limit` UIDs (more than were sent) is refused, not expanded."""
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    words = raw.split()
    if len(words) != 3 or not words[0].isdigit() or len(words[0]) > 10:
        raise ImapProtocolError(f"malformed COPYUID: {raw[:80]!r}")
    source = _ordered_uids(words[1], limit)
    target = _ordered_uids(words[2], limit)
    if len(source) != len(target):
        raise ImapProtocolError("COPYUID pairs sets of different sizes")
    return CopyUid(int(words[0]), dict(zip(source, target, strict=True)))


def _ordered_uids(text: str, limit: int) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        first = SequenceSet.parse(low).ranges[0][0]
        last = SequenceSet.parse(high).ranges[0][0] if high else first
        step = 1 if last >= first else -1
        if len(uids) + abs(last - first) + 1 > limit:
            raise ImapProtocolError("COPYUID names more messages than were sent")
        uids.extend(range(first, last + step, step))
    return uids


def uid_transfer(
    client: imapclient.IMAPClient, command: str, uids: Iterable[int], folder: str
) -> CopyUid | None:
    """UID COPY or UID MOVE `uids` of the selected folder to `folder`; returns the COPYUID the
    server reported (None without UIDPLUS, or when it sent something unreadable: the copy is
    done either way and the caller finds the new UIDs another way)."""
    if command not in ("COPY", "MOVE"):
        raise ValueError(command)
    wanted = sorted(set(uids))
    imap = imap_wire.imaplib_of(client)
    imap.untagged_responses.pop("COPYUID", None)
    target = imap_wire.normalise_folder(client, folder)
    typ, data = imap.uid(command, uid_set(wanted).decode("ascii"), target)
    if typ != "OK":
        raise imapclient.exceptions.IMAPClientError(
            f"{command.lower()} failed: {response_text(data)}"
        )
    # imaplib files response codes of tagged and untagged lines alike under their name.
    codes = imap.untagged_responses.pop("COPYUID", [])
    found: dict[int, int] = {}
    uidvalidity = None
    for code in codes:
        try:
            parsed = parse_copyuid(code, limit=len(wanted))
        except ImapProtocolError as exc:
            log.warning("ignoring a COPYUID response: %s", exc)
            return None
        if uidvalidity not in (None, parsed.uidvalidity):
            return None
        uidvalidity = parsed.uidvalidity
        found.update(parsed.mapping)
    if uidvalidity is None:
        return None
    return CopyUid(uidvalidity, found)


def search_message_ids(
    client: imapclient.IMAPClient, message_ids: Sequence[str], *, undeleted: bool = False
) -> dict[str, list[int]]:
    """UIDs in the selected folder whose Message-ID header is one of `message_ids` (without angle
    brackets), by Message-ID. One UID SEARCH per Message-ID: HEADER matches substrings, so
    each hit is checked against the exact header value by a FETCH. `undeleted` leaves out
    the messages marked \\Deleted (on their way out of the folder)."""
    found: dict[str, list[int]] = {}
    wanted = [m for m in dict.fromkeys(message_ids) if m and _searchable(m)]
    for message_id in wanted:
        quoted = '"' + message_id + '"'
        hits = uid_search(
            client, f"HEADER Message-ID {quoted}" + (" UNDELETED" if undeleted else "")
        )
        if not hits:
            continue
        data, _ = uid_fetch(client, uid_set(hits), ("UID", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"))
        for uid in hits:
            header = b""
            for key, value in data.get(uid, {}).items():
                if key.upper().startswith(b"BODY[HEADER") and isinstance(value, bytes):
                    header = value
            value = header.partition(b":")[2].strip().strip(b"<>").decode("utf-8", "replace")
            if value == message_id:
                found.setdefault(message_id, []).append(uid)
    return found


def _searchable(message_id: str) -> bool:
    """A Message-ID that can go into a quoted string as it is (no quotes, backslashes, controls,
    non-ASCII): anything else is not looked for."""
    return message_id.isascii() and all(ch not in '"\\' and 32 < ord(ch) < 127 for ch in message_id)


# --- APPEND from chunks


class _StreamedLiteral:
    """Stands for a literal in imaplib's APPEND: its length, and the chunks to send for it."""

    def __init__(self, size: int, chunks: Iterable[bytes]) -> None:
        self.size = size
        self.chunks = chunks

    def __len__(self) -> int:
        return self.size


def append_streamed(
    client: imapclient.IMAPClient,
    folder: str,
    size: int,
    chunks: Iterable[bytes],
    *,
    flags: Sequence[str] = (),
    msg_time: datetime | None = None,
) -> str:
    """APPEND a message of exactly `size` bytes (CRLF line ends) to `folder`, writing the
    literal from `chunks` as they come; returns the server's OK text.

    imaplib sends the command, waits for the server's go-ahead and sends the literal; only the
    sending of the literal is replaced (for this call), so tags, the go-ahead and the tagged
    reply are handled as for any command. Raises IMAPClientError when the server refuses, and
    imaplib's abort when the chunks do not add up to `size` (the connection is then closed).
    """
    imap = imap_wire.imaplib_of(client)
    literal = _StreamedLiteral(size, chunks)
    send_bytes = imap.send

    def send(data: Any) -> None:
        if data is not literal:
            send_bytes(data)
            return
        sent = 0
        for chunk in literal.chunks:
            sent += len(chunk)
            if sent > size:
                break
            send_bytes(chunk)
        if sent != size:
            # The server still counts the literal's bytes: the connection cannot go on, and is
            # closed so that nothing waits on it.
            client.shutdown()
            raise OSError(f"the message to append was not {size} bytes long")

    time_arg = f'"{datetime_to_INTERNALDATE(msg_time)}"' if msg_time is not None else None
    # The connection's own writer may already be one of this instance's (COMPRESS): put back
    # whatever was there.
    own_send = vars(imap).get("send")
    imap.send = send
    try:
        imap.literal = literal
        typ, data = imap_wire.simple_command(
            imap,
            "APPEND",
            imap_wire.normalise_folder(client, folder),
            seq_to_parenstr(flags),
            time_arg,
        )
    finally:
        if own_send is None:
            del imap.send  # the class's own method again
        else:
            imap.send = own_send
    if typ != "OK":
        raise imapclient.exceptions.IMAPClientError(f"APPEND refused: {response_text(data)}")
    return response_text(data)


def logout_quietly(client: Any) -> None:
    """LOGOUT, or when the connection is already broken, just close it; never raises (the
    caller is already handling whatever ended its work)."""
    try:
        client.logout()
    except Exception:  # the connection may already be gone; nothing to save
        try:
            client.shutdown()
        except Exception:
            log.debug("closing the IMAP connection failed", exc_info=True)
