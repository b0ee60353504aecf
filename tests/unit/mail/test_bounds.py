"""Bounded work per message: hostile shapes finish, raise nothing, and stay within memory.

Each shape runs in a child process (``python -m tests.unit.mail.test_bounds SHAPE``) with a
time limit, so a shape that never finishes fails its test instead of hanging the suite; there
is no other timing assertion. The child builds the input, then measures with tracemalloc the
peak memory of the whole path a message takes (parse, envelope, message view, search text, or
the IMAP reader for a literal), and reports it with a summary of the result.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
TIME_LIMIT = 120  # seconds for one child; far above what any shape needs (about a second)
MEMORY_FACTOR = 50  # peak allocation allowed, in multiples of the input size ...
MEMORY_FLOOR = 8 * 1024 * 1024  # ... but never less than this (the libraries' own caches)

HEAD = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
    b"Date: Tue, 05 Mar 2024 14:30:00 +0100\r\nMessage-ID: <bounds@example.org>\r\n"
)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


# --- the shapes (built in the child)


def nested_multipart() -> bytes:
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(1000)
    )
    return HEAD + b"Subject: deep\r\n" + levels + b"Content-Type: text/plain\r\n\r\nhi\r\n"


def nested_multipart_closed() -> bytes:
    # 1,000 levels, every one closed again, text in the innermost part.
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(1000)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(1000)))
    return HEAD + b"Subject: deep\r\n" + opening + b"Content-Type: text/plain\r\n\r\nhi" + closing


def header_1mb() -> bytes:
    many = b"".join(b"X-Filler-%d: some value here\r\n" % i for i in range(36_000))
    return HEAD + many + b"Subject: after the filler\r\n\r\nbody\r\n"


def subject_1mb_one_line() -> bytes:
    return HEAD + b"Subject: " + b"x" * 1_000_000 + b"\r\n\r\nbody\r\n"


def empty_groups_10000() -> bytes:
    groups = b", ".join(b"g%d:;" % i for i in range(10_000))
    return HEAD.replace(b"To: bob@example.com\r\n", b"To: " + groups + b"\r\n") + b"\r\nhi\r\n"


def empty_groups_within_limit() -> bytes:
    # As many as fit in a field that is still decoded (limits.MAX_FIELD_CHARS).
    from tuimail.mail import limits

    groups = b", ".join(b"g%d:;" % i for i in range(limits.MAX_FIELD_CHARS // 9))
    assert len(groups) < limits.MAX_FIELD_CHARS
    return HEAD.replace(b"To: bob@example.com\r\n", b"To: " + groups + b"\r\n") + b"\r\nhi\r\n"


def nested_rfc822_chain() -> bytes:
    # 1,000 forwarded messages, each inside the one before, each with a full header.
    inner = b"Subject: innermost\r\n\r\nhi\r\n"
    for level in range(1000):
        inner = (
            b"From: f%d@example.org\r\nSubject: level %d\r\n"
            b"Content-Type: message/rfc822\r\n\r\n" % (level, level)
        ) + inner
    return HEAD + inner


def nested_rfc822_in_multiparts() -> bytes:
    # A chain of forwarded messages each as the attachment of a multipart/mixed.
    inner = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for level in range(300):
        inner = (
            b'Subject: level %d\r\nContent-Type: multipart/mixed; boundary="m%d"\r\n\r\n'
            b"--m%d\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--m%d--\r\n"
        ) % (level, level, level, inner, level)
    return HEAD + inner


MESSAGE_SHAPES: dict[str, Callable[[], bytes]] = {
    shape.__name__: shape
    for shape in (
        nested_multipart,
        nested_multipart_closed,
        header_1mb,
        subject_1mb_one_line,
        empty_groups_10000,
        empty_groups_within_limit,
        nested_rfc822_chain,
        nested_rfc822_in_multiparts,
    )
}


def run_message(raw: bytes) -> dict[str, Any]:
    """Everything a stored message goes through, as a summary."""
    from tuimail.mail.headers import parse_envelope
    from tuimail.mail.parse import parse_message
    from tuimail.mail.render import render_message, search_text

    parsed = parse_message(raw)
    envelope = parse_envelope(raw)
    view = render_message(parsed, raw)
    search = search_text(parsed)
    return {
        "raw_only": parsed.raw_only,
        "problems": list(parsed.problems),
        "subject": parsed.envelope.subject[:100],
        "envelope_subject": envelope.subject[:100],
        "to": len(parsed.envelope.to),
        "message_id": parsed.envelope.message_id,
        "view_chars": len(view),
        "view_has_controls": bool(CONTROL.search(view)),
        "search_chars": len(search),
        "attachments": len(parsed.attachments),
    }


def imap_huge_literal() -> tuple[bytes, Callable[[bytes], dict[str, Any]]]:
    """A FETCH whose literal announces 99,999,999,999 bytes, read by the engine's client."""
    from tests.fuzz import fuzz_imap
    from tests.fuzz.wire import ImapScript, InProcessTransport

    pieces = fuzz_imap.transcript()
    pieces[10] = b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\n" + b"x" * 100_000 + b")\r\n"

    def run(script: bytes) -> dict[str, Any]:
        greeting, *answers = script.split(b"=====\n")
        with InProcessTransport(ImapScript(greeting, answers), [7, 1, 4096]) as transport:
            outcomes = dict(fuzz_imap.session(transport))
        return {"bodies": list(outcomes["bodies"]), "steps": list(outcomes)}

    return b"=====\n".join(pieces), run


def child(shape: str) -> None:
    """Run one shape and print its summary with the input size and the peak allocation."""
    if shape == "imap_huge_literal":
        data, run = imap_huge_literal()
    else:
        data, run = MESSAGE_SHAPES[shape](), run_message
    run(b"Subject: warm-up\r\n\r\nx\r\n" if run is run_message else data)  # imports, caches
    tracemalloc.start()
    summary = run(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"size": len(data), "peak": peak, "summary": summary}))


# --- the tests (the parent side)


def measure(shape: str) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.unit.mail.test_bounds", shape],
            cwd=ROOT,
            capture_output=True,
            timeout=TIME_LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{shape}: not finished after {TIME_LIMIT} s")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    limit = max(MEMORY_FACTOR * result["size"], MEMORY_FLOOR)
    assert result["peak"] < limit, f"{shape}: peak {result['peak']:,} bytes over {limit:,}"
    return result["summary"]


def check_raw_only(summary: dict[str, Any], problem: str) -> None:
    assert summary["raw_only"], summary
    assert any(problem in note for note in summary["problems"]), summary["problems"]
    assert summary["message_id"] == "bounds@example.org"
    assert not summary["view_has_controls"]


def test_1000_level_nested_multipart() -> None:
    check_raw_only(measure("nested_multipart"), "too many parts")


def test_1000_level_nested_multipart_closed_again() -> None:
    check_raw_only(measure("nested_multipart_closed"), "too many parts")


def test_1mb_header_section() -> None:
    summary = measure("header_1mb")
    check_raw_only(summary, "header too large")
    assert summary["subject"] == "after the filler"


def test_1mb_single_line_subject() -> None:
    summary = measure("subject_1mb_one_line")
    check_raw_only(summary, "header too large")
    assert summary["subject"].startswith("xxx")


def test_10000_empty_address_groups() -> None:
    summary = measure("empty_groups_10000")
    check_raw_only(summary, "To header too large")
    assert summary["to"] == 0  # groups without members hold no address


def test_empty_address_groups_up_to_the_field_limit_are_parsed() -> None:
    summary = measure("empty_groups_within_limit")
    assert not summary["raw_only"], summary["problems"]
    assert summary["to"] == 0
    assert summary["view_chars"] > 0 and not summary["view_has_controls"]


def test_1000_nested_forwarded_messages() -> None:
    check_raw_only(measure("nested_rfc822_chain"), "nesting too deep")


def test_300_forwarded_messages_nested_in_multiparts() -> None:
    check_raw_only(measure("nested_rfc822_in_multiparts"), "nesting too deep")


def test_imap_literal_announcing_a_huge_size() -> None:
    summary = measure("imap_huge_literal")
    # Refused before reading (or allocating) it; the steps before it went through.
    assert summary["bodies"][:2] == ["error", "LiteralTooLargeError"]
    assert summary["steps"][-1] == "bodies" and "headers" in summary["steps"]


if __name__ == "__main__":
    child(sys.argv[1])
