"""Opening a message with attachments fetches its text only (against the real Dovecot); the
attachments come when the user asks, and `--bodies` replaces the partial body with the exact
bytes. The engine reaches the server through a recording proxy, so the tests check what it
asked for and how much came back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    Mailbox,
    Server,
    folder_id,
    proxied,
    run_sync,
    server_view,
)
from tests.support.proxy import FaultProxy
from tuimail.mail.attachments import listed_attachments, render_partial
from tuimail.mail.parse import parse_message
from tuimail.store import read, search
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.connect import connect_imap
from tuimail.ui.save import save_attachments

pytestmark = pytest.mark.integration

FaultProxyFactory = Callable[..., FaultProxy]
BIG = os.urandom(2 * 1024 * 1024)  # incompressible, so no transport could hide it


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = "someone@tuimail.test"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    return msg


def big_attachment() -> bytes:
    msg = _message("the report")
    msg.set_content("Hello,\n\nthe report is attached: quetzalcoatl.\n")
    msg.add_attachment(BIG, maintype="application", subtype="pdf", filename="report.pdf")
    return msg.as_bytes(policy=policy.SMTP)


def nested_alternative() -> bytes:
    msg = _message("nested")
    msg.set_content("plain words here\n")
    msg.add_alternative("<p>html <b>words</b> here</p>", subtype="html")
    msg.add_attachment(b"\x89PNG" * 5000, maintype="image", subtype="png", filename="pic.png")
    return msg.as_bytes(policy=policy.SMTP)


def forwarded() -> bytes:
    inner = _message("the original")
    inner.set_content("inner text that stays on the server\n")
    inner.add_attachment(b"z" * 30000, maintype="application", subtype="zip", filename="a.zip")
    msg = _message("fwd")
    msg.set_content("see the forwarded message\n")
    msg.add_attachment(inner)
    return msg.as_bytes(policy=policy.SMTP)


def _fill(box: Mailbox, *messages: bytes) -> None:
    with box.device() as device:
        for raw in messages:
            device.append("INBOX", raw)


def _engine_run(box: Mailbox, store: StoreConnection, job: Callable[[ImapSync], None]) -> None:
    account = box.account()
    assert account.incoming is not None
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    try:
        job(ImapSync(store, ACCOUNT, client))
    finally:
        client.logout()


def _fetches(proxy: FaultProxy) -> list[str]:
    lines = proxy.from_client.decode("utf-8", "replace").split("\r\n")
    return [line for line in lines if " UID FETCH " in line.upper() or " FETCH " in line]


def _only(store: StoreConnection) -> int:
    (message_id,) = read.message_ids(store, folder_id(store, "INBOX"))
    return message_id


def test_opening_fetches_the_text_only_then_saving_fetches_the_whole_message(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    store: StoreConnection,
    tmp_path: Path,
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    original = big_attachment()
    _fill(box, original)
    run_sync(box, tmp_path)
    message_id = _only(store)
    before = len(proxy.to_client)

    _engine_run(box, store, lambda engine: engine.fetch_body(message_id))

    received = len(proxy.to_client) - before
    assert received < 64 * 1024, "the 2 MB attachment must not be downloaded on open"
    fetched = " ".join(_fetches(proxy))
    assert "BODYSTRUCTURE" in fetched and "BODY.PEEK[HEADER]" in fetched
    assert "BODY.PEEK[2.MIME]" in fetched
    assert "BODY.PEEK[2]" not in fetched and "BODY.PEEK[]" not in fetched
    assert "BODY[" not in fetched.replace("BODY.PEEK[", "")  # never a \Seen-setting BODY[]
    assert all("\\Seen" not in flags for flags, _ in server_view(box).values())

    assert read.body(store, message_id) is None
    partial = read.partial_body(store, message_id)
    assert partial is not None
    row = read.row(store, message_id)
    assert row is not None and not row.body_local
    text = render_partial(partial.raw, partial.omitted)
    assert "the report is attached: quetzalcoatl." in text
    assert "[attachment] report.pdf (2.0 MB) (not downloaded)" in text
    assert search.search(store, "quetzalcoatl") == [message_id]

    # Saving asks for the whole message: exact bytes, the partial row gone, the file exact.
    _engine_run(box, store, lambda engine: engine.fetch_body(message_id, full=True))
    raw = read.body(store, message_id)
    assert raw is not None and parse_message(raw).attachments[0].size == len(BIG)
    assert read.partial_body(store, message_id) is None
    target = tmp_path / "saved"
    target.mkdir()
    (written,) = save_attachments(raw, target)
    assert written.read_bytes() == BIG
    assert all("\\Seen" not in flags for flags, _ in server_view(box).values())


def test_nested_alternative_inside_mixed_keeps_both_texts(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    original = nested_alternative()
    _fill(box, original)
    run_sync(box, tmp_path)
    message_id = _only(store)
    _engine_run(box, store, lambda engine: engine.fetch_body(message_id))
    partial = read.partial_body(store, message_id)
    assert partial is not None
    assert b"\x89PNG" not in partial.raw and b"iVBORw" not in partial.raw
    assert parse_message(partial.raw).text_parts == parse_message(original).text_parts
    (listed,) = listed_attachments(partial.raw, partial.omitted)
    assert (listed.info.filename, listed.local) == ("pic.png", False)
    assert "BODY.PEEK[1.2]" in " ".join(_fetches(proxy))


def test_a_forwarded_message_is_an_attachment_left_on_the_server(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy)
    _fill(box, forwarded())
    run_sync(box, tmp_path)
    message_id = _only(store)
    _engine_run(box, store, lambda engine: engine.fetch_body(message_id))
    partial = read.partial_body(store, message_id)
    assert partial is not None
    assert b"inner text that stays" not in partial.raw
    text = render_partial(partial.raw, partial.omitted)
    assert "see the forwarded message" in text
    assert "message/rfc822" in text and "(not downloaded)" in text


def test_a_message_without_attachments_is_fetched_whole_and_exact(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy)
    msg = _message("plain")
    msg.set_content("only text\n")
    _fill(box, msg.as_bytes(policy=policy.SMTP))
    run_sync(box, tmp_path)
    message_id = _only(store)
    _engine_run(box, store, lambda engine: engine.fetch_body(message_id))
    assert read.partial_body(store, message_id) is None
    raw = read.body(store, message_id)
    assert raw is not None and raw == msg.as_bytes(policy=policy.SMTP)


def test_sync_with_bodies_replaces_partial_bodies_with_the_exact_bytes(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy)
    original = nested_alternative()
    _fill(box, original)
    run_sync(box, tmp_path)
    message_id = _only(store)
    _engine_run(box, store, lambda engine: engine.fetch_body(message_id))
    assert read.partial_body(store, message_id) is not None
    run_sync(box, tmp_path, bodies=True)
    assert read.partial_body(store, message_id) is None
    assert read.body(store, message_id) == original
