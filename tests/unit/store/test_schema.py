"""Schema versions and migrations, and the documentation at the top of schema.py."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tuimail.store import db, migrations, outbox, read, schema, write


def schema_of(path: Path) -> list[tuple[str, str, str, str | None]]:
    """Everything sqlite_master says about a database, in a stable order."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def store_at_version(path: Path, version: int) -> None:
    """A database migrated step by step from empty up to `version`, as an older tuimail left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert schema.apply_migrations(conn, target=version) == version
        assert schema.user_version(conn) == version
    finally:
        conn.close()


def test_every_earlier_version_migrates_to_the_fresh_schema(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / db.DB_FILENAME
    db.connect(fresh).close()
    expected = schema_of(fresh)
    assert expected, "a fresh store has tables"
    for version in range(schema.SCHEMA_VERSION):
        path = tmp_path / f"v{version}" / db.DB_FILENAME
        path.parent.mkdir()
        store_at_version(path, version)
        conn = db.connect(path)
        try:
            assert schema.user_version(conn) == schema.SCHEMA_VERSION
        finally:
            conn.close()
        assert schema_of(path) == expected, f"a store of version {version} migrated differently"


def test_next_migration_is_one_entry_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the next schema change will look: one appended entry, and a store of the previous
    version opens with its data intact.
    """
    path = tmp_path / db.DB_FILENAME
    conn = db.connect(path)
    account = write.ensure_account(conn, "old", None)
    conn.close()

    monkeypatch.setattr(
        schema, "MIGRATIONS", [*schema.MIGRATIONS, "ALTER TABLE accounts ADD COLUMN note TEXT"]
    )
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert read.account_id(conn, "old") == account
        columns = [row[1] for row in conn.execute("PRAGMA table_info(accounts)")]
        assert "note" in columns
    finally:
        conn.close()


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / db.DB_FILENAME
    db.connect(path).close()
    before = schema_of(path)
    broken = "CREATE TABLE half_done (a INTEGER);\nSELECT no_such_function();\n"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with pytest.raises(db.StoreError, match="no_such_function"):
        db.connect(path)
    assert schema_of(path) == before
    conn = sqlite3.connect(path)
    try:
        assert schema.user_version(conn) == len(schema.MIGRATIONS) - 1
    finally:
        conn.close()


def test_statements_keep_trigger_bodies_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE t (a);
    CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN
        UPDATE t SET a = 1;
        DELETE FROM t WHERE a = 2;
    END;
    """
    parts = list(schema.statements(script))
    assert len(parts) == 2
    assert parts[0] == "CREATE TABLE t (a);"
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


def test_statements_accept_a_last_statement_without_semicolon() -> None:
    assert list(schema.statements("CREATE TABLE t (a);\nCREATE TABLE u (b)")) == [
        "CREATE TABLE t (a);",
        "CREATE TABLE u (b);",
    ]


def test_statements_refuse_an_unfinished_statement() -> None:
    unfinished = "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n    UPDATE t SET a = 1;\n"
    with pytest.raises(ValueError, match="incomplete"):
        list(schema.statements(unfinished))


def test_every_table_and_column_is_documented(conn: db.StoreConnection) -> None:
    doc = schema.__doc__ or ""
    words = set(re.findall(r"[a-z_0-9]+", doc))
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'messages_fts_%'"
        )
    ]
    assert "messages" in tables and "outbox" in tables
    for table in tables:
        assert re.search(rf"^{table}\b", doc, re.MULTILINE), f"table {table} is not documented"
        if table == "messages_fts":
            continue
        for column in conn.execute(f"PRAGMA table_xinfo({table})"):
            assert column[1] in words, f"column {table}.{column[1]} is not documented"


def test_a_version_1_store_opens_at_the_current_version_with_its_data(tmp_path: Path) -> None:
    """Schemas 2 to 4 only add tables (partial bodies, drafts, draft parts, outbox originals
    and refusals): accounts and folders stay."""
    path = tmp_path / db.DB_FILENAME
    store_at_version(path, 1)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', 'imap', 0)")
    finally:
        raw.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert read.account_id(conn, "old") is not None
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert {"partial_bodies", "drafts", "draft_parts"} <= tables
    finally:
        conn.close()


def test_a_version_2_store_gets_the_outbox_originals_and_refusals(tmp_path: Path) -> None:
    """Schema 4 adds two tables beside the outbox; queued items stay as they were."""
    path = tmp_path / db.DB_FILENAME
    store_at_version(path, 2)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', 'imap', 0)")
        raw.execute(
            "INSERT INTO outbox (account_id, message_id, raw, env_from, env_rcpts, state,"
            " next_attempt, created, updated, revision)"
            " VALUES (1, 'm@x', x'41', 'a@x', '[\"b@x\"]', 'queued', 0, 0, 0, 0)"
        )
    finally:
        raw.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert {"outbox_originals", "outbox_refusals"} <= tables
        assert [item.message_id for item in outbox.items(conn)] == ["m@x"]
    finally:
        conn.close()


def test_a_version_4_store_keeps_its_folders_with_no_mailbox_id_yet(tmp_path: Path) -> None:
    """Schema 5 adds folders.mailbox_id: a cached folder has none until the server tells it
    (the next sync then checks the folder by what it holds before trusting it)."""
    path = tmp_path / db.DB_FILENAME
    store_at_version(path, 4)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', 'imap', 0)")
        raw.execute(
            "INSERT INTO folders (account_id, name, uidvalidity, uidnext, revision)"
            " VALUES (1, 'Work', 7, 4, 0)"
        )
    finally:
        raw.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        account = read.account_id(conn, "old")
        assert account is not None
        work = read.find_folder(conn, account, "Work")
        assert work is not None and (work.uidvalidity, work.uidnext) == (7, 4)
        assert work.mailbox_id is None
        write.reset_folder(conn, work.id, 7, mailbox_id="F1")
        again = read.folder(conn, work.id)
        assert again is not None and again.mailbox_id == "F1" and again.uidnext is None
    finally:
        conn.close()


def test_a_version_4_store_gets_an_empty_folder_prefix_and_keeps_its_folders(
    tmp_path: Path,
) -> None:
    """Schema 5 adds the server's personal namespace prefix to accounts: unknown ('') until the
    next sync asks, and the folders show as before."""
    path = tmp_path / db.DB_FILENAME
    store_at_version(path, 4)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("INSERT INTO accounts (name, protocol, created) VALUES ('old', 'imap', 0)")
        raw.execute(
            "INSERT INTO folders (account_id, name, delimiter, role, revision)"
            " VALUES (1, 'INBOX.Lists.dev', '.', '', 0)"
        )
    finally:
        raw.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        [folder] = read.folders(conn)
        assert folder.name == "INBOX.Lists.dev"
        assert folder.path == ("INBOX", "Lists", "dev")
    finally:
        conn.close()


def test_a_store_of_the_version_before_several_originals_keeps_its_outbox_originals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema 10 keys outbox_originals by (item, message), so a forward of several messages can
    name them all: a queued reply of the version before keeps its original, and a new item can
    then have several."""
    from tests.support.mailfactory import make_message
    from tests.support.old_store import store_as_of
    from tuimail.store import outbox_originals

    previous = schema.MIGRATIONS.index(migrations.V10)
    path = tmp_path / db.DB_FILENAME
    # The messages as that release wrote them (today's code writes today's form).
    first, second = store_as_of(
        tmp_path, previous, [make_message(message_id=f"o{n}@x") for n in (1, 2)]
    )
    account = 1
    with monkeypatch.context() as older:
        older.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:previous])
        older.setattr(schema, "SCHEMA_VERSION", previous)
        conn = db.connect(path)
        try:
            item = outbox.enqueue(
                conn, account, b"Subject: re\r\n\r\nHi\r\n", message_id="r@x",
                env_from="a@x", env_rcpts=["b@x"],
            )  # fmt: skip
            outbox_originals.set_originals(conn, item, [(first, "\\Answered")])
            assert schema.user_version(conn) == previous
        finally:
            conn.close()
    conn = db.connect(path)
    try:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert outbox_originals.originals(conn, item) == ((first, "\\Answered"),)
        other = outbox.enqueue(
            conn, account, b"Subject: fwd\r\n\r\nHi\r\n", message_id="f@x",
            env_from="a@x", env_rcpts=["b@x"],
        )  # fmt: skip
        outbox_originals.set_originals(conn, other, [(first, "$Forwarded"), (second, "$Forwarded")])
        assert outbox_originals.originals(conn, other) == (
            (first, "$Forwarded"),
            (second, "$Forwarded"),
        )
        assert outbox_originals.originals(conn, item) == ((first, "\\Answered"),)
        # The index that finds an original's items is there again, and rows still go with
        # their item.
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "outbox_originals_by_message" in indexes
        outbox.cancel(conn, item)
        assert outbox_originals.originals(conn, item) == ()
    finally:
        conn.close()
