"""Drafts in the store: saving, the Draft <-> fields round trip, discarding, what the worker
reads and records."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.core.model import Address, Draft, FolderRole
from tuimail.store import db, drafts, read, write
from tuimail.store.db import StoreError
from tuimail.store.drafts import ServerCopy

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ME = Address("Me", "me@example.org")

FULL = Draft(
    from_=ME,
    to=(Address("Ann Ärger", "ann@example.org"), Address("", "bob@example.com")),
    cc=(Address("Cy", "cy@example.net"),),
    bcc=(Address("", "secret@example.net"),),
    subject="Grüße 🎉",
    body="Hello,\n\nline two\n",
    attachments=("/tmp/report.pdf", "/tmp/ünï.txt"),
    in_reply_to="parent@example.org",
    references=("root@example.org", "parent@example.org"),
    extra_headers=(("X-Mailer", "tuimail"),),
    attached_messages=(7, 9),
    stored_parts=(3, 4),
    forwarded_attachments=((5, 0), (5, 2)),
    originals=((11, "\\Answered"), (12, "$Forwarded")),
)


@pytest.fixture
def account(conn: db.StoreConnection) -> int:
    return write.ensure_account(conn, "work", None)


def test_every_field_survives_the_round_trip_through_json() -> None:
    fields = drafts.draft_fields(FULL)
    assert drafts.draft_from_fields(json.loads(json.dumps(fields))) == FULL
    assert pickle.loads(pickle.dumps(FULL)) == FULL  # noqa: S301 (our own bytes)
    assert drafts.draft_from_fields({}) == Draft(from_=Address("", ""))


def test_save_inserts_then_updates_one_row_marked_for_upload(
    conn: db.StoreConnection, account: int
) -> None:
    before = read.revision(conn)
    draft_id = drafts.save(conn, account, FULL, message_id="<d1@example.org>", now=T0)
    stored = drafts.get(conn, draft_id)
    assert stored is not None
    assert stored.draft == FULL and stored.message_id == "d1@example.org"
    assert stored.upload_needed and not stored.discarded and not stored.has_raw
    assert stored.server is None and stored.revision > before
    assert stored.created == stored.updated == T0

    later = T0 + timedelta(seconds=5)
    changed = Draft(from_=ME, subject="second")
    assert drafts.save(conn, account, changed, message_id="d1@example.org", draft_id=draft_id,
                       now=later) == draft_id  # fmt: skip
    stored = drafts.get(conn, draft_id)
    assert stored is not None and stored.draft == changed and stored.updated == later
    assert stored.message_id == "d1@example.org"
    assert [d.id for d in drafts.live(conn)] == [draft_id]
    assert drafts.count(conn) == 1


def test_a_saved_draft_drops_the_bytes_of_the_last_upload(
    conn: db.StoreConnection, account: int
) -> None:
    folder = write.upsert_folder(conn, account, "Drafts", role=FolderRole.DRAFTS)
    draft_id = drafts.save(conn, account, FULL, message_id="d1@example.org")
    stored = drafts.get(conn, draft_id)
    assert stored is not None
    assert drafts.begin_upload(conn, draft_id, folder, fields_json=stored.fields_json, raw=b"R")
    assert drafts.raw_of(conn, draft_id) == b"R"
    drafts.save(conn, account, FULL, message_id="d1@example.org", draft_id=draft_id)
    assert drafts.raw_of(conn, draft_id) is None


def test_live_lists_newest_first_per_account_without_discarded(
    conn: db.StoreConnection, account: int
) -> None:
    other = write.ensure_account(conn, "home", None)
    first = drafts.save(conn, account, FULL, message_id="a@x", now=T0)
    second = drafts.save(conn, other, FULL, message_id="b@x", now=T0 + timedelta(seconds=1))
    third = drafts.save(conn, account, FULL, message_id="c@x", now=T0 + timedelta(seconds=2))
    assert [d.id for d in drafts.live(conn)] == [third, second, first]
    assert [d.id for d in drafts.live(conn, account)] == [third, first]
    drafts.discard(conn, third)
    assert [d.id for d in drafts.live(conn, account)] == [first]
    assert drafts.count(conn) == 2


def test_discarding_a_draft_never_uploaded_deletes_it_at_once(
    conn: db.StoreConnection, account: int
) -> None:
    draft_id = drafts.save(conn, account, FULL, message_id="d1@example.org")
    drafts.discard(conn, draft_id)
    assert drafts.get(conn, draft_id) is None
    assert drafts.removals_due(conn, account) == []
    with pytest.raises(StoreError):
        drafts.save(conn, account, FULL, message_id="d1@example.org", draft_id=draft_id)


def test_a_draft_with_a_server_copy_waits_discarded_until_the_worker_purges_it(
    conn: db.StoreConnection, account: int
) -> None:
    folder = write.upsert_folder(conn, account, "Drafts", role=FolderRole.DRAFTS)
    draft_id = drafts.save(conn, account, FULL, message_id="d1@example.org")
    stored = drafts.get(conn, draft_id)
    assert stored is not None
    assert drafts.begin_upload(conn, draft_id, folder, fields_json=stored.fields_json, raw=b"R")
    # Discarded while the APPEND is in flight: the row stays for the worker.
    drafts.discard(conn, draft_id)
    gone = drafts.get(conn, draft_id)
    assert gone is not None and gone.discarded and not gone.upload_needed
    assert gone.server == ServerCopy(folder, None, None)
    assert [d.id for d in drafts.removals_due(conn, account)] == [draft_id]
    assert drafts.live(conn) == [] and drafts.count(conn) == 0
    assert not drafts.begin_upload(conn, draft_id, folder, fields_json=gone.fields_json, raw=b"")
    with pytest.raises(StoreError):
        drafts.save(conn, account, FULL, message_id="d1@example.org", draft_id=draft_id)
    drafts.purge(conn, draft_id)
    assert drafts.get(conn, draft_id) is None


def test_record_upload_keeps_the_mark_when_the_draft_changed_during_the_upload(
    conn: db.StoreConnection, account: int
) -> None:
    folder = write.upsert_folder(conn, account, "Drafts", role=FolderRole.DRAFTS)
    draft_id = drafts.save(conn, account, FULL, message_id="d1@example.org")
    (due,) = drafts.uploads_due(conn, account)
    assert drafts.begin_upload(conn, draft_id, folder, fields_json=due.fields_json, raw=b"R1")
    drafts.save(conn, account, Draft(from_=ME, subject="typed on"), message_id="d1@example.org",
                draft_id=draft_id)  # fmt: skip
    drafts.record_upload(conn, draft_id, ServerCopy(folder, 5, 11), fields_json=due.fields_json)
    stored = drafts.get(conn, draft_id)
    assert stored is not None and stored.upload_needed
    assert stored.server == ServerCopy(folder, 5, 11)
    assert drafts.raw_of(conn, draft_id) is None  # the old bytes were not kept for new fields

    (again,) = drafts.uploads_due(conn, account)
    assert drafts.begin_upload(conn, draft_id, folder, fields_json=again.fields_json, raw=b"R2")
    drafts.record_upload(conn, draft_id, ServerCopy(folder, 5, 12), fields_json=again.fields_json)
    stored = drafts.get(conn, draft_id)
    assert stored is not None and not stored.upload_needed
    assert stored.server == ServerCopy(folder, 5, 12)
    assert drafts.raw_of(conn, draft_id) == b"R2"
    assert drafts.uploads_due(conn, account) == []


def test_a_draft_edited_from_the_server_remembers_the_copy_it_replaces(
    conn: db.StoreConnection, account: int
) -> None:
    folder = write.upsert_folder(conn, account, "Drafts", role=FolderRole.DRAFTS)
    copy = ServerCopy(folder, 3, 42)
    draft_id = drafts.save(conn, account, FULL, message_id="other@client", server=copy)
    stored = drafts.find_by_message_id(conn, account, "<other@client>")
    assert stored is not None and stored.id == draft_id and stored.server == copy
    assert drafts.find_by_message_id(conn, account, "none@x") is None
    # Deleting the folder forgets the copy rather than the draft.
    conn.execute("DELETE FROM folders WHERE id = ?", (folder,))
    stored = drafts.get(conn, draft_id)
    assert stored is not None and stored.server is None


# --- undo send: an outbox item becomes a draft, its attachments kept in the store


def _queued_with_attachment(conn: db.StoreConnection, account: int, tmp_path: Path) -> int:
    from tuimail.mail.compose import compose
    from tuimail.store import outbox

    file = tmp_path / "data.bin"
    file.write_bytes(bytes(range(256)) * 10)
    draft = Draft(from_=ME, to=(Address("", "bob@example.org"),), subject="s", body="b\n",
                  attachments=(str(file),))  # fmt: skip
    return outbox.enqueue(
        conn,
        account,
        compose(draft, message_id="<q1@example.org>"),
        message_id="q1@example.org",
        env_from=ME.email,
        env_rcpts=["bob@example.org"],
    )


def test_take_back_makes_the_item_a_draft_whose_bytes_carry_the_attachment(
    conn: db.StoreConnection, account: int, tmp_path: Path
) -> None:
    from email import message_from_bytes, policy

    from tuimail.mail.attachments import attachment_parts
    from tuimail.store import outbox
    from tuimail.sync.imap.drafts import draft_bytes

    item_id = _queued_with_attachment(conn, account, tmp_path)
    raw = outbox.raw_message(conn, item_id)
    fields = Draft(from_=ME, to=(Address("", "bob@example.org"),), subject="s", body="b\n")
    stored = drafts.take_back(conn, item_id, fields, attachment_parts(raw))
    assert outbox.get(conn, item_id) is None
    assert stored.message_id == "q1@example.org" and stored.upload_needed
    assert len(stored.draft.stored_parts) == 1
    # The copy for the Drafts folder has the attachment too.
    copy = message_from_bytes(draft_bytes(conn, stored), policy=policy.default)
    [part] = copy.iter_attachments()
    assert part.get_filename() == "data.bin"
    assert part.get_payload(decode=True) == bytes(range(256)) * 10

    # The parts go with the draft.
    drafts.discard(conn, stored.id)
    assert conn.execute("SELECT count(*) FROM draft_parts").fetchone() == (0,)


def test_take_back_of_an_item_being_sent_changes_nothing(
    conn: db.StoreConnection, account: int, tmp_path: Path
) -> None:
    from tuimail.core.model import PartBody
    from tuimail.store import outbox

    item_id = _queued_with_attachment(conn, account, tmp_path)
    outbox.begin_sending(conn, item_id)
    with pytest.raises(StoreError):
        drafts.take_back(conn, item_id, Draft(from_=ME), [PartBody("a", "text/plain", b"x")])
    item = outbox.get(conn, item_id)
    assert item is not None and item.state is outbox.OutboxState.SENDING
    assert drafts.live(conn) == []
    assert conn.execute("SELECT count(*) FROM draft_parts").fetchone() == (0,)
