"""The header-fetch fast path of imap_ext reads FETCH responses exactly as imapclient does."""

from __future__ import annotations

from typing import Any

import pytest
from imapclient.response_parser import parse_fetch_response

from tuimail.sync.imap import extensions as imap_ext

HEADER = b"From: a@example.org\r\nSubject: hi\r\n\r\n"
KEY = b"BODY[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]"


def _response(seq: int, uid: int, flags: bytes = b"\\Seen", literal: bytes = HEADER) -> list[Any]:
    prefix = (
        f"{seq} (UID {uid} FLAGS (".encode()
        + flags
        + b') RFC822.SIZE 1234 INTERNALDATE "05-Mar-2024 10:11:12 +0100" '
        + KEY
        + f" {{{len(literal)}}}".encode()
    )
    return [(prefix, literal), b")"]


def _imapclient(lines: list[Any]) -> dict[int, dict[bytes, Any]]:
    by_uid: dict[int, dict[bytes, Any]] = {}
    for item in parse_fetch_response(lines, False, False).values():
        by_uid.setdefault(item[b"UID"], {}).update(item)
    return by_uid


def test_header_fetch_responses_read_as_imapclient_reads_them() -> None:
    lines = [
        *_response(1, 10),
        *_response(2, 11, flags=b""),
        *_response(3, 12, flags=b"\\Seen \\Flagged $Forwarded"),
    ]
    fast = imap_ext._fast_header_fetch(lines)
    assert fast is not None
    assert fast == _imapclient(lines)
    assert fast[12][b"FLAGS"] == (b"\\Seen", b"\\Flagged", b"$Forwarded")
    assert fast[10][KEY] == HEADER
    assert imap_ext.fetch_by_uid(lines) == fast


@pytest.mark.parametrize(
    "lines",
    [
        [b"5 (FLAGS (\\Seen))"],  # unsolicited, no UID
        _response(1, 10, flags=b"123"),  # a numeric keyword: imapclient makes it an int
        _response(1, 10, flags=b"NIL"),
        [*_response(1, 10), *_response(2, 10)],  # the same UID twice: merged by imapclient
        [(_response(1, 10)[0][0], HEADER + b"x"), b")"],  # literal size mismatch
        [_response(1, 10)[0], b" FLAGS (\\Seen))"],  # more items after the literal
    ],
)
def test_other_shapes_go_to_imapclient(lines: list[Any]) -> None:
    assert imap_ext._fast_header_fetch(lines) is None


def test_the_general_parser_still_reads_what_the_fast_path_refuses() -> None:
    assert imap_ext.fetch_by_uid([b"5 (FLAGS (\\Seen))"]) == {}  # unsolicited: dropped
    lines = [*_response(1, 10, flags=b"123"), *_response(2, 11)]
    assert imap_ext.fetch_by_uid(lines) == _imapclient(lines)
