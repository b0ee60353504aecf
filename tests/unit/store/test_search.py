"""Full-text search: what users type never breaks the query; results are scoped and by date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.mailfactory import make_message
from tuimail.core.model import Protocol
from tuimail.store import db, search, write


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[db.StoreConnection, dict]]:
    """A small store shared by the read-only tests of this module."""
    conn = db.open_store(Path(tmp_path_factory.mktemp("search")))
    work = write.ensure_account(conn, "work", Protocol.IMAP)
    home = write.ensure_account(conn, "home", Protocol.POP3)
    inbox = write.upsert_folder(conn, work, "INBOX")
    lists = write.upsert_folder(conn, work, "Lists")
    home_inbox = write.upsert_folder(conn, home, "INBOX")
    ids = {
        "budget": write.store_message(
            conn,
            inbox,
            raw=make_message(
                subject="Budget review",
                sender="Carol Finance <carol@corp.example>",
                date="Mon, 02 Mar 2026 10:00:00 +0000",
                body="The quarterly numbers look fine.\r\n",
            ),
            uid=1,
        ),
        "party": write.store_message(
            conn,
            lists,
            raw=make_message(
                subject="Party on Friday",
                sender="Dave <dave@friends.example>",
                date="Wed, 04 Mar 2026 10:00:00 +0000",
                body="Bring the budget snacks and a cr\u00e8me br\u00fbl\u00e9e.\r\n",
            ),
            uid=1,
        ),
        "home": write.store_message(
            conn,
            home_inbox,
            raw=make_message(
                subject="Budgeting at home",
                sender="Erin <erin@home.example>",
                date="Tue, 03 Mar 2026 10:00:00 +0000",
                body='He said "hello" (twice) -- and AND OR NOT NEAR\r\n',
            ),
            uidl="h1",
        ),
    }
    ids.update(work=work, home_account=home, inbox=inbox, lists=lists)
    yield conn, ids
    conn.close()


def test_words_must_all_match(store: tuple[db.StoreConnection, dict]) -> None:
    conn, ids = store
    assert search.search(conn, "budget") == [ids["party"], ids["budget"]]
    assert search.search(conn, "budget quarterly") == [ids["budget"]]
    assert search.search(conn, "budget nonexistentword") == []


def test_prefix_phrase_and_accents(store: tuple[db.StoreConnection, dict]) -> None:
    conn, ids = store
    assert search.search(conn, "budget*") == [ids["party"], ids["home"], ids["budget"]]
    assert search.search(conn, '"numbers look"') == [ids["budget"]]
    assert search.search(conn, '"look numbers"') == []
    assert search.search(conn, "creme brulee") == [ids["party"]]


def test_fields(store: tuple[db.StoreConnection, dict]) -> None:
    conn, ids = store
    assert search.search(conn, "subject:budget") == [ids["budget"]]
    assert search.search(conn, "body:budget") == [ids["party"]]
    assert search.search(conn, "from:carol@corp.example") == [ids["budget"]]
    assert search.search(conn, "from:dave") == [ids["party"]]
    # Unknown prefixes are words, not fields.
    assert search.fts_query("re:hello") == '"re:hello"'


def test_scopes(store: tuple[db.StoreConnection, dict]) -> None:
    conn, ids = store
    assert search.search(conn, "budget*", folder_ids=ids["inbox"]) == [ids["budget"]]
    assert search.search(conn, "budget*", folder_ids=[ids["inbox"], ids["lists"]]) == [
        ids["party"],
        ids["budget"],
    ]
    assert search.search(conn, "budget*", account_id=ids["home_account"]) == [ids["home"]]
    assert search.search(conn, "budget*", folder_ids=[]) == []
    assert search.search(conn, "budget*", limit=1) == [ids["party"]]


def test_syntax_characters_are_searched_as_text(store: tuple[db.StoreConnection, dict]) -> None:
    conn, ids = store
    for query in ('"hello', "(twice", "AND", "OR NOT", "NEAR(", "--", "he said *", "hello)"):
        search.search(conn, query)  # must not raise
    assert search.search(conn, '"hello') == [ids["home"]]
    assert search.search(conn, "AND OR") == [ids["home"]]


def test_empty_queries_find_nothing(store: tuple[db.StoreConnection, dict]) -> None:
    conn, _ = store
    for query in ("", "   ", '""', "*", "subject:", 'from:""'):
        assert search.fts_query(query) is None
        assert search.search(conn, query) == []


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=60))
def test_no_input_is_an_fts_syntax_error(
    store: tuple[db.StoreConnection, dict], query: str
) -> None:
    conn, _ = store
    found = search.search(conn, query)
    assert all(isinstance(i, int) for i in found)


@settings(max_examples=200, deadline=None)
@given(
    query=st.text(
        alphabet=st.sampled_from(list('abc "*:()-^+{}[]NEAR AND OR NOT subject from body\x00\t')),
        max_size=40,
    )
)
def test_no_operator_soup_is_an_fts_syntax_error(
    store: tuple[db.StoreConnection, dict], query: str
) -> None:
    conn, _ = store
    search.search(conn, query)  # raises on a syntax error; nothing else to check here
    expression = search.fts_query(query)
    assert expression is None or expression.count('"') % 2 == 0
