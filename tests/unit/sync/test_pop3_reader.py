"""Reading a multi-line POP3 answer: exact bytes, dot-unstuffing, long lines, a cut stream."""

from __future__ import annotations

import io
import poplib
from types import SimpleNamespace

import pytest

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
