"""POP3 with the bodies stored first and indexed behind (issue 19), against the real Dovecot:
indexed in worker processes or inline, the same store (envelopes, attachment flags, search,
exact bytes); before the index is completed a body's words are not found, its subject is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.pop3_download import (
    deliver_all,
    download,
    imap_messages,
    make_message,
    pop3_account,
    stored,
)
from tuimail.store import indexer as body_indexer
from tuimail.store import read, reindex
from tuimail.store.db import open_store
from tuimail.store.search import search
from tuimail.sync.pop3 import download as pop3

pytestmark = pytest.mark.integration


def _envelopes(data_dir: Path) -> dict[str, tuple[object, ...]]:
    conn = open_store(data_dir)
    try:
        rows = conn.execute(
            "SELECT uidl, message_id, subject, from_addr, to_addr, date, has_attachments, size"
            " FROM messages ORDER BY uidl"
        ).fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}
    finally:
        conn.close()


def test_bodies_indexed_behind_in_workers_or_inline_give_the_same_store(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 26)])
    account = pop3_account(mail_servers, user)
    monkeypatch.setattr(pop3, "BATCH_MESSAGES", 10)  # several commits

    inline = tmp_path / "inline"
    result, _ = download(mail_servers, user, inline, account)
    assert result.ok, result.error
    conn = open_store(inline)
    try:
        account_id = read.account_id(conn, "home")
        # Stored, durable, found by subject; its body's words wait for the index.
        assert len(search(conn, "report", account_id=account_id)) == 25
        assert search(conn, "zebra3", account_id=account_id) == []
        assert reindex.pending(conn) == 25
        assert body_indexer.complete_index(conn) == 25
    finally:
        conn.close()

    monkeypatch.setattr(body_indexer, "WORKER_THRESHOLD", 1)
    monkeypatch.setattr(reindex, "BATCH_BYTES", 4096)  # several batches in flight
    workers = tmp_path / "workers"
    result, _ = download(mail_servers, user, workers, account)
    assert result.ok, result.error
    assert result.new == 25
    conn = open_store(workers)
    try:
        assert body_indexer.complete_index(conn) == 25
        assert not reindex.behind(conn)
        account_id = read.account_id(conn, "home")
        found = search(conn, "zebra3", account_id=account_id)
        assert [row.envelope.subject for row in read.rows(conn, found)] == ["Report number 3"]
    finally:
        conn.close()

    assert _envelopes(workers) == _envelopes(inline)
    assert sorted(raw for _, raw in stored(workers)) == sorted(imap_messages(mail_servers, user))
