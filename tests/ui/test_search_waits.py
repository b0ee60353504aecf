"""A search is found off the UI thread: while it runs the title says so and the keys work; a
newer search, or leaving the search, drops an older one's late result; the search shown is
found again after a store update with the cursor kept on its message, one run at a time.

The slow search is made by holding the store's search function on an event the test
releases (the real search runs after it)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.demo_app import DemoStore, demo_app
from tests.support.pilot import searched, wait_for
from tuimail.store import read
from tuimail.store import search as store_search
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import StoreChanged
from tuimail.ui.widgets.message_list import MessageList


def _message(subject: str, day: int, body: str) -> bytes:
    return (
        f"From: Sender {day} <s{day}@example.org>\r\nTo: you@demo.invalid\r\n"
        f"Subject: {subject}\r\nDate: {day:02d} Nov 2026 11:{day:02d}:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{day}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


def _inbox(conn) -> read.FolderInfo:
    return next(f for f in read.folders(conn) if f.name == "INBOX")


def _store(data_dir: Path, demo_store: DemoStore) -> None:
    demo_store(data_dir)
    conn = open_store(data_dir)
    try:
        inbox = _inbox(conn).id
        for day in (3, 4, 5):
            store_message(conn, inbox, raw=_message(f"Needle {day}", day, "the NEEDLE here"))
        store_message(conn, inbox, raw=_message("Haystack 6", 6, "a HAYSTACK only"))
    finally:
        conn.close()


class HeldSearch:
    """The store's search, held before it runs while `hold(query)` is true, until released;
    every query asked for is counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = store_search.search
        self.gate = threading.Event()
        self.queries: list[str] = []
        self.hold: Callable[[str], bool] = lambda query: False
        monkeypatch.setattr(store_search, "search", self._search)

    def _search(self, conn, query, **kwargs):
        self.queries.append(query)
        if self.hold(query):
            self.gate.wait(10)  # bounded: the code before the change searched on the UI thread
        return self.real(conn, query, **kwargs)


def _new_mail(app, data_dir: Path, subject: str, body: str) -> None:
    """Store a message as an engine does (its own connection and thread), then emit."""

    def work() -> None:
        conn = open_store(data_dir)
        try:
            inbox = _inbox(conn)
            store_message(conn, inbox.id, raw=_message(subject, 22, body))
            app.bridge.emit(StoreChanged("demo", (inbox.id,), read.revision(conn)))
        finally:
            conn.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()


async def _type_search(pilot, text: str) -> None:
    await pilot.press("slash")
    await pilot.pause()
    await pilot.press(*text, "enter")
    await pilot.pause()


async def test_a_slow_search_leaves_the_keys_working_and_its_result_shows(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, demo_store)
    held = HeldSearch(monkeypatch)
    held.hold = lambda query: True
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        place = messages.place
        await _type_search(pilot, "NEEDLE")
        await wait_for(pilot, lambda: "searching for 'NEEDLE'" in app.screen.sub_title)
        assert messages.place == place, "the list shows the folder until the results come"
        before = messages.cursor
        await pilot.press("j")
        await pilot.pause()
        assert messages.cursor == before + 1, "the keys wait for the search"
        held.gate.set()
        await searched(pilot)
        assert messages.place is None and len(messages.ids) == 3
        assert "3 found for 'NEEDLE'" in app.screen.sub_title


async def test_a_late_result_never_replaces_a_newer_search(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, demo_store)
    held = HeldSearch(monkeypatch)
    held.hold = lambda query: query == "NEEDLE"
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _type_search(pilot, "NEEDLE")
        await _type_search(pilot, "HAYSTACK")  # asked for while the first is still running
        await wait_for(pilot, lambda: "searching for 'HAYSTACK'" in app.screen.sub_title)
        held.gate.set()
        await searched(pilot)
        assert held.queries[:2] == ["NEEDLE", "HAYSTACK"]
        assert [messages.row_at(i).envelope.subject for i in range(len(messages.ids))] == [
            "Haystack 6"
        ]
        assert "1 found for 'HAYSTACK'" in app.screen.sub_title


async def test_escape_drops_a_search_still_running(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, demo_store)
    held = HeldSearch(monkeypatch)
    held.hold = lambda query: True
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        place, shown = messages.place, list(messages.ids)
        await _type_search(pilot, "NEEDLE")
        await wait_for(pilot, lambda: "searching for 'NEEDLE'" in app.screen.sub_title)
        await pilot.press("escape")
        await pilot.pause()
        assert "searching" not in app.screen.sub_title
        held.gate.set()
        await searched(pilot)
        await wait_for(pilot, lambda: len(held.queries) == 1)
        for _ in range(5):
            await pilot.pause(0.02)  # the dropped result has arrived by now
        assert messages.place == place and list(messages.ids) == shown
        assert "found" not in app.screen.sub_title


async def test_updates_during_a_search_shown_keep_its_cursor_and_run_it_once_more(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, demo_store)
    held = HeldSearch(monkeypatch)
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _type_search(pilot, "NEEDLE")
        await searched(pilot)
        assert len(messages.ids) == 3
        await pilot.press("j")
        await pilot.pause()

        # New mail comes in three batches while the search shown is found again slowly.
        held.hold = lambda query: True
        held.gate.clear()
        asked = len(held.queries)
        _new_mail(app, tmp_path, "Needle 20", "a NEEDLE again")
        await wait_for(pilot, lambda: len(held.queries) == asked + 1)
        _new_mail(app, tmp_path, "Other 21", "nothing to find")
        _new_mail(app, tmp_path, "Needle 22", "one more NEEDLE")
        for _ in range(3):
            await pilot.pause()
        # The keys work meanwhile, and the cursor the user moves is the one kept.
        await pilot.press("j")
        await pilot.pause()
        chosen = messages.current_message_id
        assert read.row(app.conn, chosen).envelope.subject == "Needle 3"
        assert len(messages.ids) == 3, "the search found again is still held"
        held.gate.set()
        await searched(pilot)
        assert len(held.queries) == asked + 2, "the updates met during a run: one run more"
        assert len(messages.ids) == 5
        assert messages.current_message_id == chosen
        assert not messages.displaced
        assert "5 found for 'NEEDLE'" in app.screen.sub_title


async def test_many_matches_show_their_first_page_then_all_with_the_cursor_kept(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, demo_store)
    monkeypatch.setattr(store_search, "MANY_MATCHES", 2)  # NEEDLE's 3 matches are many
    monkeypatch.setattr(store_search, "FIRST_PAGE", 2)
    held = HeldSearch(monkeypatch)
    held.hold = lambda query: True  # the whole search, ordered after the first page
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _type_search(pilot, "NEEDLE")
        await wait_for(pilot, lambda: messages.place is None)
        assert "2+ found for 'NEEDLE', searching on" in app.screen.sub_title
        subjects = [messages.row_at(i).envelope.subject for i in range(len(messages.ids))]
        assert subjects == ["Needle 5", "Needle 4"]
        await pilot.press("j")
        await pilot.pause()
        chosen = messages.current_message_id
        held.gate.set()
        await searched(pilot)
        assert len(messages.ids) == 3
        assert messages.current_message_id == chosen and not messages.displaced
        assert "3 found for 'NEEDLE' (escape: back)" in app.screen.sub_title


async def test_a_newer_search_stops_an_older_one_still_running(
    tmp_path: Path, demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older search still in SQLite (a common word's whole list in a big store) does not
    hold up the next: it is stopped, and the newer one's results come at once."""
    _store(tmp_path, demo_store)
    real = store_search.search
    stopped: list[str] = []

    def search(conn, query, **kwargs):
        if query == "NEEDLE":
            # A statement of a quarter of an hour unless it is interrupted, mostly asleep (the
            # test's pilot waits for the process to be idle between keys).
            conn.create_function("nap", 1, lambda i: time.sleep(0.01) or i)
            try:
                conn.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                    " WHERE i < 100000) SELECT sum(nap(i)) FROM n"
                ).fetchone()
            except sqlite3.OperationalError as exc:
                stopped.append(str(exc))
                raise
        return real(conn, query, **kwargs)

    monkeypatch.setattr(store_search, "search", search)
    app = demo_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await _type_search(pilot, "NEEDLE")
        await wait_for(pilot, lambda: "searching for 'NEEDLE'" in app.screen.sub_title)
        await _type_search(pilot, "HAYSTACK")
        # (Held up, it would wait that quarter of an hour.)
        await wait_for(pilot, lambda: "1 found for 'HAYSTACK'" in app.screen.sub_title, 20)
        assert stopped == ["interrupted"]
        assert [messages.row_at(i).envelope.subject for i in range(len(messages.ids))] == [
            "Haystack 6"
        ]
        # The thread goes on with the searches after it.
        await pilot.press("escape")
        await _type_search(pilot, "NEEDLE")
        await wait_for(pilot, lambda: "searching for 'NEEDLE'" in app.screen.sub_title)
        await pilot.press("escape")  # leaving the search stops it too
        await wait_for(pilot, lambda: len(stopped) == 2, 20)
        assert stopped == ["interrupted", "interrupted"]
        assert "found" not in app.screen.sub_title
