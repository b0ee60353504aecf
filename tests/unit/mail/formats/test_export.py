"""mboxrd and Maildir files: exact bytes out and back, whatever the messages hold."""

from __future__ import annotations

import io
import mailbox
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN
from tuimail.mail.formats import export
from tuimail.mail.formats.export import (
    ExportError,
    Maildir,
    MboxFile,
    MboxStream,
    from_line,
    maildir_flags,
    maildir_info,
    quote_from_lines,
    read_mboxrd,
    unquote_from_lines,
    write_mbox_entry,
)

WHEN = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Messages that break naive mbox code: line ends of every kind, From lines quoted or not, no
# final line end, nothing at all.
EDGE_CASES = [
    b"Subject: plain\r\n\r\nHello\r\n",
    b"Subject: x\r\n\r\nFrom the start of a line\r\n>From quoted\r\n>>From twice\r\n",
    b"From the very first line\n",
    b"Subject: lone LF\n\nbody\n",
    b"Subject: lone CR\r\rbody\rFrom after a CR\r",
    b"Subject: no final line end\r\n\r\nlast line",
    b"Subject: mixed\r\n\nline\r\rFrom x\n\r\n",
    b"Subject: trailing blank lines\r\n\r\nbody\n\n\n",
    b"",
    b"\n",
    b"\r\n",
    b"From ",
    b">From ",
    b"From\n",  # no space: not a separator
    b"\x00\xff binary \x1b[31m\n",
]


def mbox_bytes(messages: list[bytes], sender: str | None = "alice@example.org") -> bytes:
    buffer = io.BytesIO()
    for raw in messages:
        write_mbox_entry(buffer, raw, sender, WHEN)
    return buffer.getvalue()


def read_back(data: bytes) -> list[bytes]:
    return [entry.raw for entry in read_mboxrd(io.BytesIO(data))]


def test_from_line_has_the_sender_and_an_asctime_date_in_utc() -> None:
    plus_two = datetime(2026, 3, 2, 12, 5, 9, tzinfo=timezone(timedelta(hours=2)))
    assert from_line("alice@example.org", plus_two) == (
        b"From alice@example.org Mon Mar  2 10:05:09 2026\n"
    )


@pytest.mark.parametrize("sender", [None, "", "two words@example.org", "bad\x1b[m@x", "é@x"])
def test_from_line_falls_back_to_mailer_daemon(sender: str | None) -> None:
    assert from_line(sender, WHEN) == b"From MAILER-DAEMON Mon Mar  2 10:00:00 2026\n"


def test_quoting_adds_one_angle_bracket_to_from_lines_only() -> None:
    raw = b"From a\n>From b\n>>From c\nX From d\nFrom\n\rFrom e\r\nFrom f"
    quoted = quote_from_lines(raw)
    assert quoted == b">From a\n>>From b\n>>>From c\nX From d\nFrom\n\rFrom e\r\n>From f"
    assert unquote_from_lines(quoted) == raw


def test_the_file_layout_is_mboxrd() -> None:
    data = mbox_bytes([b"Subject: a\r\n\r\nFrom me\r\n", b"Subject: b\r\n\r\nno end"])
    assert data == (
        b"From alice@example.org Mon Mar  2 10:00:00 2026\n"
        b"Subject: a\r\n\r\n>From me\r\n"
        b"\n"
        b"From alice@example.org Mon Mar  2 10:00:00 2026\n"
        b"Subject: b\r\n\r\nno end"
        b"\n"
    )


def test_edge_cases_round_trip_exactly() -> None:
    assert read_back(mbox_bytes(EDGE_CASES)) == EDGE_CASES


def test_each_edge_case_alone_round_trips() -> None:
    for raw in EDGE_CASES:
        assert read_back(mbox_bytes([raw])) == [raw]


_FRAGMENTS = st.sampled_from(
    [b"From ", b">From ", b">>From ", b"From", b"\r\n", b"\n", b"\r", b"\n\n", b"x", b" ", b">"]
)
_MESSAGE = st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=12)), max_size=25).map(b"".join)


@SETTINGS
@given(st.lists(_MESSAGE, max_size=6))
def test_any_messages_round_trip_exactly(messages: list[bytes]) -> None:
    assert read_back(mbox_bytes(messages)) == messages


@SETTINGS
@given(st.lists(_MESSAGE, max_size=4))
def test_every_line_starting_with_from_is_a_separator(messages: list[bytes]) -> None:
    data = mbox_bytes(messages)
    separators = [line for line in data.split(b"\n") if line.startswith(b"From ")]
    assert len(separators) == len(messages)


def test_pythons_mailbox_reads_the_same_messages() -> None:
    # Another reader agrees on where messages start and end (for messages ending in a line
    # end, as mail from a server does; Python's reader does not undo From-quoting).
    messages = [
        b"Subject: one\r\n\r\nfirst\r\n",
        b"Subject: two\r\n\r\nsecond\r\n\r\n",
        b"Subject: three\n\nLF only\n",
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "out.mbox"
        path.write_bytes(mbox_bytes(messages))
        box = mailbox.mbox(path, create=False)
        try:
            assert [box.get_bytes(key) for key in box.iterkeys()] == messages
            assert [box[key]["Subject"] for key in box.iterkeys()] == ["one", "two", "three"]
        finally:
            box.close()


def test_reader_refuses_what_is_not_an_mbox_and_accepts_an_empty_file() -> None:
    with pytest.raises(ExportError, match="not an mbox file"):
        list(read_mboxrd(io.BytesIO(b"Subject: x\n\nFrom y\n")))
    assert list(read_mboxrd(io.BytesIO(b""))) == []


def test_reader_keeps_the_separator_line() -> None:
    (entry,) = read_mboxrd(io.BytesIO(mbox_bytes([b"x\n"], sender=None)))
    assert entry.separator == b"From MAILER-DAEMON Mon Mar  2 10:00:00 2026"


# --- mbox files ---------------------------------------------------------------------------------


def test_mbox_file_appears_only_on_commit_and_is_private(tmp_path: Path) -> None:
    target = tmp_path / "out.mbox"
    mbox = MboxFile(target)
    mbox.add(b"Subject: x\r\n\r\nbody\r\n", "a@example.org", WHEN)
    assert not target.exists()
    mbox.commit()
    assert read_back(target.read_bytes()) == [b"Subject: x\r\n\r\nbody\r\n"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mbox"]


def test_mbox_file_abort_leaves_nothing(tmp_path: Path) -> None:
    mbox = MboxFile(tmp_path / "out.mbox")
    mbox.add(b"x\n", None, WHEN)
    mbox.abort()
    assert list(tmp_path.iterdir()) == []


def test_mbox_file_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "out.mbox"
    target.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists"):
        MboxFile(target)
    # A file that appears while the export runs is not replaced either.
    later = tmp_path / "later.mbox"
    mbox = MboxFile(later)
    mbox.add(b"x\n", None, WHEN)
    later.write_bytes(b"someone else's")
    with pytest.raises(ExportError, match="appeared"):
        mbox.commit()
    assert later.read_bytes() == b"someone else's"
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["later.mbox", "out.mbox"]


def test_mbox_file_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not a directory"):
        MboxFile(tmp_path / "missing" / "out.mbox")


def test_mbox_stream_writes_to_the_stream() -> None:
    buffer = io.BytesIO()
    stream = MboxStream(buffer)
    stream.add(b"a\r\n", "x@y", WHEN)
    stream.commit()
    assert read_back(buffer.getvalue()) == [b"a\r\n"]


# --- Maildir ------------------------------------------------------------------------------------


def test_maildir_info_and_flags_are_inverse() -> None:
    flags = {SEEN, ANSWERED, FLAGGED, DRAFT, DELETED}
    assert maildir_info(flags) == "2,DFRST"
    assert maildir_info(set()) == "2,"
    assert maildir_info({SEEN, "$Junk"}) == "2,S"
    assert maildir_flags("123.M1P2Q3.host:2,DFRST") == flags
    assert maildir_flags("123.M1P2Q3.host:2,") == frozenset()
    assert maildir_flags("123.M1P2Q3.host") == frozenset()


def test_maildir_is_created_with_exact_bytes_and_flags(tmp_path: Path) -> None:
    target = tmp_path / "md"
    maildir = Maildir(target)
    written = [maildir.add(raw, {SEEN} if i % 2 else {FLAGGED}) for i, raw in enumerate(EDGE_CASES)]
    maildir.commit()
    assert sorted(p.name for p in target.iterdir()) == ["cur", "new", "tmp"]
    assert list((target / "tmp").iterdir()) == []
    assert list((target / "new").iterdir()) == []
    assert len(set(written)) == len(EDGE_CASES)
    for i, (path, raw) in enumerate(zip(written, EDGE_CASES, strict=True)):
        assert path.parent == target / "cur"
        assert path.read_bytes() == raw
        assert maildir_flags(path.name) == ({SEEN} if i % 2 else {FLAGGED})
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_maildir_read_by_pythons_mailbox(tmp_path: Path) -> None:
    maildir = Maildir(tmp_path / "md")
    maildir.add(b"Subject: hi\r\n\r\nbody\r\n", {SEEN, ANSWERED})
    maildir.commit()
    box = mailbox.Maildir(tmp_path / "md", create=False)
    (key,) = box.keys()
    assert box.get_bytes(key) == b"Subject: hi\r\n\r\nbody\r\n"
    assert box[key].get_flags() == "RS"


def test_existing_maildir_is_added_to_and_empty_directory_becomes_one(tmp_path: Path) -> None:
    first = Maildir(tmp_path / "md")
    first.add(b"one\n", ())
    second = Maildir(tmp_path / "md")
    second.add(b"two\n", ())
    contents = sorted(p.read_bytes() for p in (tmp_path / "md" / "cur").iterdir())
    assert contents == [b"one\n", b"two\n"]
    (tmp_path / "empty").mkdir()
    Maildir(tmp_path / "empty").add(b"x", ())
    assert len(list((tmp_path / "empty" / "cur").iterdir())) == 1


def test_maildir_target_that_is_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ExportError, match="not a directory"):
        Maildir(tmp_path / "file")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_bytes(b"mine")
    with pytest.raises(ExportError, match="not a Maildir"):
        Maildir(tmp_path / "dir")
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["notes.txt"]


@SETTINGS
@given(st.lists(_MESSAGE, min_size=1, max_size=4))
def test_any_bytes_round_trip_through_a_maildir(messages: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        maildir = Maildir(Path(directory) / "md")
        paths = [maildir.add(raw, ()) for raw in messages]
        maildir.commit()
        assert [p.read_bytes() for p in paths] == messages
        assert len(os.listdir(Path(directory) / "md" / "cur")) == len(messages)


def test_messages_piped_as_one_mbox_read_back_exactly_with_pythons_mailbox() -> None:
    """What `|` gives a command for marked messages: one mboxrd stream, in the order given,
    each after a From line naming its sender and date; Python's reader finds every message
    and, the one `>` of mboxrd quoting taken off, gets its exact bytes back."""
    messages = [
        (b"Subject: one\r\n\r\nFrom the start of a line\r\n>From quoted\r\n", "a@example.org"),
        (b"Subject: two\r\n\r\nsecond\r\n", None),
        (b"Subject: three\r\n\r\n>>From twice\r\nbye\r\n", "has space@example.org"),
    ]
    when = [WHEN, WHEN + timedelta(days=1), WHEN + timedelta(days=2)]
    stream = export.mbox_bytes(
        (raw, sender, at) for (raw, sender), at in zip(messages, when, strict=True)
    )
    assert stream.count(b"\nFrom ") + stream.startswith(b"From ") == 3  # quoted in the bodies
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "piped.mbox"
        path.write_bytes(stream)
        box = mailbox.mbox(path, create=False)
        try:
            keys = list(box.iterkeys())
            assert [unquote_from_lines(box.get_bytes(key)) for key in keys] == [
                raw for raw, _ in messages
            ]
            assert [box[key]["Subject"] for key in keys] == ["one", "two", "three"]
            separators = [box[key].get_from() for key in keys]
        finally:
            box.close()
    assert separators == [
        "a@example.org Mon Mar  2 10:00:00 2026",
        "MAILER-DAEMON Tue Mar  3 10:00:00 2026",
        "MAILER-DAEMON Wed Mar  4 10:00:00 2026",
    ]
    assert export.mbox_bytes([]) == b""
