"""Address books for completion in the composer: vCard files and an external command.

vCard: a small parser over the content-line grammar of RFC 6350 (vCard 4.0), which also reads
RFC 2426 (3.0) and the vCard 2.1 forms people still have (bare parameters such as
``EMAIL;INTERNET;PREF:``, quoted-printable values with soft line breaks). Completion needs two
properties, FN (or N) and EMAIL, so a parser of the line grammar is a few dozen lines; vobject,
the one maintained general library, is large, slow to import and builds a full object tree per
card for what is here a name and some addresses. Files are read from the configured paths: a
``.vcf`` file, or a directory searched recursively for them (khard and vdirsyncer keep one card per
file, ``~/.contacts/<book>/<uid>.vcf``). `BookCache` keeps what it parsed by each file's mtime and
size, so opening the composer again re-reads only what changed.

Command: ``address_book_command`` runs with ``/bin/sh -c`` and prints one ``address<TAB>name``
line per match, anything after a second tab ignored (aerc's contract); with
``skip_first_line`` the first line is a status line (mutt's ``query_command`` format). The text
the user typed is handed to the shell as ``$1``, never pasted into the command's text: ``%s``
(also ``'%s'`` and ``"%s"``) in the command becomes ``"$1"`` (``%%`` is a ``%``), and a command
without ``%s`` gets it as its last argument. So typed quotes, ``$`` or ``;`` cannot run anything.

Names and addresses from books and commands are untrusted text: the composer sanitizes them
before showing them (`tuimail.ui.address_suggester.address_label`).
"""

from __future__ import annotations

import contextlib
import os
import quopri
import re
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tuimail.mail.sanitize import sanitize_line

COMMAND_TIMEOUT = 10.0  # seconds; an LDAP query may be slow, but the user is typing
MAX_CARD_FILE = 16 * 1024 * 1024  # bytes; contact photos make cards large, not this large
MAX_COMMAND_OUTPUT_LINES = 5000


@dataclass(frozen=True, slots=True)
class Contact:
    """One address of an address book entry (a card with three addresses gives three)."""

    name: str  # '' when the entry has none
    email: str


class AddressBookError(Exception):
    """A book or the command could not be used; the message says which and why, for the user."""


# --- vCard ------------------------------------------------------------------------------------

# `[group.]NAME` then parameters up to the first ':' outside double quotes.
_PARAM_SPLIT = re.compile(r';(?=(?:[^"]*"[^"]*")*[^"]*$)')
_UNESCAPE = re.compile(r"\\(.)", re.S)


@dataclass(slots=True)
class _Line:
    name: str
    params: dict[str, list[str]]
    value: str  # raw: escapes and encodings still in place


@dataclass(slots=True)
class _Card:
    fn: str = ""
    n: str = ""
    # (preference: lower is preferred, position, address)
    emails: list[tuple[int, int, str]] = field(default_factory=list)


def _unescape(text: str) -> str:
    """RFC 6350 3.4 text escapes: \\n, \\, \\; \\\\ (other backslashes kept as written)."""

    def one(match: re.Match[str]) -> str:
        char = match.group(1)
        return "\n" if char in "nN" else char if char in ",;\\:" else match.group(0)

    return _UNESCAPE.sub(one, text)


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split a structured value (N) at separators that are not escaped."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unfold(text: str) -> Iterator[str]:
    """Logical lines: a line starting with a space or tab continues the previous one (RFC 6350
    3.2); a quoted-printable value ending in '=' continues on the next line (vCard 2.1)."""
    pending: str | None = None
    for raw in text.splitlines():
        if pending is not None and raw[:1] in (" ", "\t"):
            pending += raw[1:]
            continue
        if pending is not None and _soft_break(pending):
            pending = pending[:-1] + raw
            continue
        if pending is not None:
            yield pending
        pending = raw
    if pending is not None:
        yield pending


def _soft_break(line: str) -> bool:
    head = line.partition(":")[0].upper()
    return line.endswith("=") and "QUOTED-PRINTABLE" in head


def _value_start(line: str) -> int | None:
    """Where the value begins: after the first ':' outside a quoted parameter value."""
    in_quotes = False
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ":" and not in_quotes:
            return index + 1
    return None


def _parse_line(line: str) -> _Line | None:
    start = _value_start(line)
    if start is None:
        return None
    head, value = line[: start - 1], line[start:]
    name, *raw_params = _PARAM_SPLIT.split(head)
    params: dict[str, list[str]] = {}
    for raw in raw_params:
        key, equals, values = raw.partition("=")
        if not equals:  # vCard 2.1: a bare parameter is a TYPE (or an ENCODING)
            bare_encoding = key.strip().upper() in ("QUOTED-PRINTABLE", "BASE64", "8BIT")
            key, values = ("ENCODING", key) if bare_encoding else ("TYPE", key)
        # TYPE=work,pref and TYPE="work,voice" are lists; 2.1 repeats the parameter instead.
        for item in values.strip().strip('"').split(","):
            params.setdefault(key.strip().upper(), []).append(item.strip())
    return _Line(name.rpartition(".")[2].strip().upper(), params, value)


def _decoded_value(line: _Line) -> str:
    """The value as text: quoted-printable (vCard 2.1) decoded in its CHARSET, escapes undone."""
    encodings = {e.upper() for e in line.params.get("ENCODING", [])}
    value = line.value
    if "QUOTED-PRINTABLE" in encodings:
        charset = (line.params.get("CHARSET") or ["utf-8"])[0]
        raw = quopri.decodestring(value.encode("utf-8", "replace"))
        try:
            value = raw.decode(charset, "replace")
        except LookupError:
            value = raw.decode("utf-8", "replace")
    return value


def _preference(params: dict[str, list[str]]) -> int:
    """Lower is preferred: PREF=1..100 (vCard 4.0), TYPE=pref (3.0, 2.1) counts as 1."""
    for value in params.get("PREF", []):
        if value.isdigit():
            return max(1, min(100, int(value)))
    if any(t.lower() == "pref" for t in params.get("TYPE", [])):
        return 1
    return 101  # no preference given: after every preferred address, in file order


def _clean_email(value: str) -> str | None:
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return None
    if any(c.isspace() or not c.isprintable() or c in '<>,;"' for c in text):
        return None
    return text


def _card_name(card: _Card) -> str:
    if card.fn.strip():
        return " ".join(card.fn.split())
    if card.n:
        # N: family; given; additional; prefixes; suffixes (each possibly a list).
        parts = [_unescape(p).replace(",", " ") for p in _split_unescaped(card.n, ";")]
        parts += [""] * (5 - len(parts))
        family, given, additional, prefix, suffix = parts[:5]
        return " ".join(" ".join([prefix, given, additional, family, suffix]).split())
    return ""


def parse_vcards(text: str) -> list[Contact]:
    """Every address of every card in `text`, each card's preferred address first."""
    contacts: list[Contact] = []
    card: _Card | None = None
    depth = 0  # vCard 2.1 may nest a card (AGENT); only the outer card's lines count
    for physical in _unfold(text):
        line = _parse_line(physical)
        if line is None:
            continue
        value_upper = line.value.strip().upper()
        if line.name == "BEGIN" and value_upper == "VCARD":
            depth += 1
            if depth == 1:
                card = _Card()
            continue
        if line.name == "END" and value_upper == "VCARD":
            depth -= 1
            if depth == 0 and card is not None:
                contacts.extend(_contacts_of(card))
                card = None
            depth = max(depth, 0)
            continue
        if card is None or depth != 1:
            continue
        if line.name == "FN":
            card.fn = _unescape(_decoded_value(line))
        elif line.name == "N":
            card.n = _decoded_value(line)
        elif line.name == "EMAIL":
            email = _clean_email(_unescape(_decoded_value(line)))
            if email is not None:
                card.emails.append((_preference(line.params), len(card.emails), email))
    return contacts


def _contacts_of(card: _Card) -> list[Contact]:
    name = _card_name(card)
    seen: set[str] = set()
    contacts = []
    for _pref, _position, email in sorted(card.emails):
        if email.casefold() not in seen:
            seen.add(email.casefold())
            contacts.append(Contact(name, email))
    return contacts


def read_vcard_file(path: Path) -> list[Contact]:
    """The contacts of one .vcf file. Raises OSError when it cannot be read."""
    size = path.stat().st_size
    if size > MAX_CARD_FILE:
        raise OSError(f"{path}: larger than {MAX_CARD_FILE // (1024 * 1024)} MiB; not read")
    data = path.read_bytes()
    return parse_vcards(data.decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class BookLoad:
    """What the configured books gave: contacts in book order, and problems for the user."""

    contacts: tuple[Contact, ...]
    problems: tuple[str, ...]


class BookCache:
    """Parsed vCard files by path, reused while the file's mtime and size stay the same.

    Thread-safe: the composer loads in a worker thread, and two composers may load at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[int, int, list[Contact]]] = {}
        self.parsed = 0  # files parsed (not taken from the cache); tests read it

    def load(self, books: Sequence[Path]) -> BookLoad:
        """Contacts of every book (a .vcf file, or a directory of them, searched recursively)."""
        contacts: list[Contact] = []
        problems: list[str] = []
        for book in books:
            try:
                files = list(_card_files(book))
            except OSError as exc:
                problems.append(f"address book {book}: {exc.strerror or exc}")
                continue
            for path in files:
                try:
                    contacts.extend(self._file(path))
                except OSError as exc:
                    problems.append(f"address book {path}: {exc.strerror or exc}")
        return BookLoad(tuple(contacts), tuple(problems))

    def _file(self, path: Path) -> list[Contact]:
        stat = path.stat()
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        contacts = read_vcard_file(path)
        with self._lock:
            self._files[path] = (stat.st_mtime_ns, stat.st_size, contacts)
            self.parsed += 1
        return contacts


def _card_files(book: Path) -> Iterable[Path]:
    """`book` itself, or the .vcf files under it in a stable order (hidden entries skipped:
    vdirsyncer and editors keep their own state there)."""
    if book.is_dir():
        found = []
        for root, dirs, files in os.walk(book, onerror=_raise):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [
                Path(root, f)
                for f in sorted(files)
                if f.lower().endswith(".vcf") and not f.startswith(".")
            ]
        return found
    if not book.exists():
        raise FileNotFoundError(2, "No such file or directory", str(book))
    return [book]


def _raise(exc: OSError) -> None:
    raise exc


BOOKS = BookCache()  # one per process: every composer shares what was parsed


# --- the command --------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"""'%s'|"%s"|%%|%s""")


def command_line(command: str) -> str:
    """The shell text to run: `%s` (bare or quoted) becomes "$1" and `%%` a `%`; a command
    without `%s` gets "$1" appended."""
    if not any(m.group() != "%%" for m in _PLACEHOLDER.finditer(command)):
        return f'{command.replace("%%", "%")} "$1"'
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else '"$1"', command)


def parse_command_output(text: str, *, skip_first_line: bool = False) -> list[Contact]:
    """``address<TAB>name[<TAB>anything]`` lines → contacts; lines without an address skipped."""
    lines = text.splitlines()
    if skip_first_line:
        lines = lines[1:]
    contacts = []
    for line in lines[:MAX_COMMAND_OUTPUT_LINES]:
        address, _tab, rest = line.partition("\t")
        email = _clean_email(address)
        if email is None:
            continue
        name = rest.partition("\t")[0].strip()
        contacts.append(Contact(name, email))
    return contacts


def run_address_book_command(
    command: str, query: str, *, skip_first_line: bool = False, timeout: float = COMMAND_TIMEOUT
) -> list[Contact]:
    """Run the address book command for `query`; raises AddressBookError (never with the
    command's standard output in it) when it cannot be started, times out or fails."""
    try:
        # A session of its own: on a timeout the whole group goes, including what the shell
        # started (otherwise a child holding the pipe keeps us waiting).
        process = subprocess.Popen(
            ["/bin/sh", "-c", command_line(command), "sh", query],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AddressBookError(
            f"address_book_command could not be started: {exc.strerror or exc}"
        ) from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise AddressBookError(
            f"address_book_command did not finish within {timeout:g} s"
        ) from None
    if process.returncode != 0:
        # mutt's query programs exit 1 with only a status line when nothing matches.
        output = stdout.decode("utf-8", "replace")
        if skip_first_line and process.returncode == 1 and len(output.splitlines()) <= 1:
            return []
        detail = _last_line(stderr.decode("utf-8", "replace"))
        raise AddressBookError(
            f"address_book_command failed with exit status {process.returncode}"
            + (f": {detail}" if detail else "")
        )
    return parse_command_output(stdout.decode("utf-8", "replace"), skip_first_line=skip_first_line)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # stderr is untrusted terminal text: sanitized and short.
    return sanitize_line(lines[-1] if lines else "").strip()[:200]
