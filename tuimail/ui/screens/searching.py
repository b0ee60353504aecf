"""Searching from the main screen: the search line, and the search shown in the list, found off
the UI thread.

A common word in a big store takes a while to find; the keys never wait for it. Searches run
one after another on a thread of their own (SearchThread) with a read connection of its own.
Each search the user asks for has a generation: a newer search, ending the search or showing a
place drops an older one's result when it arrives, so it never replaces what the user asked
for since. After a store update the search shown is run again, at most one such run at a time
and at most one more waiting (the updates in between are folded into it); its result replaces
the list's with the cursor kept on the same message. A dropped search does not hold up the
next: waiting, it is skipped; running, it is stopped (SQLite's interrupt).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store import search as store_search
from tuimail.store.db import StoreError, open_store_for_reading
from tuimail.ui.host import app_host
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.search_line import SearchLine
from tuimail.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenPart = Screen[None]
else:
    _ScreenPart = object  # a part of the main screen, not a screen of its own

# The search shown: its text and the folders it searched (None: all mail).
Search = tuple[str, list[int] | None]
_T = TypeVar("_T")
SAY_SEARCHING = 0.1  # seconds a search runs before the title says it is running
# Seconds the UI waits for a search, at most: a quick one (most are) is shown with the closing
# of the search line, in one paint instead of two; a slower one goes on off the UI thread.
QUICK_SEARCH = 0.03


class SearchDropped(Exception):
    """A search not wanted any more (a newer one was asked for, or the search ended): skipped
    before it ran, or stopped while it ran."""


def _first_found(
    conn: sqlite3.Connection, *, query: str, folder_ids: list[int] | None
) -> tuple[bool, list[int]]:
    """(complete, ids): every match in order, or with many matches their first page."""
    if store_search.has_many_matches(conn, query):
        return False, store_search.first_page(conn, query, folder_ids=folder_ids)
    return True, store_search.search(conn, query, folder_ids=folder_ids)


class SearchThread:
    """Runs searches in order on one thread, with the thread's own read connection to the
    store in the data directory `data_dir()` gives (opened at the first search). Each search
    has the generation of the search the user asked for; `drop_older` drops those before one
    (SearchDropped)."""

    def __init__(self, data_dir: Callable[[], Path]) -> None:
        self._data_dir = data_dir
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used on the search thread only
        self._closed = False
        self._lock = threading.Lock()  # guards the two below, and an interrupt
        self._wanted = 0  # searches of an older generation are dropped
        self._running: int | None = None  # the generation of the search running

    async def search(self, query: str, scope: list[int] | None, generation: int) -> list[int]:
        """The ids `store.search.search` finds for `query` in `scope`, found on the thread."""
        find = partial(store_search.search, query=query, folder_ids=scope)
        return await asyncio.wrap_future(self._submit(find, generation))

    def first_found(
        self, query: str, scope: list[int] | None, generation: int
    ) -> Future[tuple[bool, list[int]]]:
        """What to show first for `query` in `scope`: every match in order, or with many
        matches their first page (`store.search.first_page`); found on the thread."""
        return self._submit(partial(_first_found, query=query, folder_ids=scope), generation)

    def drop_older(self, generation: int) -> None:
        """Searches of a generation before `generation` are not wanted: those waiting are
        skipped, the one running is stopped (a common word's whole list at a million messages
        takes most of a second, and the next search would wait for it)."""
        with self._lock:
            self._wanted = max(self._wanted, generation)
            if self._running is not None and self._running < generation and self._conn:
                # The statement running now stops; one started later does not (SQLite), and
                # the next search starts only once this one has let go of the lock below.
                self._conn.interrupt()

    def _submit(self, find: Callable[[sqlite3.Connection], _T], generation: int) -> Future[_T]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="search")
        return self._executor.submit(self._find, find, self._data_dir(), generation)

    def _find(
        self, find: Callable[[sqlite3.Connection], _T], data_dir: Path, generation: int
    ) -> _T:
        if self._closed:
            raise StoreError("the search thread is closed")
        if self._conn is None:
            self._conn, _read_only = open_store_for_reading(data_dir)
        with self._lock:
            if generation < self._wanted:
                raise SearchDropped()
            self._running = generation
        try:
            return find(self._conn)
        except sqlite3.OperationalError as exc:
            if generation < self._wanted:  # stopped by drop_older
                raise SearchDropped() from exc
            raise
        finally:
            with self._lock:
                self._running = None

    def close(self) -> None:
        """Stop the search running (SQLite's interrupt may be called from any thread), skip
        those waiting, and close the connection on its thread."""
        if self._executor is None:
            return
        self._closed = True
        conn = self._conn
        if conn is not None:
            conn.interrupt()
        self._executor.submit(self._close_connection)
        self._executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Searching(_ScreenPart):
    """The main screen's searching (see the module)."""

    conn: sqlite3.Connection
    current_place: tuple[int, ...] | None

    def init_searching(self) -> None:
        """Set up the searching state (from the screen's constructor)."""
        self.search_shown: Search | None = None  # None: the list shows a place
        self._search_scope_text = ""  # what the search shown searched, in words
        self._search_generation = 0
        self._search_running = False  # a search of this generation is being found
        self._search_found = False  # its first results are shown
        self._search_again = False  # the search shown must be run again after it
        self._search_changed: set[int] | None = set()  # the messages changed since (None: any)
        self._search_select: int | None = None  # the message to put the cursor on after it
        self._search_thread = SearchThread(lambda: app_host(self.app).data_dir)

    @property
    def search_running(self) -> bool:
        """Whether a search (or a run again of the one shown) has results still to come."""
        return self._search_running or self._search_again

    def forget_search(self) -> None:
        """The list shows a place again: a search's results still to come are dropped."""
        self.search_shown = None
        self._search_generation += 1
        self._search_thread.drop_older(self._search_generation)
        self._search_running = False
        self._search_found = False
        self._search_again = False
        self._search_changed = set()
        self._search_select = None

    def on_unmount(self) -> None:
        self._search_thread.close()

    # Handlers by name, not `@on`: this class is a part of the main screen, and Textual reads
    # `@on` only from the screen's own classes (those made by its metaclass).

    def action_search(self, all_mail: bool = False) -> None:
        """Open the search line under the list (enter searches, escape closes it): the folder
        shown (or the inboxes of the unified inbox), or with `all_mail` every folder."""
        if self.current_place is None:
            return
        place = self.current_place
        info = read.folder(self.conn, place[0]) if len(place) == 1 else None
        if all_mail:
            scope = "all mail"
        else:
            scope = sanitize_line(f"{info.account}/{info.display_name}") if info else "all inboxes"
        bar = self.query_one(SearchLine).open(scope, everywhere=all_mail)
        self.query_one(StatusBar).display = False
        # Focused now, not after this message (Widget.focus defers it): the line must not be
        # painted while the keys the user types next would still go to the list.
        self.set_focus(bar)

    def close_search_line(self) -> None:
        """Hide the search line; the status bar takes its row again."""
        self.query_one(SearchLine).close()
        self.query_one(StatusBar).display = True

    def on_search_line_submitted(self, event: SearchLine.Submitted) -> None:
        query = event.query
        line = self.query_one(SearchLine)
        self.close_search_line()
        self.query_one(MessageList).focus()
        if not query or self.current_place is None:
            return
        scope = None if line.everywhere else list(self.current_place)
        self.forget_search()
        self.search_shown = (query, scope)
        self._search_scope_text = line.scope
        self._search_running = True
        # Said only when the search takes a while: a title painted in between would delay the
        # results of a quick search by a frame.
        title = f"{line.scope}: searching for {sanitize_line(query)!r}… (escape: back)"
        self.set_timer(SAY_SEARCHING, partial(self._say_searching, self._search_generation, title))
        generation = self._search_generation
        first = self._search_thread.first_found(query, scope, generation)
        wait([first], timeout=QUICK_SEARCH)
        if first.done() and first.exception() is None:
            self._show_first(generation, query, scope, *first.result())
        else:
            self._start(self._first_results(generation, query, scope, first))

    def _say_searching(self, generation: int, title: str) -> None:
        if generation == self._search_generation and not self._search_found:
            self.sub_title = title

    def run_search_again(
        self, changed: Collection[int] | None = None, *, select: int | None = None
    ) -> None:
        """Run the search shown again on the store as it is now, off the UI thread (the
        cursor stays put, or goes to `select`); `changed`: the only messages changed since it
        ran (None: any)."""
        if self.search_shown is None:
            return
        if changed is None or self._search_changed is None:
            self._search_changed = None
        else:
            self._search_changed |= set(changed)
        if select is not None:
            self._search_select = select
        self._search_again = True
        if not self._search_running:
            self._next_run()

    def _next_run(self) -> None:
        assert self.search_shown is not None
        query, scope = self.search_shown
        changed, self._search_changed = self._search_changed, set()
        self._search_again = False
        self._search_running = True
        self._start(self._results_again(self._search_generation, query, scope, changed))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        self.run_worker(work, group="search", exit_on_error=False, description="search")

    async def _find(self, generation: int, query: str, scope: list[int] | None) -> list[int] | None:
        """The ids found, or None when the search was dropped (or failed: said)."""
        found: list[int] | None
        try:
            found = await self._search_thread.search(query, scope, generation)
        except SearchDropped:
            return None
        except (StoreError, sqlite3.Error):
            found = self._found_here(generation, query, scope)
        if found is None:
            return None
        if generation != self._search_generation:
            return None  # a newer search, or the search ended: this result is not wanted
        self._search_running = False
        return found

    def _found_here(self, generation: int, query: str, scope: list[int] | None) -> list[int] | None:
        # The store could not be opened a second time (started on a full disk, it is open
        # exclusively): found on the UI thread, as there is no other way.
        try:
            return store_search.search(self.conn, query, folder_ids=scope)
        except sqlite3.Error as exc:
            if generation == self._search_generation:
                self._search_running = False
                self._search_again = False
                self.notify(f"Search failed: {exc}", severity="error", markup=False)
            return None

    async def _first_results(
        self,
        generation: int,
        query: str,
        scope: list[int] | None,
        first: Future[tuple[bool, list[int]]],
    ) -> None:
        try:
            complete, ids = await asyncio.wrap_future(first)
        except SearchDropped:
            return
        except (StoreError, sqlite3.Error):
            found = self._found_here(generation, query, scope)
            if found is None:
                return
            complete, ids = True, found
        self._show_first(generation, query, scope, complete, ids)

    def _show_first(
        self, generation: int, query: str, scope: list[int] | None, complete: bool, ids: list[int]
    ) -> None:
        if generation != self._search_generation:
            return  # a newer search, or the search ended: this result is not wanted
        self.query_one(MessageList).show_ids(ids, folders=scope is None)
        self._search_found = True
        self._describe_search(query, len(ids), more=not complete)
        if complete:
            self._search_running = False
            self._after_run()
        else:  # many matches: their newest first, the rest while the user reads them
            self._start(self._rest_of_results(generation, query, scope))

    async def _rest_of_results(self, generation: int, query: str, scope: list[int] | None) -> None:
        ids = await self._find(generation, query, scope)
        if ids is None:
            return
        self.query_one(MessageList).update_from_store(ids)  # the cursor stays where it is
        self._describe_search(query, len(ids))
        self._after_run()

    async def _results_again(
        self,
        generation: int,
        query: str,
        scope: list[int] | None,
        changed: set[int] | None,
    ) -> None:
        ids = await self._find(generation, query, scope)
        if ids is None:
            return
        messages = self.query_one(MessageList)
        messages.update_from_store(ids, changed=changed)
        if self._search_select is not None and not self._search_again:
            messages.select_id(self._search_select)  # (else after the run still to come)
            self._search_select = None
        self._describe_search(query, len(ids))
        self._after_run()

    def _after_run(self) -> None:
        if self._search_again:
            self._next_run()

    def _describe_search(self, query: str, found: int, *, more: bool = False) -> None:
        scope = self._search_scope_text
        count = f"{found}+" if more else str(found)
        still = ", searching on…" if more else ""
        self.sub_title = (
            f"{scope}: {count} found for {sanitize_line(query)!r}{still} (escape: back)"
        )
