"""Bodies for offline reading, against the real Dovecot: the account's policy (`imap.bodies`:
all by default, recent, at most so large) downloaded after every folder's headers, newest first
across the account, in slices that never overlap; the messages around the cursor prefetched in
one FETCH per folder; a body the server does not send named once, the slices still ending; and
`tuimail --offline` reading every body after a default first sync.
The engine reaches the server through a recording proxy, so the tests read what it asked for.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    Mailbox,
    Server,
    body_under_another_uid,
    commands_sent,
    engine_on,
    folder_id,
    message,
    proxied,
    run_sync,
    write_config,
)
from tests.support.pilot import wait_for
from tests.support.proxy import Faults
from tuimail.app.application import TuimailApp
from tuimail.cli.errors import EXIT_OK
from tuimail.cli.main import main
from tuimail.cli.sync import sync_command
from tuimail.config.load import load_config
from tuimail.config.schema import BodyPolicy
from tuimail.store import read
from tuimail.store.db import StoreConnection, open_store
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def fill(box: Mailbox, folders: dict[str, list[bytes]]) -> None:
    with box.device() as device:
        for name, raws in folders.items():
            if name != "INBOX":
                device.create_folder(name)
            for raw in raws:
                device.append(name, raw)


def interleaved(box: Mailbox) -> None:
    """Messages 0-8 (dated an hour apart, in that order) spread over INBOX and Lists."""
    fill(
        box,
        {
            "INBOX": [message(n) for n in (0, 3, 4, 8)],
            "Lists": [message(n) for n in (1, 2, 5, 6, 7)],
        },
    )


def local_subjects(conn: StoreConnection) -> set[str]:
    rows = conn.execute(
        "SELECT subject FROM messages WHERE body_local = 1 ORDER BY sort_date DESC"
    ).fetchall()
    return {row[0] for row in rows}


def subjects(*numbers: int) -> set[str]:
    return {f"message {n}" for n in numbers}


def dated(subject: str, when: datetime, body: str = "text\r\n") -> bytes:
    return (
        f"From: a@example.org\r\nTo: b@tuimail.test\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(when)}\r\nMessage-ID: <{subject.replace(' ', '-')}@x>\r\n"
        f"\r\n{body}"
    ).encode()


def with_attachment(subject: str, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@tuimail.test"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    msg.set_content("the text of a message with an attachment\n")
    msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf", filename="a.pdf")
    return msg.as_bytes(policy=email_policy.SMTP)


def whole_body_fetches(lines: list[str]) -> list[str]:
    return [line for line in lines if " FETCH " in line.upper() and "BODY.PEEK[]" in line]


def test_slices_come_newest_first_across_folders_never_overlap_and_end(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    interleaved(box)
    run_sync(box, tmp_path)  # headers only
    assert local_subjects(store) == set()

    with engine_on(box, store) as sync:
        first = sync.download_wanted_bodies(BodyPolicy(), limit=3)
        assert (first.stored, first.remaining) == (3, True)
        assert local_subjects(store) == subjects(8, 7, 6)  # the newest, from both folders
        second = sync.download_wanted_bodies(BodyPolicy(), limit=3)
        assert (second.stored, second.remaining) == (3, True)
        assert local_subjects(store) == subjects(8, 7, 6, 5, 4, 3)
        last = sync.download_wanted_bodies(BodyPolicy(), limit=3)
        assert (last.stored, last.remaining) == (3, False)
        assert local_subjects(store) == subjects(*range(9))
        sent = len(commands_sent(proxy))
        # Nothing wanted any more: the store is asked, the server is not.
        assert sync.download_wanted_bodies(BodyPolicy(), limit=3).stored == 0
        assert sync.download_wanted_bodies(BodyPolicy()).remaining is False
        assert len(commands_sent(proxy)) == sent
    # One whole-body FETCH per folder and slice: 8 | 7,6, then 5 | 4,3, then 2,1 | 0.
    fetched = whole_body_fetches(commands_sent(proxy))
    assert len(fetched) == 6, fetched
    with box.device() as device:
        for name in ("INBOX", "Lists"):
            device.select_folder(name, readonly=True)
            for uid, item in device.fetch(device.search("ALL"), ["BODY.PEEK[]"]).items():
                row = read.message_id_by_uid(store, folder_id(store, name), uid)
                assert row is not None and read.body(store, row) == item[b"BODY[]"]


def test_recent_and_max_kib_are_honoured(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy)
    now = datetime.now(UTC)
    large = "a line of text that makes the message large enough to leave\r\n" * 2000  # ~120 KiB
    fill(
        box,
        {
            "INBOX": [
                dated("two days", now - timedelta(days=2)),
                dated("ten days large", now - timedelta(days=10), large),
                dated("forty days", now - timedelta(days=40)),
            ],
            "Lists": [dated("five days", now - timedelta(days=5))],
        },
    )
    run_sync(box, tmp_path)
    with engine_on(box, store) as sync:
        got = sync.download_wanted_bodies(BodyPolicy(keep="recent", days=30, max_kib=64))
        assert (got.stored, got.remaining) == (2, False)
        assert local_subjects(store) == {"two days", "five days"}
        got = sync.download_wanted_bodies(BodyPolicy(keep="recent", days=30))
        assert local_subjects(store) == {"two days", "five days", "ten days large"}
        assert sync.download_wanted_bodies(BodyPolicy(keep="none")).stored == 0
        assert "forty days" not in local_subjects(store)
        assert sync.download_wanted_bodies(BodyPolicy(keep="all")).stored == 1
    assert len(local_subjects(store)) == 4


def test_prefetch_takes_one_fetch_per_folder_and_opens_large_ones_as_opening_would(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    fill(
        box,
        {
            "INBOX": [message(1), message(2), with_attachment("big", 400_000), message(3)],
            "Lists": [message(4), message(5)],
        },
    )
    run_sync(box, tmp_path)
    ids = {row.envelope.subject: row.id for row in read.rows(store, all_ids(store))}
    around = [ids[s] for s in ("message 2", "big", "message 3", "message 4", "message 5")]

    with box.device() as device:  # another client deletes one: gone from the server
        device.select_folder("Lists")
        device.delete_messages(device.search(["SUBJECT", "message 5"]))
        device.expunge()

    before = len(commands_sent(proxy))
    with engine_on(box, store) as sync:
        # An id no longer in the store, and a message gone from the server: skipped.
        assert sync.prefetch_bodies([*around, 999_999]) == 4
        sent = commands_sent(proxy)[before:]
        # The small ones whole: one FETCH for INBOX's two, one for Lists' two.
        whole = whole_body_fetches(sent)
        assert len(whole) == 2, whole
        for subject in ("message 2", "message 3", "message 4"):
            assert read.body(store, ids[subject]) is not None, subject
        assert read.body(store, ids["message 5"]) is None
        # The large one as opening it stores: its text, the attachment left on the server.
        assert read.body(store, ids["big"]) is None
        partial = read.partial_body(store, ids["big"])
        assert partial is not None and b"the text of a message with an attachment" in partial.raw
        assert read.body(store, ids["message 1"]) is None  # not asked for
        # Asked again: everything is local, nothing goes to the server.
        again = len(commands_sent(proxy))
        assert sync.prefetch_bodies([i for i in around if i != ids["message 5"]]) == 0
        assert len(commands_sent(proxy)) == again


def all_ids(conn: StoreConnection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM messages")]


def test_sync_fetches_every_folders_headers_before_the_bodies_newest_first(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    interleaved(box)
    config = load_config(write_config(box, tmp_path / "config.toml"), must_exist=True)
    out, err = io.StringIO(), io.StringIO()

    assert sync_command(config, tmp_path / "data", [ACCOUNT], out, err) == EXIT_OK, err.getvalue()

    assert "9 bodies downloaded" in out.getvalue()
    sent = commands_sent(proxy)
    headers = [i for i, line in enumerate(sent) if "HEADER.FIELDS (FROM" in line]
    bodies = [i for i, line in enumerate(sent) if line in whole_body_fetches(sent)]
    assert len(headers) >= 2 and bodies, sent
    assert max(headers) < min(bodies), sent
    # The folder holding the newest message first: INBOX (8), then Lists (7, 6, 5, ...).
    examined = [line for line in sent[: min(bodies)] if " EXAMINE " in line.upper()]
    assert '"INBOX"' in examined[-1], examined


async def test_offline_reads_every_body_after_a_default_first_sync(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    """The issue's promise: with no `bodies` key in the config, the first `tuimail sync` keeps
    every body, so `tuimail --offline` (and `tuimail show`) reads every message."""
    box, _ = proxied(mail_servers, fault_proxy)
    interleaved(box)
    path = write_config(box, tmp_path / "config.toml")
    assert "bodies" not in path.read_text()
    data = tmp_path / "data"
    common = ["--config", str(path), "--data-dir", str(data)]
    assert main(["sync", ACCOUNT, *common]) == EXIT_OK

    config = load_config(path, must_exist=True)
    app = TuimailApp(config, data, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 4)  # INBOX
        body = app.screen.query_one("#view-body", Static)
        for index in range(4):
            messages.focus()
            messages.cursor = index
            subject = messages.row_at(index).envelope.subject
            await pilot.press("enter")
            number = subject.split()[-1]
            await wait_for(pilot, lambda n=number: f"Body of message {n}." in str(body.render()))
    conn = open_store(data)
    try:
        ids = all_ids(conn)
    finally:
        conn.close()
    assert len(ids) == 9
    for message_id in ids:  # every folder's, Lists too
        assert main(["show", str(message_id), *common]) == EXIT_OK


def test_sync_of_one_folder_downloads_that_folders_bodies_only(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    box, _ = proxied(mail_servers, fault_proxy)
    interleaved(box)
    run_sync(box, tmp_path)  # every folder's headers, no body
    config = load_config(write_config(box, tmp_path / "config.toml"), must_exist=True)
    out, err = io.StringIO(), io.StringIO()

    status = sync_command(config, tmp_path, [ACCOUNT], out, err, folder="Lists")

    assert status == EXIT_OK, err.getvalue()
    assert "5 bodies downloaded" in out.getvalue()
    assert local_subjects(store) == subjects(1, 2, 5, 6, 7)


def test_a_body_the_server_does_not_send_is_named_once_and_slices_still_end(
    mail_servers: Server, fault_proxy: FaultProxyFactory, store: StoreConnection, tmp_path: Path
) -> None:
    # The body of UID 2 comes back under a UID nobody asked for: UID 2 stays without its body.
    stray = body_under_another_uid(2)
    box, proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=stray))
    fill(box, {"INBOX": [message(n) for n in (1, 2, 3)]})
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    problems: list[str] = []
    with engine_on(box, store) as sync:
        stored, calls, remaining = 0, 0, True
        while remaining:  # as the app's session loops; it must end
            calls += 1
            assert calls <= 5, "the slices never ended"
            got = sync.download_wanted_bodies(BodyPolicy(), limit=1)
            stored, remaining = stored + got.stored, got.remaining
            problems.extend(got.problems.values())
        assert stored == 2
        assert problems == [
            "the server did not send the body of 1 message asked for (UID 2); it is asked "
            "for again next time"
        ]
        sent = len(commands_sent(proxy))
        got = sync.download_wanted_bodies(BodyPolicy())
        assert (got.stored, got.remaining, dict(got.problems)) == (0, False, {})
        assert len(commands_sent(proxy)) == sent  # not asked again by this engine
    missing = store.execute(
        "SELECT uid FROM messages WHERE folder_id = ? AND body_local = 0", (inbox,)
    ).fetchall()
    assert missing == [(2,)]
