"""Bringing mail from mbox files and Maildirs into the store, or up to an IMAP folder.

Reading
-------
`read_mbox` goes through an mbox file (mboxrd, and mboxo by the same rules: see
`tuimail.mail.formats.export`) one message at a time: one message is in memory at once, never
the file.
`read_maildir` reads the files of a Maildir's ``new/`` and ``cur/``, oldest name first. Both
yield `SourceMessage`: the exact bytes, the flags (a Maildir name's ``:2,`` letters; an mbox
message's ``Status``/``X-Status`` headers), the internal date (the separator line's date; the
file's modification time) and where the message was found, for error messages.

Storing
-------
`import_into_store` stores the messages into a folder of the store through `store.ingest` (the
engines' own code), in batches of at most `BATCH_MESSAGES` messages or `BATCH_BYTES` bytes, one
transaction each, so an interruption loses nothing already committed. The bytes are stored as
they are (line ends too), so an export gives back the file. Only each message's header section
is parsed as it is stored (`defer_index`): the bodies' text, most of the parsing, is indexed
after the import (`tuimail import` does it before it returns, in worker processes). A large
source is stored by a process of its own (`store.ingest_process`), one batch behind the
reading and parsing, so that both CPUs work.

Uploading
---------
`upload_to_imap` APPENDs each message to a folder on the server (created when missing), with
its flags and internal date. IMAP wants CRLF line ends, so lone LFs become CRLF on the way (a
file of LF-ended messages is the usual mbox); otherwise the bytes are unchanged. The store gets
them with the next sync.

Duplicates
----------
Importing a source twice adds nothing the second time. A message counts as already there when
the target folder holds a message with exactly the same bytes (SHA-256, after the CRLF change
when uploading), looked for by Message-ID, or among messages without one (by size on a server).
Counts are kept, not just presence: a source that holds the same message twice imports it
twice, once; a rerun after an interruption adds only what is missing.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN
from tuimail.mail.formats.export import ExportError, maildir_flags, read_mboxrd, separator_date
from tuimail.mail.limits import MAX_MESSAGE_BYTES
from tuimail.store import body_codec, read
from tuimail.store.db import StoreConnection
from tuimail.store.ingest import IncomingMessage, ParsedRaw, store_messages
from tuimail.store.ingest_process import IngestWriter, start_writer

if TYPE_CHECKING:
    import imapclient

# A batch is committed when it holds this many messages or bytes, whichever comes first: large
# enough that the commits cost little, small enough that memory stays far below a large file.
BATCH_MESSAGES = 200
BATCH_BYTES = 1024 * 1024
# A bulk import's batches are larger: each costs a commit in the writer, and at most three are
# in memory at once (one being read, one on its way, one being stored).
BULK_BATCH_BYTES = 4 * 1024 * 1024

# The largest message imported is the largest the engines accept (limits.MAX_MESSAGE_BYTES), far
# below what the store can hold in one row (SQLite's 1 GB). A larger one is skipped and named, the
# rest imported.

# mbox flag headers (as mutt, Thunderbird and Python's mailbox write them).
_STATUS_FLAGS = {"R": SEEN}
_X_STATUS_FLAGS = {"A": ANSWERED, "F": FLAGGED, "T": DRAFT, "D": DELETED}
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


class SourceError(Exception):
    """A source that cannot be read at all (not an mbox, not a Maildir); the message names it."""


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """One message read from an mbox file or a Maildir."""

    raw: bytes
    flags: frozenset[str]
    internaldate: datetime | None
    where: str  # "FILE, line N" or the Maildir entry's path: for messages to the user
    position: int  # bytes of the mbox read so far, or entries of the Maildir read so far


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """An entry that could not be read; the import goes on without it."""

    where: str
    problem: str


@dataclass(slots=True)
class ImportResult:
    """What an import did."""

    imported: int = 0
    already_there: int = 0
    problems: list[SourceProblem] = field(default_factory=list)


Progress = Callable[[int], None]  # called with SourceMessage.position as the import goes on


# --- reading ------------------------------------------------------------------------------------


def read_mbox(file: BinaryIO, name: str) -> Iterator[SourceMessage | SourceProblem]:
    """The messages of an mbox file, one at a time; `name` is the file as the user gave it.

    Raises SourceError, before any message, for a file that is not an mbox. A last message cut
    short, or a read error, ends the messages with a SourceProblem naming the line.
    """
    where = f"{name}, line 1"
    try:
        for entry in read_mboxrd(file, max_bytes=MAX_MESSAGE_BYTES):
            where = f"{name}, line {entry.line}"
            if entry.oversize:
                yield SourceProblem(where, _too_large(entry.oversize))
                continue
            if not entry.complete:
                yield SourceProblem(
                    where, "the file ends in the middle of this message (cut short?); not imported"
                )
                return
            yield SourceMessage(
                entry.raw,
                mbox_flags(entry.raw),
                separator_date(entry.separator),
                where,
                entry.end,
            )
    except ExportError as exc:
        raise SourceError(f"{name}, line 1: {exc}") from None
    except OSError as exc:
        yield SourceProblem(f"{where} or after", f"reading failed: {exc.strerror or exc}")


def mbox_flags(raw: bytes) -> frozenset[str]:
    """The flags an mbox message carries in its Status and X-Status headers."""
    end = _HEADER_END.search(raw)
    head = raw[: end.end()] if end else raw
    if b"status:" not in head.lower():
        return frozenset()
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    flags = set()
    for header, table in (("Status", _STATUS_FLAGS), ("X-Status", _X_STATUS_FLAGS)):
        for letter in str(headers.get(header, "")).strip():
            if letter in table:
                flags.add(table[letter])
    return frozenset(flags)


class MaildirNames:
    """The paths of a Maildir's message files, in import order (`len` and iteration), kept as
    names by directory: a million Path objects took a quarter of a gigabyte, their names alone
    less than half of that."""

    def __init__(self, by_directory: list[tuple[str, list[str]]]) -> None:
        self._by_directory = by_directory
        self._count = sum(len(names) for _, names in by_directory)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        for directory, names in self._by_directory:
            for name in names:
                yield os.path.join(directory, name)


def maildir_names(path: Path) -> MaildirNames:
    """The message files of a Maildir (``new/``, then ``cur/``, each by name: oldest first for
    the usual time-stamped names). Hidden names are left out. Raises SourceError when `path` is
    not a Maildir."""
    subdirs = [path / "new", path / "cur"]
    if not path.is_dir() or not all(sub.is_dir() for sub in subdirs):
        raise SourceError(f"{path}: not a Maildir (a directory with cur/ and new/)")
    by_directory: list[tuple[str, list[str]]] = []
    for sub in subdirs:
        try:
            names = sorted(n for n in os.listdir(sub) if not n.startswith("."))
        except OSError as exc:
            raise SourceError(f"{sub}: cannot be listed: {exc.strerror}") from None
        by_directory.append((str(sub), names))
    return MaildirNames(by_directory)


def read_maildir(entries: Iterable[str | Path]) -> Iterator[SourceMessage | SourceProblem]:
    """Each Maildir entry read (with the flags of its name and its modification time as the
    internal date), or the reason it could not be; in the order given.

    The files are read a little ahead by a few threads: one file at a time, an archive that is
    not in memory any more comes off the disk one wait after another (four tenths of an import
    of a million messages went in those waits). Files up to `READ_AHEAD_BYTES` are read ahead,
    `READ_AHEAD` of them at most; a larger one is read when its turn comes."""
    paths = iter(entries)
    pool = ThreadPoolExecutor(READERS, thread_name_prefix="read-maildir")
    ahead: deque[tuple[str, Future[_Entry]]] = deque()

    def read_next() -> None:
        entry = next(paths, None)
        if entry is not None:
            path = str(entry)
            ahead.append((path, pool.submit(_read_entry, path, READ_AHEAD_BYTES)))

    try:
        for _ in range(READ_AHEAD):
            read_next()
        position = 0
        while ahead:
            path, reading = ahead.popleft()
            read_next()
            position += 1
            info, raw = reading.result()
            if isinstance(info, str):
                yield SourceProblem(path, info)
                continue
            if raw is None:  # larger than is read ahead: read now
                info, raw = _read_entry(path, MAX_MESSAGE_BYTES)
                if isinstance(info, str):
                    yield SourceProblem(path, info)
                    continue
            assert raw is not None
            directory, name = os.path.split(path)
            flags = maildir_flags(name) if os.path.basename(directory) == "cur" else frozenset()
            when = datetime.fromtimestamp(info.st_mtime, UTC).replace(microsecond=0)
            yield SourceMessage(raw, flags, when, path, position)
    finally:
        pool.shutdown(cancel_futures=True)


# The reading waited this long for a batch to be stored (seconds): the writer is behind.
WRITER_BEHIND = 0.002
READERS = 4  # threads reading Maildir files ahead
READ_AHEAD = 32  # files read ahead of the one being stored, at most
READ_AHEAD_BYTES = 1024 * 1024  # a larger file is read when its turn comes

# An entry as read: (its status, its bytes; None when it is larger than was asked for), or
# (why it could not be read, None).
_Entry = tuple[os.stat_result, bytes | None] | tuple[str, None]


def _read_entry(path: str, most: int) -> _Entry:
    """The status and bytes of the Maildir file `path`, its bytes None when it is larger than
    `most`; or why it cannot be imported."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file", None
        if info.st_size > MAX_MESSAGE_BYTES:
            return _too_large(info.st_size), None
        if info.st_size > most:
            return info, None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as file:
            # Bounded: the file may have grown since it was looked at.
            raw = file.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}", None
    if len(raw) > MAX_MESSAGE_BYTES:
        return _too_large(len(raw)), None
    return info, raw


def _too_large(size: int) -> str:
    mib = MAX_MESSAGE_BYTES // (1024 * 1024)
    return f"{size} bytes, larger than the {mib} MiB a message may have; not imported"


# --- into the store -----------------------------------------------------------------------------


def digest(raw: bytes) -> bytes:
    """The key that says two messages are the same: SHA-256 of the exact bytes."""
    return hashlib.sha256(raw).digest()


class _StoredCopies:
    """Whether a message of the source is in the folder already: the folder held more copies
    of its bytes when the import began than the source's earlier occurrences found there. (An
    earlier occurrence was either found there or stored by the import, and a copy the import
    stored stands for that occurrence only; so the store is asked only about the messages up
    to the highest id it held then, and a batch committed meanwhile is never counted.) What is
    kept per message is only for those found there: nothing for a source of new mail."""

    def __init__(self, conn: StoreConnection, folder_id: int) -> None:
        self.conn = conn
        self.folder_id = folder_id
        self._found: Counter[bytes] = Counter()  # occurrences found there so far, by key
        self._up_to = read.highest_message_id(conn)
        # A folder that held nothing at the start holds none of the source's messages from
        # then (an import into a new folder asks nothing per message).
        self._held_nothing = not read.holds_messages(conn, folder_id, up_to=self._up_to)
        self._without_id: Counter[bytes] | None = None  # loaded when first needed

    def already_there(self, raw: bytes, message_id: str | None) -> bool:
        """Whether this occurrence of the bytes `raw` is there already."""
        if self._held_nothing:
            return False  # (not even their digest is needed)
        key = digest(raw)
        if self._held(key, message_id) > self._found[key]:  # (reading adds no entry)
            self._found[key] += 1
            return True
        return False

    def _held(self, key: bytes, message_id: str | None) -> int:
        if message_id is None:
            return self._without_message_id()[key]
        earlier = read.folder_bodies(self.conn, self.folder_id, message_id, up_to=self._up_to)
        return sum(digest(raw) == key for raw in earlier)

    def _without_message_id(self) -> Counter[bytes]:
        if self._without_id is None:
            self._without_id = Counter(
                digest(raw)
                for raw in read.folder_bodies(self.conn, self.folder_id, None, up_to=self._up_to)
            )
        return self._without_id


def store_batch(conn: StoreConnection, folder_id: int, items: list[IncomingMessage]) -> int:
    """Store one batch of the import in one transaction (in the writer process, for a bulk
    import); how many messages."""
    store_messages(conn, folder_id, items, defer_index=True)
    crashpoint("import.batch_committed")
    body_codec.train_if_due(conn)  # once, when enough mail is stored
    return len(items)


def import_into_store(
    conn: StoreConnection,
    folder_id: int,
    source: Iterable[SourceMessage | SourceProblem],
    *,
    progress: Progress | None = None,
    bulk: bool = False,
) -> ImportResult:
    """Store every message of `source` that the folder does not hold yet, in committed batches.

    Problems from the source are collected in the result. An exception from the source (a file
    cut short) propagates after the messages read before it are committed. `bulk` (a large
    source): the batches are stored by a process of their own (`IngestWriter`) while the next
    ones are read, one batch ahead.
    """
    result = ImportResult()
    stored = _StoredCopies(conn, folder_id)
    batch: list[IncomingMessage] = []
    batch_bytes = 0
    writer: IngestWriter | None = None
    most_bytes = BATCH_BYTES
    if bulk and (writer := start_writer(conn)) is not None:
        most_bytes = BULK_BATCH_BYTES

    # Whether the bodies are packed here: while the writer is behind (the reading waited for
    # it), so that its work is shared out; else the writer packs them as it stores them.
    pack_here = False

    def committed() -> None:
        nonlocal pack_here
        assert writer is not None
        started = time.monotonic()
        result.imported += writer.wait()
        pack_here = time.monotonic() - started > WRITER_BEHIND

    def packed(raw: bytes) -> bytes | body_codec.PackedBody:
        """The body to hand on: packed here when the writer is behind, else as it is."""
        return body_codec.pack_body(conn, raw) if pack_here else raw

    def commit() -> None:
        nonlocal batch_bytes
        # Taken out of the batch first: a failed store is not tried again by the `finally`.
        items = batch[:]
        batch.clear()
        batch_bytes = 0
        if not items:
            return
        if writer is None:
            result.imported += store_batch(conn, folder_id, items)
            return
        writer.submit(store_batch, folder_id, items)
        # One batch is stored and the next handed over while the one after is read: storing
        # does not wait for the reading, nor the reading for a store that takes its time (a
        # batch whose commit writes the log into the store).
        while writer.waiting > 2:
            committed()
        if body_codec.newest_dictionary(conn) is None:
            body_codec.forget(conn)  # the writer may have trained one since

    try:
        from tuimail.mail.headers import parse_envelope  # the email package: when first needed

        for item in source:
            if isinstance(item, SourceProblem):
                result.problems.append(item)
                continue
            # The header section alone: the body's text is indexed after the import.
            parsed = ParsedRaw(parse_envelope(item.raw), None)
            if stored.already_there(item.raw, parsed.envelope.message_id):
                result.already_there += 1
            else:
                batch.append(
                    IncomingMessage(
                        raw=packed(item.raw),
                        flags=item.flags,
                        internaldate=item.internaldate,
                        parsed=parsed,
                    )
                )
                batch_bytes += len(item.raw)
                if len(batch) >= BATCH_MESSAGES or batch_bytes >= most_bytes:
                    commit()
            if progress is not None:
                progress(item.position)
    finally:
        # What was read before a failure (or Ctrl-C) is kept.
        try:
            commit()
            while writer is not None and writer.waiting:
                committed()
        finally:
            if writer is not None:
                writer.close()
    return result


# --- up to an IMAP folder -----------------------------------------------------------------------


def crlf(raw: bytes) -> bytes:
    """The message with CRLF line ends, as IMAP wants them (lone CRs are left alone)."""
    return _LINE_END.sub(b"\r\n", raw)


def upload_to_imap(
    client: imapclient.IMAPClient,
    folder: str,
    source: Iterable[SourceMessage | SourceProblem],
    *,
    progress: Progress | None = None,
) -> ImportResult:
    """APPEND every message of `source` that `folder` does not hold yet (created when missing).

    Before each APPEND the folder is searched for a copy with the same bytes, so a rerun after
    an interruption (`import.appended`) never appends a message twice. A message the server
    refuses (NO) is a problem of the result; a broken connection raises.
    """
    import imapclient.exceptions

    from tuimail.mail.headers import parse_envelope
    from tuimail.sync.imap.extensions import append_streamed

    result = ImportResult()
    created = False
    if not client.folder_exists(folder):
        client.create_folder(folder)
        created = True
    client.select_folder(folder)
    seen: Counter[bytes] = Counter()
    appended: Counter[bytes] = Counter()
    for item in source:
        if isinstance(item, SourceProblem):
            result.problems.append(item)
            continue
        raw = crlf(item.raw)
        key = digest(raw)
        seen[key] += 1
        if created:
            # A folder made by this run holds only what this run appended.
            there = appended[key]
        else:
            message_id = parse_envelope(raw).message_id
            there = _server_copies(client, raw, key, message_id)
        if there >= seen[key]:
            result.already_there += 1
        else:
            try:
                append_streamed(
                    client,
                    folder,
                    len(raw),
                    (raw,),
                    flags=sorted(item.flags),
                    msg_time=item.internaldate,
                )
            except imapclient.exceptions.IMAPClientAbortError:
                raise  # the connection is gone
            except imapclient.exceptions.IMAPClientError as exc:
                result.problems.append(SourceProblem(item.where, f"the server refused it: {exc}"))
            else:
                crashpoint("import.appended")
                appended[key] += 1
                result.imported += 1
        if progress is not None:
            progress(item.position)
    return result


def _server_copies(
    client: imapclient.IMAPClient, raw: bytes, key: bytes, message_id: str | None
) -> int:
    """How many messages of the selected folder have exactly the bytes `raw` (SHA-256 `key`)."""
    from tuimail.sync.imap.extensions import search_message_ids, uid_fetch, uid_search, uid_set

    if message_id is not None and _searchable(message_id):
        candidates = search_message_ids(client, [message_id]).get(message_id, [])
    else:
        # No Message-ID to look for: the messages of the same size (RFC822.SIZE counts CRLF).
        candidates = uid_search(client, f"LARGER {len(raw) - 1} SMALLER {len(raw) + 1}")
    copies = 0
    for uid in candidates:  # one body in memory at a time
        data, _ = uid_fetch(client, uid_set([uid]), ("UID", "BODY.PEEK[]"))
        body = data.get(uid, {}).get(b"BODY[]")
        if isinstance(body, bytes) and digest(body) == key:
            copies += 1
    return copies


def _searchable(message_id: str) -> bool:
    # What `search_message_ids` looks for: one quoted string of printable ASCII.
    return all(32 < ord(ch) < 127 and ch not in '"\\' for ch in message_id)
