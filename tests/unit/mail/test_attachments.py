"""Attachment bytes by index, and file names that are safe to save."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from tuimail.mail.attachments import attachment_payload, safe_filename
from tuimail.mail.parse import parse_message


def _message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Subject"] = "files"
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 first", maintype="application", subtype="pdf",
                       filename="Übersicht.pdf")  # fmt: skip
    msg.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream",
                       filename="../../etc/passwd")  # fmt: skip
    return msg.as_bytes()


def test_payloads_match_the_parsed_attachment_list() -> None:
    raw = _message()
    listed = parse_message(raw).attachments
    assert [a.filename for a in listed] == ["Übersicht.pdf", "../../etc/passwd"]
    assert attachment_payload(raw, 0) == b"%PDF-1.4 first"
    assert attachment_payload(raw, 1) == b"\x00\x01binary"
    assert attachment_payload(raw, 2) is None
    assert attachment_payload(b"garbage", 0) is None


def test_hostile_names_become_safe() -> None:
    assert safe_filename("../x", "f") == "x"
    assert safe_filename("/etc/passwd", "f") == "passwd"
    assert safe_filename("..\\..\\boot.ini", "f") == "boot.ini"
    assert safe_filename("..", "fallback") == "fallback"
    assert safe_filename(".bashrc", "f") == "bashrc"
    assert safe_filename("a\x00b\x1b[31m.txt", "f") == "ab.txt"
    assert safe_filename("report\u202eexe.txt", "f") == "reportexe.txt"
    assert safe_filename("CON", "f") == "_CON"
    assert safe_filename("nul.txt", "f") == "_nul.txt"
    assert safe_filename("name. . ", "f") == "name"
    long = safe_filename("é" * 300 + ".pdf", "f")
    assert long.endswith(".pdf") and len(long.encode()) <= 200


@given(st.text())
def test_any_name_is_one_plain_component(name: str) -> None:
    safe = safe_filename(name, "fallback")
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert safe not in (".", "..") and not safe.startswith(".")
    assert len(safe.encode()) <= 200
    assert all(ch.isprintable() for ch in safe)
