"""Raw RFC 5322 messages for the tests (the parser under test is the real one)."""

from __future__ import annotations

import base64
from collections.abc import Sequence


def make_message(
    *,
    subject: str = "Hello",
    message_id: str | None = "m1@example.org",
    sender: str = "Alice Example <alice@example.org>",
    to: str = "Bob <bob@example.org>",
    date: str | None = "Mon, 02 Mar 2026 10:00:00 +0000",
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    body: str = "Hello Bob,\r\nsee you tomorrow.\r\n",
    attachment: bytes | None = None,
) -> bytes:
    """A small message with the given headers; with `attachment`, a multipart/mixed one."""
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if message_id is not None:
        headers.append(f"Message-ID: <{message_id}>")
    if date is not None:
        headers.append(f"Date: {date}")
    if in_reply_to is not None:
        headers.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        headers.append("References: " + " ".join(f"<{ref}>" for ref in references))
    headers.append("MIME-Version: 1.0")
    if attachment is None:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        return ("\r\n".join(headers) + "\r\n\r\n").encode() + body.encode()
    headers.append('Content-Type: multipart/mixed; boundary="b1"')
    encoded = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    parts = (
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}\r\n"
        "--b1--\r\n"
    )
    return ("\r\n".join(headers) + "\r\n\r\n" + parts).encode()


def header_section(raw: bytes) -> bytes:
    """The header section of a raw message, as an IMAP header fetch returns it."""
    end = raw.index(b"\r\n\r\n") + 4
    return raw[:end]
