"""Mail stored with its body unparsed (a `tuimail fetch` stopped after storing, before indexing)
is indexed by the app, also offline, where the index thread ends once the index is complete;
until then the message is found by its subject, and then by its body's words (issue 19)."""

from __future__ import annotations

from pathlib import Path

from tests.support.mailfactory import make_message
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole, Protocol
from tuimail.store import db, reindex, search, write
from tuimail.ui.widgets.message_list import MessageList

CONFIG = '[accounts.work]\naddress = "me@example.org"\n'


async def _search(pilot, app: TuimailApp, words: str) -> list[int]:  # type: ignore[no-untyped-def]
    await pilot.press("slash", *words, "enter")
    await pilot.pause()
    return list(app.screen.query_one(MessageList).ids)


async def test_the_app_offline_indexes_bodies_a_stopped_download_left(tmp_path: Path) -> None:
    conn = db.open_store(tmp_path)
    try:
        account = write.ensure_account(conn, "work", Protocol.POP3)
        inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        raws = [
            make_message(message_id=f"m{n}@x", subject=f"report {n}", body=f"walrus {n}\r\n")
            for n in range(1, 31)
        ]
        items = [write.IncomingMessage(raw=raw, uidl=f"u{n}") for n, raw in enumerate(raws)]
        ids = write.store_messages(conn, inbox, items, defer_index=True)
        assert reindex.pending(conn) == 30
        assert len(search.search(conn, "report")) == 30  # found by the subject meanwhile
        assert search.search(conn, "walrus") == []
    finally:
        conn.close()
    app = TuimailApp(parse_config(CONFIG), tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: not reindex.behind(app.conn))
        assert sorted(await _search(pilot, app, "walrus")) == sorted(ids)
        assert "30 found for 'walrus'" in app.screen.sub_title
        await app.workers.wait_for_complete()  # offline, the index thread has ended
        await pilot.press("q")
