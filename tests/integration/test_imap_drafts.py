"""Drafts against the real Dovecot: upload, re-upload replacing the previous copy exactly once
(with and without UIDPLUS), discard removing the server copy, a draft another client made
opened for editing, and a kill at each crash point converging to one copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    Mailbox,
    ReducedDovecot,
    Server,
    folder_id,
    new_mailbox,
    run_sync,
)
from tests.support.mailservers import MailServers
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.core.model import Address, Draft
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import draft_from_message
from tuimail.store import drafts, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.store.drafts import ServerCopy
from tuimail.sync.events import Event, StoreChanged
from tuimail.sync.imap.account import ImapSync
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.imap.drafts import DraftsResult, sync_drafts

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ME = Address("Me", "me@tuimail.test")


def draft(subject: str) -> Draft:
    return Draft(
        from_=ME,
        to=(Address("Ann", "ann@example.org"),),
        subject=subject,
        body=f"Text of {subject}.\n",
    )


def server_drafts(box: Mailbox) -> dict[int, tuple[frozenset[str], bytes]]:
    """UID -> (flags, bytes) of every message in the server's Drafts folder."""
    with box.device() as device:
        device.select_folder("Drafts", readonly=True)
        uids = device.search("ALL")
        data = device.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
    return {
        uid: (
            frozenset(f.decode() for f in item[b"FLAGS"] if f.lower() != b"\\recent"),
            item[b"BODY[]"],
        )
        for uid, item in data.items()
    }


def live_copies(box: Mailbox) -> dict[int, bytes]:
    return {
        uid: raw for uid, (flags, raw) in server_drafts(box).items() if "\\Deleted" not in flags
    }


@pytest.fixture
def box(mail_servers: MailServers) -> Mailbox:
    return new_mailbox(mail_servers)


@pytest.fixture
def store(tmp_path: Path, box: Mailbox) -> Iterator[StoreConnection]:
    run_sync(box, tmp_path)  # the folders, with their roles
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def account_id(conn: StoreConnection) -> int:
    found = read.account_id(conn, ACCOUNT)
    assert found is not None
    return found


def upload(box: Mailbox, data: Path, events: list[Event] | None = None) -> DraftsResult:
    sink = events if events is not None else []
    result = sync_drafts(box.account(), data, sink.append, password=lambda: box.password)
    assert result.error is None, result.error
    return result


def save(conn: StoreConnection, subject: str, draft_id: int | None = None, **kw: object) -> int:
    return drafts.save(
        conn,
        account_id(conn),
        draft(subject),
        message_id="d1.drafts-test@tuimail.test",
        draft_id=draft_id,
        **kw,  # type: ignore[arg-type]
    )


def test_upload_then_reupload_replaces_the_copy_then_discard_removes_it(
    box: Mailbox, store: StoreConnection, tmp_path: Path
) -> None:
    draft_id = save(store, "first")
    events: list[Event] = []
    assert upload(box, tmp_path, events).uploaded == 1
    assert any(isinstance(e, StoreChanged) for e in events)
    ((uid, (flags, raw)),) = server_drafts(box).items()
    assert {"\\Draft", "\\Seen"} <= flags
    assert raw == drafts.raw_of(store, draft_id)
    env = parse_message(raw).envelope
    assert env.subject == "first" and env.message_id == "d1.drafts-test@tuimail.test"
    stored = drafts.get(store, draft_id)
    assert stored is not None and not stored.upload_needed
    assert stored.server is not None and stored.server.uid == uid
    assert stored.server.folder_id == folder_id(store, "Drafts")

    # Nothing to do: no second copy, no connection needed.
    assert upload(box, tmp_path) == DraftsResult()
    assert set(server_drafts(box)) == {uid}

    save(store, "second", draft_id)
    assert upload(box, tmp_path).uploaded == 1
    ((new_uid, (_, raw)),) = server_drafts(box).items()
    assert new_uid != uid and parse_message(raw).envelope.subject == "second"
    stored = drafts.get(store, draft_id)
    assert stored is not None and stored.server is not None and stored.server.uid == new_uid

    # The sync shows the server copy as a message of the Drafts folder.
    run_sync(box, tmp_path)
    ids = read.message_ids(store, [folder_id(store, "Drafts")])
    assert [r.envelope.subject for r in read.rows(store, ids)] == ["second"]

    drafts.discard(store, draft_id)
    assert upload(box, tmp_path).removed == 1
    assert server_drafts(box) == {}
    assert drafts.get(store, draft_id) is None


def test_without_uidplus_the_copy_is_found_by_message_id_and_old_ones_stay_marked(
    reduced_dovecot: ReducedDovecot, tmp_path: Path
) -> None:
    server: Server = reduced_dovecot(without={"UIDPLUS"})
    box = new_mailbox(server)
    run_sync(box, tmp_path)
    conn = open_store(tmp_path)
    try:
        draft_id = save(conn, "first")
        upload(box, tmp_path)
        (first,) = live_copies(box)
        save(conn, "second", draft_id)
        upload(box, tmp_path)
        copies = server_drafts(box)
        (second,) = live_copies(box)
        assert second != first
        assert "\\Deleted" in copies[first][0]  # no plain EXPUNGE of other clients' mail
        stored = drafts.get(conn, draft_id)
        assert stored is not None and stored.server is not None
        assert stored.server.uid == second  # found by its Message-ID

        drafts.discard(conn, draft_id)
        upload(box, tmp_path)
        assert live_copies(box) == {}
        assert drafts.get(conn, draft_id) is None
    finally:
        conn.close()


def test_a_draft_made_by_another_client_is_edited_and_replaced(
    box: Mailbox, store: StoreConnection, tmp_path: Path
) -> None:
    theirs = (
        b"From: me@tuimail.test\r\nTo: Bob <bob@example.org>\r\nSubject: from my phone\r\n"
        b"Message-ID: <phone-draft@tuimail.test>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n"
        b"\r\nHalf a thought\r\n"
    )
    with box.device() as device:
        device.append("Drafts", theirs, flags=(b"\\Draft",))
    run_sync(box, tmp_path)
    drafts_id = folder_id(store, "Drafts")
    folder = read.folder(store, drafts_id)
    assert folder is not None and folder.uidvalidity is not None
    (row,) = read.rows(store, read.message_ids(store, [drafts_id]))
    raw = read.body(store, row.id)
    if raw is None:  # headers-first sync: the app fetches the body on opening
        raw = _fetch(box, tmp_path, row.id)
    parsed = parse_message(raw)
    edited = draft_from_message(parsed, sender=ME)
    assert edited.body.startswith("Half a thought")
    assert row.uid is not None and parsed.envelope.message_id == "phone-draft@tuimail.test"
    draft_id = drafts.save(
        store,
        account_id(store),
        Draft(from_=ME, to=edited.to, subject=edited.subject, body=edited.body + "and more\n"),
        message_id=parsed.envelope.message_id,
        server=ServerCopy(drafts_id, folder.uidvalidity, row.uid),
    )
    upload(box, tmp_path)
    ((uid, (_, raw)),) = server_drafts(box).items()
    assert uid != row.uid
    assert b"Half a thought" in raw and b"and more" in raw
    assert parse_message(raw).envelope.message_id == "phone-draft@tuimail.test"
    stored = drafts.get(store, draft_id)
    assert stored is not None and stored.server == ServerCopy(drafts_id, folder.uidvalidity, uid)


def _fetch(box: Mailbox, data: Path, message_id: int) -> bytes:
    """The body of `message_id`, fetched as opening it does."""
    account = box.account()
    assert account.incoming is not None
    client = connect_imap(account.incoming, ca_file=account.ca_file, password=lambda: box.password)
    conn = open_store(data)
    try:
        ImapSync(conn, ACCOUNT, client).fetch_body(message_id)
        raw = read.body(conn, message_id)
    finally:
        conn.close()
        client.logout()
    assert raw is not None
    return raw


# --- crashes

_SCRIPT = """
import sys
from pathlib import Path
from tuimail.config.load import load_config
from tuimail.sync.imap.drafts import sync_drafts
config = load_config(Path(sys.argv[1]), must_exist=True)
result = sync_drafts(config.accounts[sys.argv[3]], Path(sys.argv[2]), lambda event: None)
sys.exit(1 if result.error else 0)
"""


def write_config(box: Mailbox, path: Path) -> Path:
    command = "printf '%s\\n' " + json.dumps(box.password)[1:-1]
    path.write_text(
        f"""
[accounts.{ACCOUNT}]
address = "{box.user}@tuimail.test"
ca_file = {json.dumps(str(box.server.ca_file))}
password_command = {json.dumps(command)}
[accounts.{ACCOUNT}.imap]
host = "{box.host}"
port = {box.port}
username = "{box.user}"
""",
        encoding="utf-8",
    )
    return path


def run_pass(config: Path, data: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    if crash_at:
        env[ENV_VAR] = crash_at
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(config), str(data), ACCOUNT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "step", ["drafts.appended", "drafts.old_copies_deleted", "drafts.discarded_removed"]
)
def test_a_kill_at_each_step_converges_to_one_copy(
    box: Mailbox, store: StoreConnection, tmp_path: Path, step: str
) -> None:
    assert step in KNOWN_CRASHPOINTS
    config = write_config(box, tmp_path / "config.toml")
    draft_id = save(store, "first")
    assert run_pass(config, tmp_path, None).returncode == 0
    if step == "drafts.discarded_removed":
        drafts.discard(store, draft_id)
    else:
        save(store, "second", draft_id)

    crashed = run_pass(config, tmp_path, step)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    finished = run_pass(config, tmp_path, None)
    assert finished.returncode == 0, finished.stderr

    copies = live_copies(box)
    if step == "drafts.discarded_removed":
        assert copies == {}
        assert drafts.get(store, draft_id) is None
        return
    ((uid, raw),) = copies.items()
    assert parse_message(raw).envelope.subject == "second"
    stored = drafts.get(store, draft_id)
    assert stored is not None and not stored.upload_needed
    assert stored.server is not None and stored.server.uid == uid
    # A further pass changes nothing.
    assert run_pass(config, tmp_path, None).returncode == 0
    assert set(live_copies(box)) == {uid}
