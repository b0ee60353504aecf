"""A 100,000-message folder: every query the UI and the engines make is answered by an index.

The rows are inserted directly (executemany in one transaction) to keep the test fast; the
parser has its own tests. The assertions are on query plans, never on times: a plan without a
full scan stays fast however slow the machine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mailfactory import make_message
from tuimail.core.model import FLAGGED, SEEN, Protocol
from tuimail.store import conversations, db, index_entries, ops, read, search, wanted, write
from tuimail.store.read import SortOrder

BIG = 100_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    data_dir = Path(tmp_path_factory.mktemp("big"))
    conn = db.open_store(data_dir)
    account = write.ensure_account(conn, "work", Protocol.IMAP)
    other_account = write.ensure_account(conn, "home", Protocol.POP3)
    big = write.upsert_folder(conn, account, "INBOX")
    small = write.upsert_folder(conn, account, "Archive")
    pop_inbox = write.upsert_folder(conn, other_account, "INBOX")
    write.update_folder_state(conn, big, uidvalidity=1)
    rng = random.Random(1234)
    senders = [f"sender {n}" for n in range(500)]
    subjects = [f"subject {n}" for n in range(2000)]

    def rows() -> Iterator[tuple[object, ...]]:
        for n in range(1, BIG + 5_001):
            folder = big if n <= BIG else small
            stamp = 1_600_000_000 + rng.randrange(100_000_000)
            yield (
                folder,
                account,
                1 if folder == big else 0,
                n if folder == big else None,
                f"{n}@example.org",
                rng.choice(subjects),
                '[["Sender", "s@example.org"]]',
                stamp,
                stamp,
                stamp,
                rng.choice(senders),
                rng.choice(subjects),
                SEEN if rng.random() < 0.8 else "",
                rng.randrange(500, 500_000),
                n,
            )

    with db.transaction(conn) as revision:
        conn.executemany(
            "INSERT INTO messages (folder_id, account_id, uidvalidity, uid, message_id, subject,"
            " from_addr, date, first_seen, sort_date, from_sort, subject_sort, flags, size,"
            " thread_id, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((*row, revision) for row in rows()),
        )
        conn.execute(
            "INSERT INTO messages_fts (rowid, subject, addresses, body)"
            " SELECT id, subject, 'Sender s@example.org', '' FROM messages"
        )
        conn.executemany(
            "INSERT INTO message_refs (message_id, account_id, ref) VALUES (?, ?, ?)",
            ((n, account, f"{n - 1}@example.org") for n in range(2, BIG, 7)),
        )
    write.store_message(conn, pop_inbox, raw=make_message(), uidl="u1")
    conn.close()
    yield data_dir, {"account": account, "big": big, "small": small, "pop": other_account}


@pytest.fixture(params=["fresh", "analyzed"])
def conn(
    request: pytest.FixtureRequest, big_store: tuple[Path, dict[str, int]]
) -> Iterator[db.StoreConnection]:
    """The big store, as built and after ANALYZE (statistics must not make a plan worse)."""
    data_dir, _ = big_store
    connection = db.open_store(data_dir)
    if request.param == "analyzed":
        connection.execute("ANALYZE")
    yield connection
    if request.param == "analyzed":
        # Leave the shared store as the next test expects it.
        connection.execute("DROP TABLE IF EXISTS sqlite_stat1")
        connection.execute("DROP TABLE IF EXISTS sqlite_stat4")
    connection.close()


def plans_of(conn: db.StoreConnection, action: Callable[[], object]) -> list[tuple[str, str]]:
    """Run `action`, then the query plan of every data statement it ran: (statement, plan)."""
    statements: list[str] = []

    def trace(statement: str) -> None:
        # FTS5's own statements on its small shadow tables ("-- ..." or 'main'.'messages_fts_*')
        # are not ours to plan.
        if not statement.startswith("--") and "'main'.'messages_fts_" not in statement:
            statements.append(statement)

    conn.set_trace_callback(trace)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    skip = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")
    plans = []
    for statement in statements:
        if statement.lstrip().upper().startswith(skip):
            continue
        details = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
        plans.append((statement, "\n".join(details)))
    assert plans, "the action ran no statement"
    return plans


def assert_no_scans(plans: list[tuple[str, str]]) -> None:
    """No full scan of a table (the FTS5 index reports its lookups as a virtual-table scan; a
    statement without a table scans its one constant row; sqlite_sequence holds a row per table
    with AUTOINCREMENT, and SQLite reads it at every insert into one)."""
    for statement, plan in plans:
        for line in plan.splitlines():
            if line in ("SCAN CONSTANT ROW", "SCAN sqlite_sequence"):
                continue
            if line.startswith("SCAN") and "VIRTUAL TABLE" not in line:
                pytest.fail(f"full scan in\n{statement}\nplan:\n{plan}")


def test_the_fixture_is_big(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    _, ids = big_store
    info = read.folder(conn, ids["big"])
    assert info is not None and info.total == BIG
    assert 0 < info.unread < BIG


@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("descending", [True, False])
def test_ordered_ids_come_from_an_index(
    conn: db.StoreConnection, big_store: tuple[Path, dict], order: SortOrder, descending: bool
) -> None:
    _, ids = big_store
    result: list[int] = []
    plans = plans_of(
        conn,
        lambda: result.extend(
            read.message_ids(conn, ids["big"], order=order, descending=descending)
        ),
    )
    assert len(result) == BIG
    assert_no_scans(plans)
    # One folder is read in index order: no sorting pass over 100,000 rows.
    assert all("TEMP B-TREE" not in plan for _, plan in plans), plans


def test_newest_first_is_really_newest_first(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    _, ids = big_store
    page = read.rows(conn, read.message_ids(conn, ids["big"])[:50])
    dates = [r.sort_date for r in page]
    assert dates == sorted(dates, reverse=True)


def test_unified_inbox_uses_the_folder_index(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    _, ids = big_store
    assert_no_scans(plans_of(conn, lambda: read.message_ids(conn, [ids["big"], ids["small"]])))


def test_a_page_of_rows_and_a_body(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    _, ids = big_store
    page = read.message_ids(conn, ids["big"])[5000:5100]
    assert_no_scans(plans_of(conn, lambda: read.rows(conn, page)))
    assert_no_scans(plans_of(conn, lambda: read.body(conn, page[0])))
    assert_no_scans(
        plans_of(conn, lambda: conversations.thread_members(conn, page[0], [ids["big"]]))
    )


def test_folder_list_and_counts(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    _, ids = big_store
    assert_no_scans(plans_of(conn, lambda: read.folders(conn, ids["account"])))
    assert_no_scans(plans_of(conn, lambda: read.folder(conn, ids["big"])))
    assert_no_scans(plans_of(conn, lambda: read.find_folder(conn, ids["account"], "Archive")))


def test_engine_lookups(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    _, ids = big_store
    assert_no_scans(plans_of(conn, lambda: read.uid_flags(conn, ids["big"])))
    assert_no_scans(plans_of(conn, lambda: read.message_id_by_uid(conn, ids["big"], 777)))
    assert_no_scans(plans_of(conn, lambda: read.known_uidls(conn, ids["pop"])))
    assert_no_scans(
        plans_of(conn, lambda: read.ids_by_message_id(conn, ids["account"], "5@example.org"))
    )


def test_whether_the_index_is_behind_reads_only_the_entries_behind(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    """The end of every headless command asks it: the partial index of the entries still to
    complete answers, however many messages the store holds."""
    for ask in (index_entries.behind, index_entries.pending):
        plans = plans_of(conn, lambda ask=ask: ask(conn))  # type: ignore[misc]
        assert plans and all(
            "USING COVERING INDEX messages_to_reindex" in plan
            or "USING INDEX messages_to_reindex" in plan
            for _, plan in plans
        ), plans


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {"since": 1_650_000_000},
        {"max_bytes": 100_000},
        {"since": 1_650_000_000, "max_bytes": 1_000},
    ],
)
def test_the_bodies_a_policy_wants_come_newest_first_from_an_index(
    conn: db.StoreConnection, big_store: tuple[Path, dict], policy: dict[str, int]
) -> None:
    """The app asks for a slice of wanted bodies between the user's actions: no scan of the
    account's 105,000 messages, and no sort of them either."""
    _, ids = big_store
    result: list[wanted.WantedBody] = []
    plans = plans_of(
        conn, lambda: result.extend(wanted.bodies_wanted(conn, ids["account"], limit=200, **policy))
    )
    assert_no_scans(plans)
    assert all("TEMP B-TREE" not in plan for _, plan in plans), plans
    assert result and all(row.folder_id == ids["big"] for row in result)
    dates = [
        conn.execute("SELECT sort_date FROM messages WHERE id = ?", (row.id,)).fetchone()[0]
        for row in result
    ]
    assert dates == sorted(dates, reverse=True)
    assert all(row.size <= policy.get("max_bytes", row.size) for row in result)
    assert all(date >= policy.get("since", date) for date in dates)


def test_the_messages_about_to_be_opened_are_looked_up_by_id(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    _, ids = big_store
    page = read.message_ids(conn, ids["big"])[100:105]
    found: list[wanted.WantedBody] = []
    assert_no_scans(plans_of(conn, lambda: found.extend(wanted.not_local(conn, page))))
    assert [row.id for row in found] == page


def test_changes_since(conn: db.StoreConnection) -> None:
    now = read.revision(conn)
    assert_no_scans(plans_of(conn, lambda: read.changes_since(conn, now)))


def test_search_in_a_big_folder(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    _, ids = big_store
    found: list[int] = []
    plans = plans_of(
        conn, lambda: found.extend(search.search(conn, "subject 42", folder_ids=ids["big"]))
    )
    assert found
    assert_no_scans(plans)
    # The matches drive the loop, not the 100,000 messages of the folder.
    (_, plan) = plans[-1]
    assert plan.splitlines()[0].startswith("SCAN messages_fts VIRTUAL TABLE"), plan


def test_a_word_in_most_of_a_folder_is_listed_from_its_date_index(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    """Every match of a word most of the folder has: the folder's date index walked in order
    (no sort of the matches), the same ids in the same order as the matches driving the loop
    give (a limit makes search take that way)."""
    _, ids = big_store
    found: list[int] = []
    plans = plans_of(
        conn, lambda: found.extend(search.search(conn, "sender", folder_ids=ids["big"]))
    )
    (_, plan) = plans[-1]
    assert "SEARCH messages USING COVERING INDEX messages_by_date (folder_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert len(found) == BIG
    assert found == search.search(conn, "sender", folder_ids=ids["big"], limit=BIG + 1)
    # A sparse word, and a folder where the word is everywhere but that is not one folder, take
    # the other way.
    for query, folders in (("subject 42", [ids["big"]]), ("sender", [ids["big"], ids["small"]])):
        (_, plan) = plans_of(conn, lambda q=query, f=folders: search.search(conn, q, folder_ids=f))[
            -1
        ]
        assert plan.splitlines()[0].startswith("SCAN messages_fts VIRTUAL TABLE"), plan


def test_writes_on_a_big_folder(conn: db.StoreConnection, big_store: tuple[Path, dict]) -> None:
    """Ingest with threading, flag updates, ops and expunges touch rows by key only."""
    _, ids = big_store
    big = ids["big"]
    reply = make_message(message_id="new-reply@x", in_reply_to="500@example.org")
    stored: list[int] = []
    assert_no_scans(
        plans_of(
            conn, lambda: stored.append(write.store_message(conn, big, raw=reply, uid=BIG + 7))
        )
    )
    assert_no_scans(plans_of(conn, lambda: write.set_flags(conn, big, {10: [FLAGGED], 11: []})))
    assert_no_scans(plans_of(conn, lambda: ops.enqueue(conn, ops.OpKind.SEEN, stored)))
    assert_no_scans(plans_of(conn, lambda: ops.pending(conn, ids["account"])))
    assert_no_scans(plans_of(conn, lambda: write.expunge_uids(conn, big, [BIG + 7])))


def test_foreign_key_children_are_indexed(conn: db.StoreConnection) -> None:
    """Deleting a parent row looks its children up by index (a cascade over 100k rows must
    not scan every child table once per deleted row).
    """
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for fk in conn.execute(f"PRAGMA foreign_key_list({table})").fetchall():
            column = fk[3]
            indexed = any(
                conn.execute(f"PRAGMA index_info({index[1]})").fetchone()[2] == column
                for index in conn.execute(f"PRAGMA index_list({table})").fetchall()
            )
            primary = any(
                info[1] == column and info[5] == 1
                for info in conn.execute(f"PRAGMA table_info({table})").fetchall()
            )
            assert indexed or primary, f"{table}.{column} references {fk[2]} without an index"


def test_plans_helper_sees_a_scan(conn: db.StoreConnection) -> None:
    """The check itself works: a query without a usable index is reported."""
    plans = plans_of(
        conn, lambda: conn.execute("SELECT id FROM messages WHERE subject = 'x'").fetchall()
    )
    with pytest.raises(pytest.fail.Exception):
        assert_no_scans(plans)


def test_a_folder_conversations_with_their_roots(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    """The threaded list reads the conversations the store keeps, in their date index's order
    (never grouping the folder's messages, never sorting); for several folders, each
    conversation's root is looked up by the key."""
    _, ids = big_store
    heads = conversations.thread_heads(conn, [ids["big"]])
    assert len(heads) > 1
    (statement, plan), *_ = plans_of(conn, lambda: conversations.thread_heads(conn, [ids["big"]]))
    assert "FROM messages" not in statement
    assert "conversations USING INDEX conversations_by_date (folder_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    (statement, plan), *_ = plans_of(
        conn, lambda: conversations.thread_heads(conn, [ids["big"], ids["small"]])
    )
    assert "FROM messages" not in statement
    assert "SEARCH r USING PRIMARY KEY (folder_id=? AND thread_id=?)" in plan, plan
    # The list itself: the roots alone, from the date index alone; the lines shown, by keys.
    (_, plan), *_ = plans_of(conn, lambda: conversations.conversation_roots(conn, [ids["big"]]))
    assert "USING COVERING INDEX conversations_by_date (folder_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    page = [head.message_id for head in heads[:50]]
    (_, plan), *_ = plans_of(conn, lambda: conversations.heads_of(conn, [ids["big"]], page))
    lines = [line for line in plan.splitlines() if line.startswith("SEARCH")]
    assert lines[0].startswith("SEARCH m USING INTEGER PRIMARY KEY (rowid=?)"), plan
    assert lines[1].startswith("SEARCH c USING PRIMARY KEY (folder_id=? AND thread_id=?)"), plan


def test_the_first_page_of_a_common_word_walks_the_date_index(
    conn: db.StoreConnection, big_store: tuple[Path, dict]
) -> None:
    _, ids = big_store
    for folder_ids in (ids["big"], [ids["big"], ids["small"]], None):
        found: list[object] = []

        def first_page(folder_ids: object = folder_ids, found: list[object] = found) -> None:
            found.append(search.has_many_matches(conn, "sender"))
            found.append(search.first_page(conn, "sender", folder_ids=folder_ids))  # type: ignore[arg-type]

        # All mail walks every folder: their list (one row each, a few hundred at most) is
        # the one table read whole.
        plans = [p for p in plans_of(conn, first_page) if p[0] != "SELECT id, total FROM folders"]
        assert found[0] is True
        assert isinstance(found[1], list) and len(found[1]) == search.FIRST_PAGE
        assert_no_scans(plans)
        walks = [plan for statement, plan in plans if "ORDER BY sort_date" in statement]
        assert walks and all("TEMP B-TREE" not in plan for plan in walks), walks
