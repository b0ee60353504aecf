"""POP3 with the messages parsed in worker processes while the next ones download: the same
store as parsing inline (envelopes, search, exact bytes), against the real Dovecot."""

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
from tuimail.store import read
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


def test_parsing_in_workers_stores_what_parsing_inline_stores(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = mail_servers.add_user("pop")
    deliver_all(mail_servers, user, [make_message(i) for i in range(1, 26)])
    account = pop3_account(mail_servers, user)

    inline = tmp_path / "inline"
    result, _ = download(mail_servers, user, inline, account)
    assert result.ok, result.error

    monkeypatch.setattr(body_indexer, "WORKER_THRESHOLD", 1)
    monkeypatch.setattr(pop3, "PARSE_CHUNK", 4)  # several chunks, and a tail parsed inline
    monkeypatch.setattr(pop3, "BATCH_MESSAGES", 10)  # several commits
    workers = tmp_path / "workers"
    result, _ = download(mail_servers, user, workers, account)
    assert result.ok, result.error
    assert result.new == 25

    assert _envelopes(workers) == _envelopes(inline)
    assert sorted(raw for _, raw in stored(workers)) == sorted(imap_messages(mail_servers, user))
    conn = open_store(workers)
    try:
        account_id = read.account_id(conn, "home")
        found = search(conn, "zebra3", account_id=account_id)
        assert [row.envelope.subject for row in read.rows(conn, found)] == ["Report number 3"]
    finally:
        conn.close()
