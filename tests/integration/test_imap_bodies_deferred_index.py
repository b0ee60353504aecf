"""Bodies downloaded in batches against the real Dovecot: every body exact, committed in order,
once, before any is parsed (issue 19: durable first); then indexed for search behind the sync,
through the worker processes (`indexer.complete_index`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imap_sync import Server, append, folder_id, new_mailbox, run_sync
from tuimail.store import indexer as body_indexer
from tuimail.store import read, reindex, search
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import Event, StoreChanged, SyncProgress

pytestmark = pytest.mark.integration


def test_bodies_are_stored_first_exact_and_searchable_once_indexed(
    mail_servers: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_indexer, "WORKER_THRESHOLD", 1)  # the worker path for 12 bodies
    box = new_mailbox(mail_servers)
    append(box, 12)
    events: list[Event] = []
    result = run_sync(box, tmp_path, folder="INBOX", bodies=True, emit=events.append, body_batch=3)
    assert result.bodies == 12
    conn: StoreConnection = open_store(tmp_path)
    try:
        inbox = folder_id(conn, "INBOX")
        with box.device() as device:
            device.select_folder("INBOX", readonly=True)
            server = device.fetch(device.search("ALL"), ["BODY.PEEK[]"])
        assert len(server) == 12
        for uid, item in server.items():
            message_id = read.message_id_by_uid(conn, inbox, uid)
            assert message_id is not None
            assert read.body(conn, message_id) == item[b"BODY[]"]
        # "Body of message 7." is only in the body: not searchable until indexed, then found
        # through the full-text index.
        assert reindex.pending(conn) == 12
        assert search.search(conn, "body", folder_ids=inbox) == []
        assert body_indexer.complete_index(conn) == 12
        assert not reindex.behind(conn)
        hits = search.search(conn, "message 7", folder_ids=inbox)
        assert hits and all(read.body(conn, hit) for hit in hits)
        assert read.message_id_by_uid(conn, inbox, min(server) + 7) in hits
    finally:
        conn.close()
    # Progress climbs batch by batch to the total; every batch was announced as a store change.
    progress = [e.done for e in events if isinstance(e, SyncProgress) and e.total == 12]
    bodies_progress = progress[len(progress) - 1 - progress[::-1].index(0) :]  # after headers
    assert bodies_progress == [0, 3, 6, 9, 12]
    assert len([e for e in events if isinstance(e, StoreChanged)]) >= 4
