"""Message files outside the store: an mboxrd writer and reader, and a Maildir writer.

Both formats carry the exact bytes of each message, so that export and import give back what the
store held, byte for byte.

mbox (the mboxrd variant)
-------------------------
- Each message starts with a separator line ``From SENDER DATE`` (the envelope sender, else
  ``MAILER-DAEMON``; the date in asctime form, UTC) ended by LF.
- Lines are what LF ends. Every line of a message that matches ``>*From `` gets one more ``>``;
  the reader removes exactly one from every line that matches ``>+From ``. So a line that starts
  with ``From `` is always a separator, and quoting is reversible whatever the message holds.
- The message bytes are written as they are: line ends are **not** converted. Mail from a server
  has CRLF line ends, and it keeps them in the file, as mbox files written on Windows do; Python's
  `mailbox`, mutt and Thunderbird read such files. Converting CRLF to LF would make messages with
  lone LF, lone CR or mixed line ends impossible to give back exactly.
- After each message comes exactly one LF. For the usual message, which ends with a line end,
  that is the blank line that mbox readers expect before the next separator; for a message whose
  last line has no line end, it ends that line. The reader removes exactly that one LF.
- The reader takes mboxo files (other programs' plain mbox) by the same rules: their separators
  are the same, and their ``>From `` lines lose one ``>`` as in mboxrd. The one thing lost is a
  line that was ``>From `` in the original message of an mboxo file, which mboxo cannot tell
  from a quoted ``From ``. The date of a separator is read back (`separator_date`) as UTC.

Maildir
-------
Each message becomes one file in ``cur/``, named ``TIME.MUSECSPPIDQSEQ.HOST:2,FLAGS`` with the
flags from the store (D draft, F flagged, R answered, S seen, T deleted), written into ``tmp/``,
flushed to disk, and then linked into ``cur/`` so that no reader ever sees half a message and no
existing file is ever replaced. The file's modification time is the message's internal date
(as Dovecot and mbsync keep it), so an import gives the date back.
"""

from __future__ import annotations

import errno
import io
import os
import platform
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

MAILER_DAEMON = "MAILER-DAEMON"

# A line (start of the data or after LF) that a reader could take for a separator, quoted or not.
_QUOTABLE = re.compile(rb"^(>*From )", re.MULTILINE)
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_SEPARATOR = b"From "
# What may stand as the sender in a separator line: one printable ASCII word.
_SENDER = re.compile(r"[!-~]+")

# Maildir info flags (the "2," part of the name) for the store's flags, in ASCII order.
_MAILDIR_FLAGS = ((DRAFT, "D"), (FLAGGED, "F"), (ANSWERED, "R"), (SEEN, "S"), (DELETED, "T"))
_MAILDIR_SUBDIRS = ("cur", "new", "tmp")


class ExportError(Exception):
    """A target that cannot be written as asked, or a file that is not what it should be."""


# --- mboxrd -------------------------------------------------------------------------------------


def from_line(sender: str | None, when: datetime) -> bytes:
    """The separator line (with its LF) for a message from `sender` at `when`.

    A sender that is not one printable ASCII word (missing, with spaces or controls) becomes
    MAILER-DAEMON, so that the line always parses as a separator.
    """
    word = sender if sender and _SENDER.fullmatch(sender) else MAILER_DAEMON
    stamp = time.asctime(when.astimezone(UTC).timetuple())
    return f"From {word} {stamp}\n".encode("ascii")


def quote_from_lines(raw: bytes) -> bytes:
    """The message with one more ``>`` before every line matching ``>*From ``."""
    return _QUOTABLE.sub(rb">\1", raw)


def unquote_from_lines(data: bytes) -> bytes:
    """Undo `quote_from_lines`: one ``>`` less before every line matching ``>+From ``."""
    return _QUOTED.sub(rb"\1", data)


def write_mbox_entry(file: BinaryIO, raw: bytes, sender: str | None, when: datetime) -> None:
    """Append one message to an mboxrd file: separator, quoted bytes, one LF."""
    file.write(from_line(sender, when))
    file.write(quote_from_lines(raw))
    file.write(b"\n")


def mbox_bytes(messages: Iterable[tuple[bytes, str | None, datetime]]) -> bytes:
    """Messages given as (exact bytes, envelope sender, date), in that order, as one mboxrd
    stream: what `git am` or `formail` read from a pipe."""
    stream = io.BytesIO()
    for raw, sender, when in messages:
        write_mbox_entry(stream, raw, sender, when)
    return stream.getvalue()


@dataclass(frozen=True, slots=True)
class MboxEntry:
    """One message read from an mbox file: its separator line (without LF) and exact bytes.

    `line` is the separator's line number (from 1) and `end` the number of bytes of the file
    read up to the end of this message. `complete` is False for a message at the end of the
    file that lacks the LF written after every message: the file was cut short there (or was
    written by a program that leaves the last line open). `oversize` is the message's size when
    it is over the reader's `max_bytes`: its bytes were not kept and `raw` is empty.
    """

    separator: bytes
    raw: bytes
    line: int = 1
    end: int = 0
    complete: bool = True
    oversize: int = 0


# Lines are read at most this long at a time, so a file with no line ends (or one huge line)
# is never held whole; the pieces of a long line are joined back byte for byte.
_READ_PIECE = 64 * 1024


def read_mboxrd(file: BinaryIO, *, max_bytes: int | None = None) -> Iterator[MboxEntry]:
    """The messages of an mboxrd (or mboxo) file, one at a time: a message is in memory, never
    the file. A message over `max_bytes` is not kept: its entry has `oversize` set and no bytes,
    and memory stays near `max_bytes` whatever the file holds.

    Raises ExportError when the data does not start with a separator line. An empty file holds
    no messages.
    """
    separator: bytes | None = None
    separator_line = 0
    lines: list[bytes] = []
    size = 0  # bytes of the current message read so far, kept or not
    offset = 0
    number = 0
    at_line_start = True
    while piece := file.readline(_READ_PIECE):
        starts_line = at_line_start
        at_line_start = piece.endswith(b"\n")
        offset += len(piece)
        if starts_line:
            number += 1
            if piece.startswith(_SEPARATOR):
                if separator is not None:
                    end = offset - len(piece)
                    yield _entry(separator, lines, separator_line, end, size, max_bytes=max_bytes)
                separator, separator_line, lines, size = piece.rstrip(b"\n"), number, [], 0
                while not at_line_start and (rest := file.readline(_READ_PIECE)):
                    # The rest of an overlong separator line: counted, not kept.
                    offset += len(rest)
                    at_line_start = rest.endswith(b"\n")
                continue
            if separator is None:
                raise ExportError("not an mbox file: it does not start with a 'From ' line")
        size += len(piece)
        if max_bytes is not None and size > max_bytes + 1:  # +1: the LF after every message
            lines.clear()
        else:
            lines.append(piece)
    if separator is not None:
        yield _entry(separator, lines, separator_line, offset, size, last=True, max_bytes=max_bytes)


def _entry(
    separator: bytes,
    lines: list[bytes],
    number: int,
    end: int,
    size: int,
    *,
    last: bool = False,
    max_bytes: int | None = None,
) -> MboxEntry:
    data = b"".join(lines)
    lines.clear()  # the caller's list: its lines are in `data` now, not twice in memory
    # The writer ends every message with one LF; a file cut short may lack it (a message before
    # another separator always has it: the separator starts a line).
    complete = not last or data.endswith(b"\n")
    if max_bytes is not None and size - 1 > max_bytes:
        return MboxEntry(separator, b"", number, end, True, oversize=size - 1)
    if data.endswith(b"\n"):
        data = data[:-1]
    return MboxEntry(separator, unquote_from_lines(data), number, end, complete)


def separator_date(separator: bytes) -> datetime | None:
    """The date in a separator line (``From SENDER DATE [...]``, asctime form) as UTC, or None.

    The writer writes UTC; other programs write local time without a zone, read as UTC too.
    """
    words = separator.decode("ascii", "replace").split()
    # "From", the sender, then "Mon Mar  2 10:05:09 2026" (five words), maybe more after.
    if len(words) < 7:
        return None
    try:
        parsed = datetime.strptime(" ".join(words[2:7]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


class MboxFile:
    """A new mboxrd file, written under a temporary name and put in place by `commit`.

    The target must not exist: an existing file is never overwritten or appended to. Until
    `commit`, the messages are in a hidden temporary file beside the target (mode 0600), which
    `abort` removes, so an interrupted export leaves nothing behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() or path.is_symlink():
            raise ExportError(f"{path} already exists; tuimail never overwrites a file")
        parent = path.parent
        if not parent.is_dir():
            raise ExportError(f"{parent} is not a directory")
        self._temp = parent / f".{path.name}.{os.getpid()}.tmp"
        try:
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ExportError(f"cannot write in {parent}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "wb")

    def add(self, raw: bytes, sender: str | None, when: datetime) -> None:
        """Append one message."""
        write_mbox_entry(self._file, raw, sender, when)

    def commit(self) -> None:
        """Flush the file to disk and give it its name (refused if the name was taken since)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            _move_no_clobber(self._temp, self.path)
        except FileExistsError:
            self.abort()
            raise ExportError(
                f"{self.path} appeared while exporting; tuimail never overwrites a file"
            ) from None
        _fsync_directory(self.path.parent)

    def abort(self) -> None:
        """Throw away what was written."""
        self._file.close()
        self._temp.unlink(missing_ok=True)


class MboxStream:
    """mboxrd written straight to an open binary stream (standard output); nothing to undo."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def add(self, raw: bytes, sender: str | None, when: datetime) -> None:
        """Append one message."""
        write_mbox_entry(self._file, raw, sender, when)

    def commit(self) -> None:
        """Flush the stream."""
        self._file.flush()

    def abort(self) -> None:
        """Nothing to undo: the reader has what was written (the stream may be broken)."""


# --- Maildir ------------------------------------------------------------------------------------


def maildir_info(flags: Iterable[str]) -> str:
    """The info part of a Maildir file name (``2,`` and the flag letters) for store flags."""
    present = set(flags)
    return "2," + "".join(letter for flag, letter in _MAILDIR_FLAGS if flag in present)


def maildir_flags(name: str) -> frozenset[str]:
    """The store flags that a Maildir file name carries (the inverse of `maildir_info`)."""
    _, found, info = name.rpartition(":2,")
    if not found:
        return frozenset()
    return frozenset(flag for flag, letter in _MAILDIR_FLAGS if letter in info)


def _maildir_host() -> str:
    # The Maildir spec replaces "/" and ":" in the host name, which a file name cannot hold.
    host = platform.node() or "localhost"
    return host.replace("/", r"\057").replace(":", r"\072")


class Maildir:
    """A Maildir to add messages to: created when missing, or an existing one appended to.

    An existing empty directory becomes a Maildir; any other existing path that is not a Maildir
    (with cur/, new/ and tmp/) is refused.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._host = _maildir_host()
        self._sequence = 0
        if path.is_symlink() and not path.exists():
            raise ExportError(f"{path} is a dangling symbolic link")
        if path.exists():
            if not path.is_dir():
                raise ExportError(f"{path} exists and is not a directory")
            entries = {entry.name for entry in path.iterdir()}
            is_maildir = all((path / sub).is_dir() for sub in _MAILDIR_SUBDIRS)
            if entries and not is_maildir:
                raise ExportError(
                    f"{path} is not empty and not a Maildir (it has no cur/, new/ and tmp/)"
                )
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for sub in _MAILDIR_SUBDIRS:
                (path / sub).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the Maildir {path}: {exc.strerror}") from None

    def _unique_name(self) -> str:
        self._sequence += 1
        now = time.time()
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        return f"{seconds}.M{micros}P{os.getpid()}Q{self._sequence}.{self._host}"

    def add(self, raw: bytes, flags: Iterable[str], when: datetime | None = None) -> Path:
        """Write one message into cur/ (through tmp/) and return its path; `when` (the internal
        date) becomes the file's modification time."""
        info = maildir_info(flags)
        while True:
            name = self._unique_name()
            temp = self.path / "tmp" / name
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(raw)
                    file.flush()
                    if when is not None:
                        stamp = when.timestamp()
                        os.utime(file.fileno(), (stamp, stamp))
                    os.fsync(file.fileno())
                final = self.path / "cur" / f"{name}:{info}"
                _move_no_clobber(temp, final)
            except FileExistsError:
                temp.unlink(missing_ok=True)
                continue
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            return final

    def commit(self) -> None:
        """Make the new names durable."""
        _fsync_directory(self.path / "cur")

    def abort(self) -> None:
        """Nothing to undo: every message already in cur/ is complete."""
        _fsync_directory(self.path / "cur")


# --- files --------------------------------------------------------------------------------------


def _move_no_clobber(source: Path, target: Path) -> None:
    """Rename `source` to `target`; FileExistsError (and `source` left alone) when it exists.

    os.rename would silently replace an existing target; a hard link never does.
    """
    try:
        os.link(source, target)
    except OSError as exc:
        # Some file systems have no hard links; then check and rename (not atomic, but safe
        # against everything except another writer racing for the same unique name).
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if target.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.rename(source, target)
        return
    source.unlink()


def _fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the data itself is synced
    finally:
        os.close(fd)
