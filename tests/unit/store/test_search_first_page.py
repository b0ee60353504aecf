"""A search with many matches: its first page, found by walking the date index, is the first
page of the whole search, in one folder, several, or all mail."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tuimail.core.model import Protocol
from tuimail.store import db, search, write

MESSAGES = 3000


def store_rows(conn: db.StoreConnection, rows: Iterable[tuple[object, ...]]) -> None:
    """Messages (folder, account, Message-ID, subject, date, thread) in the order given, their
    subjects in the full-text index, every one from the same sender."""
    with db.transaction(conn) as revision:
        conn.executemany(
            "INSERT INTO messages (folder_id, account_id, message_id, subject, from_addr, date,"
            " first_seen, sort_date, from_sort, subject_sort, flags, size, thread_id, revision)"
            " VALUES (?, ?, ?, ?, '[]', ?5, ?5, ?5, '', '', '', 100, ?6, ?7)",
            ((*row, revision) for row in rows),
        )
        conn.execute(
            "INSERT INTO messages_fts (rowid, subject, addresses, body)"
            " SELECT id, subject, 'Sender s@example.org', '' FROM messages"
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[db.StoreConnection, dict]]:
    """Three folders in two accounts; "common" in every subject, "half" in every other one,
    "rare" in a few, "archived" only in Archive; many messages share a date."""
    conn = db.open_store(Path(tmp_path_factory.mktemp("first-page")))
    work = write.ensure_account(conn, "work", Protocol.IMAP)
    home = write.ensure_account(conn, "home", Protocol.POP3)
    folders = {
        "inbox": write.upsert_folder(conn, work, "INBOX"),
        "archive": write.upsert_folder(conn, work, "Archive"),
        "home": write.upsert_folder(conn, home, "INBOX"),
    }
    rng = random.Random(19)

    def rows() -> Iterator[tuple[object, ...]]:
        for n in range(MESSAGES):
            name = rng.choice(["inbox", "inbox", "archive", "home"])
            words = ["common", "half" if n % 2 else "", "rare" if n % 500 == 0 else ""]
            if name == "archive" and n % 7 == 0:
                words.append("archived")
            stamp = 1_700_000_000 + rng.randrange(400) * 3600  # many share a date
            account = home if name == "home" else work
            yield (folders[name], account, f"{n}@example.org", " ".join(words), stamp, n)

    store_rows(conn, rows())
    yield conn, folders
    conn.close()


@pytest.fixture(autouse=True)
def _small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "MANY_MATCHES", 100)


SCOPES = {
    "one folder": lambda f: f["inbox"],
    "two folders": lambda f: [f["inbox"], f["archive"]],
    "all mail": lambda f: None,
}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("query", ["common", "half", "common half", "from:sender"])
def test_the_first_page_is_the_first_page_of_the_whole_search(
    store: tuple[db.StoreConnection, dict], scope: str, query: str
) -> None:
    conn, folders = store
    folder_ids = SCOPES[scope](folders)
    assert search.has_many_matches(conn, query)
    whole = search.search(conn, query, folder_ids=folder_ids)
    for size in (1, 50, 200):
        page = search.first_page(conn, query, folder_ids=folder_ids, size=size)
        assert page == whole[:size]


def test_few_matches_are_not_many(store: tuple[db.StoreConnection, dict]) -> None:
    conn, _ = store
    assert not search.has_many_matches(conn, "rare")
    assert not search.has_many_matches(conn, "nowhere")
    assert not search.has_many_matches(conn, "")


def test_a_page_of_a_folder_with_fewer_matches_is_all_of_them(
    store: tuple[db.StoreConnection, dict],
) -> None:
    conn, folders = store
    whole = search.search(conn, "archived", folder_ids=folders["archive"])
    assert 0 < len(whole) < 200
    assert search.first_page(conn, "archived", folder_ids=folders["archive"]) == whole


@pytest.mark.parametrize(
    ("query", "scope", "size"),
    [
        ("archived", "inbox", 10),  # in Archive only: the inbox walk finds none
        ("archived", None, 50),  # a few in all mail
        ("rare", None, 5),  # one in 500
    ],
)
def test_sparse_matches_stop_the_walk_and_are_ordered_by_the_search(
    store: tuple[db.StoreConnection, dict],
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    scope: str | None,
    size: int,
) -> None:
    """A word common in the store but rare in the folders searched: after one chunk of the
    walk shows the matches too sparse, the page comes from the search ordering them."""
    conn, folders = store
    folder_ids = None if scope is None else folders[scope]
    whole = search.search(conn, query, folder_ids=folder_ids)
    asked: list[int] = []
    matching = search._matching

    def counted(conn: db.StoreConnection, expression: str, ids: list[int]) -> set[int]:
        asked.append(len(ids))
        return matching(conn, expression, ids)

    monkeypatch.setattr(search, "_matching", counted)
    page = search.first_page(conn, query, folder_ids=folder_ids, size=size)
    assert page == whole[:size]
    assert asked == [search._FIRST_CHUNK]  # one chunk asked about, not the whole folder


def test_candidates_are_asked_about_as_ranges_and_one_by_one_alike(
    store: tuple[db.StoreConnection, dict],
) -> None:
    """`_matching` asks about runs of close ids as ranges and the rest one by one: the same
    answer as asking about every id alone, for ids close together, scattered, or both."""
    conn, _ = store
    rng = random.Random(7)
    every = [int(row[0]) for row in conn.execute("SELECT id FROM messages")]
    for query in ["common", "half", "rare", "from:sender", "archived"]:
        expression = search.fts_query(query)
        assert expression is not None
        for _ in range(40):
            start = rng.randrange(len(every))
            close = every[start : start + rng.randrange(1, 400)]
            scattered = rng.sample(every, rng.randrange(1, 300))
            ids = rng.choice([close, scattered, close + scattered])
            alone = {
                int(row[0])
                for message_id in ids
                for row in conn.execute(
                    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?",
                    (expression, message_id),
                )
            }
            assert search._matching(conn, expression, ids) == alone


@pytest.fixture(scope="module")
def stored_in_date_order(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[db.StoreConnection, dict]]:
    """Two folders whose messages were stored as they came (ids in date order, as in most
    stores); "common" in every subject, "fifth" in every fifth, "sparse" in every 150th."""
    conn = db.open_store(Path(tmp_path_factory.mktemp("date-order")))
    work = write.ensure_account(conn, "work", Protocol.IMAP)
    folders = {
        "inbox": write.upsert_folder(conn, work, "INBOX"),
        "lists": write.upsert_folder(conn, work, "Lists"),
    }
    rng = random.Random(23)

    def rows() -> Iterator[tuple[object, ...]]:
        stamp = 1_700_000_000
        for n in range(MESSAGES * 2):
            stamp += rng.choice([0, 60, 3600])  # some share a date
            name = "lists" if rng.random() < 0.3 else "inbox"
            words = ["common", "fifth" if n % 5 == 0 else "", "sparse" if n % 150 == 0 else ""]
            yield (folders[name], work, f"{n}@example.org", " ".join(words), stamp, n)

    store_rows(conn, rows())
    yield conn, folders
    conn.close()


@pytest.mark.parametrize("scope", ["inbox", "both", "all mail"])
@pytest.mark.parametrize("query", ["common", "fifth", "sparse", '"common fifth"'])
def test_a_walk_of_ranges_finds_the_first_page_of_the_whole_search(
    stored_in_date_order: tuple[db.StoreConnection, dict],
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    query: str,
) -> None:
    """With ids in date order the walk asks about ranges, goes on past its first chunks for a
    sparse word (ordering every match made dear here, as a big store makes it), and finds the
    same first page as the whole search."""
    conn, folders = stored_in_date_order
    folder_ids = {
        "inbox": folders["inbox"],
        "both": [folders["inbox"], folders["lists"]],
        "all mail": None,
    }[scope]
    monkeypatch.setattr(search, "_ORDER_COST", 1000)
    whole = search.search(conn, query, folder_ids=folder_ids)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        for size in (1, 30, 200):
            assert search.first_page(conn, query, folder_ids=folder_ids, size=size) == whole[:size]
    finally:
        conn.set_trace_callback(None)
    asked = [sql for sql in statements if "messages_fts MATCH" in sql]
    assert asked
    assert [sql for sql in asked if "BETWEEN" not in sql] == []
    assert not any("ORDER BY m.sort_date" in sql for sql in statements), "walked, not ordered"
