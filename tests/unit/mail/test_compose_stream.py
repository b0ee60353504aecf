"""compose_message: attachments stay in their files until the message is written out, in
chunks that join into exactly what the email package would write for the same bytes."""

from __future__ import annotations

import base64
import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tuimail.core.model import Address, Draft
from tuimail.mail import compose as compose_module
from tuimail.mail.compose import ComposeError, FileBody, base64_size, compose, compose_message

MESSAGE_ID = "<fixed@example.org>"


def draft(*paths: Path) -> Draft:
    return Draft(
        from_=Address("Alice", "alice@example.org"),
        to=(Address("", "bob@example.org"),),
        subject="files",
        body="see attached",
        attachments=tuple(str(p) for p in paths),
    )


@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 114, 1000, 4096])
def test_base64_size_is_the_length_the_email_package_writes(size: int) -> None:
    data = os.urandom(size)
    # contentmanager's base64: 57-byte lines; the SMTP policy ends them in CRLF.
    expected = base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert base64_size(size) == len(expected)


def test_chunks_join_into_the_file_and_size_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks (three base64 lines) so the file is read in many pieces, the last one short.
    monkeypatch.setattr(compose_module, "_CHUNK_BYTES", 57 * 3)
    big, empty, odd = tmp_path / "big.bin", tmp_path / "empty.txt", tmp_path / "odd.pdf"
    big.write_bytes(os.urandom(57 * 40 + 13))
    empty.write_bytes(b"")
    odd.write_bytes(os.urandom(5))
    message = compose_message(draft(big, empty, odd), message_id=MESSAGE_ID)
    assert [type(s) for s in message.segments].count(FileBody) == 3

    chunks = list(message.chunks())
    raw = b"".join(chunks)
    assert len(raw) == message.size
    bodies = [s for s in message.segments if isinstance(s, FileBody)]
    assert all(len(c) <= 3 * 78 for body in bodies for c in body.chunks())
    assert len(list(bodies[0].chunks())) == 14  # 40 lines and a short one, three at a time
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = message_from_bytes(raw, policy=policy.default)
    parts = list(parsed.iter_attachments())
    assert [p.get_filename() for p in parts] == ["big.bin", "empty.txt", "odd.pdf"]
    assert [p.get_content_type() for p in parts] == [
        "application/octet-stream",
        "text/plain",
        "application/pdf",
    ]
    assert [p.get_payload(decode=True) for p in parts] == [
        big.read_bytes(),
        b"",
        odd.read_bytes(),
    ]


def test_compose_is_the_joined_chunks(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(300))
    one = compose_message(draft(path), message_id=MESSAGE_ID)
    raw = compose(draft(path), message_id=MESSAGE_ID)
    # Same structure and content; only the random MIME boundary differs between two calls.
    assert len(raw) == one.size
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_body().get_content().strip() == "see attached"
    [part] = parsed.iter_attachments()
    assert part.get_payload(decode=True) == path.read_bytes()


def test_a_file_that_changes_after_composing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    message = compose_message(draft(path), message_id=MESSAGE_ID)
    path.write_bytes(b"x" * 101)
    with pytest.raises(ComposeError, match="changed"):
        message.as_bytes()
    path.unlink()
    with pytest.raises(ComposeError, match="cannot read attachment"):
        message.as_bytes()


def test_a_directory_is_not_an_attachment(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="cannot read attachment"):
        compose_message(draft(tmp_path), message_id=MESSAGE_ID)
