"""Reading a multi-line POP3 answer: exact bytes, dot-unstuffing, long lines, a cut stream."""

from __future__ import annotations

import io
import poplib
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tuimail.mail import limits
from tuimail.sync.pop3 import connect as pop3_connect
from tuimail.sync.pop3.commands import read_multiline


def read(answer: bytes) -> bytes:
    pop = SimpleNamespace(file=io.BufferedReader(io.BytesIO(answer)))
    return b"".join(read_multiline(pop))  # type: ignore[arg-type]


def test_lines_get_crlf_and_leading_dots_are_unstuffed() -> None:
    answer = b"Subject: x\r\n\r\n..one dot\r\n...two dots\r\n.not stuffed\r\nlf only\n\r\n.\r\n"
    assert read(answer) == (
        b"Subject: x\r\n\r\n.one dot\r\n..two dots\r\n.not stuffed\r\nlf only\r\n\r\n"
    )


def test_a_bare_cr_inside_a_line_is_kept() -> None:
    assert read(b"a\rb\r\n.\r\n") == b"a\rb\r\n"


def test_lines_far_longer_than_poplib_allows_are_read() -> None:
    line = b"x" * 100_000
    assert read(line + b"\r\n.\r\n") == line + b"\r\n"


def test_a_line_over_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tuimail.sync.pop3.commands.POP3_MAX_LINE", 1000)
    monkeypatch.setattr("tuimail.sync.pop3.connect.POP3_MAX_LINE", 1000)
    with pytest.raises(poplib.error_proto, match="line too long"):
        read(b"y" * 2000 + b"\r\n.\r\n")


def test_a_stream_cut_before_the_final_dot_is_an_error() -> None:
    with pytest.raises(EOFError):
        read(b"Subject: x\r\n\r\npart of a bo")


def test_the_session_line_reader_takes_long_lines_too() -> None:
    session = pop3_connect.Pop3.__new__(pop3_connect.Pop3)
    session.file = io.BufferedReader(io.BytesIO(b"+OK " + b"z" * 5000 + b"\r\n"))
    line, octets = session._getline()
    assert line == b"+OK " + b"z" * 5000 and octets == 5006


def _expected(lines: list[bytes]) -> bytes:
    """What the answer's lines stand for, line by line: CRLF ends, one leading dot dropped."""
    out = b""
    for line in lines:
        body = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
        out += (body[1:] if body[:2] == b".." else body) + b"\r\n"
    return out


def _random_answers(count: int) -> Iterator[tuple[list[bytes], int]]:
    """The lines of `count` random multi-line answers (before the final dot, stuffed as a
    server sends them), each with a reader buffer size to cut it with."""
    import random

    rng = random.Random(7)
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(0, 40)):
            text = rng.choice([b"", b"x", b".", b"..", b"word .. word", b"a" * rng.randint(1, 90)])
            if text.startswith(b"."):
                text = b"." + text  # the server stuffs a leading dot
            lines.append(text + rng.choice([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
        yield lines, rng.randint(1, 64)


FOLLOWING = b"+OK next answer\r\n"


def _session(file: io.BufferedReader) -> pop3_connect.Pop3:
    """A POP3 session reading `file` (no connection, no greeting)."""
    session = pop3_connect.Pop3.__new__(pop3_connect.Pop3)
    session.file = file
    session._debugging = 0
    session.deadline = None
    return session


def test_whole_lines_taken_from_the_buffer_give_what_lines_one_by_one_give() -> None:
    """Buffers of many sizes cut the answer at every kind of place (inside a CRLF, before a
    stuffed dot, before the final dot); a second answer after it stays unread."""
    for lines, size in _random_answers(300):
        answer = b"".join(lines) + b".\r\n"
        stream = io.BufferedReader(io.BytesIO(answer + FOLLOWING), buffer_size=size)
        pop = SimpleNamespace(file=stream)
        assert b"".join(read_multiline(pop)) == _expected(lines), (lines, size)  # type: ignore[arg-type]
        assert stream.read() == FOLLOWING


def test_a_listing_read_from_the_buffer_gives_the_lines_read_one_by_one() -> None:
    """A listing (UIDL, CAPA, LIST) gives what poplib's own reader gives (each line without its
    end and unstuffed, and its octet count: the lines unstuffed with their ends, not the final
    dot), however the buffer cuts it; the next answer stays unread."""
    for lines, size in _random_answers(300):
        answer = b"+OK listing\r\n" + b"".join(lines) + b".\r\n"
        session = _session(io.BufferedReader(io.BytesIO(answer + FOLLOWING), buffer_size=size))
        got = session.read_long_response()
        plain = poplib.POP3.__new__(poplib.POP3)
        plain.file, plain._debugging = io.BytesIO(answer), 0
        want = plain._getlongresp()
        assert got == want, (lines, size)
        assert got[1] == _expected(lines).split(b"\r\n")[:-1]
        assert session.file.read() == FOLLOWING


def test_a_listing_over_the_answer_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_COMMAND_BYTES", 1000, raising=False)
    listing = b"".join(b"%d uidl-%d\r\n" % (n, n) for n in range(1, 200))
    session = _session(io.BufferedReader(io.BytesIO(b"+OK\r\n" + listing + b".\r\n")))
    with pytest.raises(pop3_connect.AnswerTooLargeError):
        session.read_long_response()
