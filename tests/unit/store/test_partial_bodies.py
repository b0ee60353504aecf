"""Partial bodies (schema 2): a message's text without its attachments, kept apart from the
exact bytes, searchable, and replaced by the full body when that arrives."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest

from tuimail.mail.attachments import OmittedPart
from tuimail.store import db, read, search, write
from tuimail.store.db import StoreError


def _full() -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Subject"] = "quarterly"
    msg["Message-ID"] = "<q1@example.org>"
    msg.set_content("the figures are attached, zanzibar\n")
    msg.add_attachment(b"%PDF" * 100, maintype="application", subtype="pdf", filename="q.pdf")
    msg.set_boundary("b1")
    return msg.as_bytes(policy=policy.SMTP)


def _partial(full: bytes) -> bytes:
    """The full message with the attachment's body left empty (what a rebuild gives)."""
    head, _, rest = full.partition(b"Content-Transfer-Encoding: base64\r\n")
    mime_end = rest.index(b"\r\n\r\n") + 4
    return head + b"Content-Transfer-Encoding: base64\r\n" + rest[:mime_end] + b"\r\n--b1--\r\n"


OMITTED = (OmittedPart("2", "application/pdf", "q.pdf", 542),)


def _stored(conn: db.StoreConnection, inbox: int, full: bytes) -> int:
    header = full[: full.index(b"\r\n\r\n") + 4]
    return write.store_message(conn, inbox, header_bytes=header, uid=5, size=len(full))


def test_a_partial_body_is_kept_apart_from_the_exact_bytes(
    conn: db.StoreConnection, inbox: int
) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    assert write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    assert read.body(conn, message_id) is None  # body() means the exact full bytes
    partial = read.partial_body(conn, message_id)
    assert partial is not None
    assert partial.raw == _partial(full) and partial.omitted == OMITTED
    row = read.row(conn, message_id)
    assert row is not None and not row.body_local  # `list --json` stays truthful
    flags = conn.execute(
        "SELECT has_attachments FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    assert flags == (1,)


def test_the_text_of_a_partial_body_is_searchable(conn: db.StoreConnection, inbox: int) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    assert search.search(conn, "zanzibar") == []
    write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    assert search.search(conn, "zanzibar") == [message_id]


def test_a_full_body_replaces_the_partial_one(conn: db.StoreConnection, inbox: int) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    write.store_body(conn, message_id, full)
    assert read.body(conn, message_id) == full
    assert read.partial_body(conn, message_id) is None
    assert search.search(conn, "zanzibar") == [message_id]
    # and a partial body arriving after the full one changes nothing
    assert not write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    assert read.partial_body(conn, message_id) is None


def test_a_full_body_from_a_sync_replaces_the_partial_one(
    conn: db.StoreConnection, inbox: int
) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    assert write.store_message(conn, inbox, raw=full, uid=5) == message_id  # same key
    assert read.body(conn, message_id) == full
    assert read.partial_body(conn, message_id) is None


def test_a_second_partial_body_replaces_the_first(conn: db.StoreConnection, inbox: int) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    write.store_partial_body(conn, message_id, b"From: x\r\n\r\nold", ())
    write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    partial = read.partial_body(conn, message_id)
    assert partial is not None and partial.omitted == OMITTED


def test_a_partial_body_goes_with_its_message(conn: db.StoreConnection, inbox: int) -> None:
    full = _full()
    message_id = _stored(conn, inbox, full)
    write.store_partial_body(conn, message_id, _partial(full), OMITTED)
    write.expunge_uids(conn, inbox, [5])
    assert read.partial_body(conn, message_id) is None
    assert conn.execute("SELECT count(*) FROM partial_bodies").fetchone() == (0,)


def test_a_partial_body_for_an_unknown_message_is_refused(conn: db.StoreConnection) -> None:
    with pytest.raises(StoreError):
        write.store_partial_body(conn, 999, b"x", ())
