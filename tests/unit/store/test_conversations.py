"""The conversations table the store keeps by triggers: after any mix of what changes messages
(new mail joining and merging threads, flags from the server and the user, moves, copies,
deletes, expunges, undo, a folder deleted) it holds what grouping the messages gives."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from tests.support.mailfactory import make_message
from tuimail.core.model import FLAGGED, SEEN, FolderRole, Protocol
from tuimail.store import conversations, db, ops, read, undo, write
from tuimail.store.schema import apply_migrations

DATES = [f"Mon, 02 Mar 2026 10:0{n}:00 +0000" for n in range(4)]  # few: dates tie often

# What the table must hold, from the messages themselves.
GROUPED = r"""
SELECT folder_id, thread_id, count(*), sum(NOT seen),
    sum(instr(' ' || flags || ' ', ' \Flagged ') > 0), max(sort_date), max(id),
    (SELECT r.sort_date FROM messages AS r WHERE r.thread_id = m.thread_id
        AND r.folder_id = m.folder_id ORDER BY r.sort_date, r.id LIMIT 1),
    (SELECT r.id FROM messages AS r WHERE r.thread_id = m.thread_id
        AND r.folder_id = m.folder_id ORDER BY r.sort_date, r.id LIMIT 1)
FROM messages AS m GROUP BY folder_id, thread_id ORDER BY folder_id, thread_id
"""
KEPT = """
SELECT folder_id, thread_id, messages, unread, flagged, newest_date, last_id, root_date, root_id
FROM conversations ORDER BY folder_id, thread_id
"""
# The threaded list's order and counts as they were computed before the table existed.
HEADS_OF_GROUPING = r"""
SELECT (SELECT r.id FROM messages AS r WHERE r.thread_id = g.thread_id
    AND r.folder_id IN ({marks}) ORDER BY r.sort_date, r.id LIMIT 1),
    g.thread_id, g.n, g.unread, g.flagged FROM (
    SELECT thread_id, count(*) AS n, sum(seen = 0) AS unread,
        sum(instr(' ' || flags || ' ', ' \Flagged ') > 0) AS flagged,
        max(sort_date) AS newest, max(id) AS last
    FROM messages WHERE folder_id IN ({marks}) GROUP BY thread_id
) AS g ORDER BY g.newest DESC, g.last DESC
"""


def assert_kept(conn: sqlite3.Connection, folder_ids: list[int]) -> None:
    assert conn.execute(KEPT).fetchall() == conn.execute(GROUPED).fetchall()
    for place in ([f] for f in folder_ids), [folder_ids]:
        for ids in place:
            sql = HEADS_OF_GROUPING.format(marks=",".join("?" * len(ids)))
            want = [conversations.ThreadHead(*r) for r in conn.execute(sql, [*ids, *ids])]
            assert conversations.thread_heads(conn, ids) == want


class Walk:
    """Random changes to a store of three folders of one IMAP account."""

    def __init__(self, conn: db.StoreConnection, seed: int) -> None:
        self.conn = conn
        self.rng = random.Random(seed)
        self.account = write.ensure_account(conn, "work", Protocol.IMAP)
        self.folders = [self._folder(name) for name in ("INBOX", "Archive", "Lists")]
        self.uid = 0
        self.sent = 0
        self.undoable: list[undo.Done] = []

    def _folder(self, name: str) -> int:
        role = FolderRole.INBOX if name == "INBOX" else FolderRole.NONE
        folder_id = write.upsert_folder(self.conn, self.account, name, role=role)
        write.update_folder_state(self.conn, folder_id, uidvalidity=7)
        return folder_id

    def messages(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT id FROM messages")]

    def step(self) -> None:
        rng = self.rng
        action = rng.choice(
            ["store"] * 6 + ["flags", "user", "user", "expunge", "undo", "folder", "redate"]
        )
        getattr(self, action)()

    def store(self) -> None:
        rng = self.rng
        self.sent += 1
        # Replies to earlier messages, some to ones never seen: orphans, then merges.
        parents = [f"m{rng.randrange(self.sent + 3)}@x" for _ in range(rng.randrange(3))]
        raw = make_message(
            message_id=f"m{self.sent}@x" if rng.random() < 0.9 else f"m{rng.randrange(9)}@x",
            in_reply_to=parents[0] if parents else None,
            references=parents,
            date=rng.choice(DATES),
        )
        self.uid += 1
        flags = [f for f in (SEEN, FLAGGED) if rng.random() < 0.4]
        write.store_message(self.conn, rng.choice(self.folders), raw=raw, uid=self.uid, flags=flags)

    def flags(self) -> None:
        """Flags as a server reports them."""
        rng = self.rng
        folder = rng.choice(self.folders)
        uids = [r[0] for r in self.conn.execute(
            "SELECT uid FROM messages WHERE folder_id = ? AND uid IS NOT NULL", (folder,)
        )]  # fmt: skip
        chosen = rng.sample(uids, min(len(uids), 3))
        write.set_flags(
            self.conn,
            folder,
            {uid: [f for f in (SEEN, FLAGGED) if rng.random() < 0.5] for uid in chosen},
        )

    def user(self) -> None:
        """What the user does to a few messages (undoable)."""
        rng = self.rng
        ids = self.messages()
        if not ids:
            return
        chosen = rng.sample(ids, min(len(ids), rng.randint(1, 4)))
        kind = rng.choice(list(ops.OpKind))
        if kind is ops.OpKind.EXPUNGE:
            kind = ops.OpKind.DELETE
        flag = FLAGGED if kind in (ops.OpKind.FLAG, ops.OpKind.UNFLAG) else None
        target = rng.choice(self.folders) if kind in (ops.OpKind.MOVE, ops.OpKind.COPY) else None
        self.undoable.extend(undo.act_all(self.conn, kind, chosen, flag=flag, to_folder_id=target))

    def expunge(self) -> None:
        folder = self.rng.choice(self.folders)
        uids = [r[0] for r in self.conn.execute(
            "SELECT uid FROM messages WHERE folder_id = ? AND uid IS NOT NULL", (folder,)
        )]  # fmt: skip
        write.expunge_uids(self.conn, folder, self.rng.sample(uids, min(len(uids), 2)))

    def undo(self) -> None:
        if self.undoable:
            undo.undo(self.conn, self.undoable.pop(), None)

    def redate(self) -> None:
        """A message's date changed in place (nothing does this today; the table follows it)."""
        ids = self.messages()
        if ids:
            with db.transaction(self.conn):
                self.conn.execute(
                    "UPDATE messages SET sort_date = sort_date + ? WHERE id = ?",
                    (self.rng.choice([-120, 60, 600]), self.rng.choice(ids)),
                )

    def folder(self) -> None:
        """A folder deleted with all in it (rarely), then made again."""
        if self.rng.random() < 0.2:
            folder = self.rng.choice(self.folders[1:])
            name = read.folder(self.conn, folder).name  # type: ignore[union-attr]
            self.undoable.clear()
            write.delete_folder(self.conn, folder)
            self.folders[self.folders.index(folder)] = self._folder(name)


@pytest.mark.parametrize("seed", range(4))
def test_the_kept_conversations_are_what_grouping_the_messages_gives(
    conn: db.StoreConnection, seed: int
) -> None:
    walk = Walk(conn, seed)
    shared = spread = 0  # steps with a conversation of several messages, of several folders
    for _ in range(250):
        walk.step()
        assert_kept(conn, walk.folders)
        kept = conn.execute("SELECT messages FROM conversations").fetchall()
        shared += any(n > 1 for (n,) in kept)
        spread += len(conversations.thread_heads(conn, walk.folders)) < len(kept)
    # The walk did what it is for: threads joined, and conversations across folders.
    assert shared > 50 and spread > 50, (shared, spread)


def test_a_store_of_the_previous_version_gets_its_conversations(tmp_path: Path) -> None:
    """The migration fills the table from the messages already there."""
    data_dir = tmp_path / "data"
    conn = db.open_store(data_dir)
    walk = Walk(conn, 11)
    for _ in range(120):
        walk.step()
    expected = conn.execute(GROUPED).fetchall()
    assert len(expected) > 5
    conn.close()
    # Back to the version before the table: as a store made by the last release is.
    raw = sqlite3.connect(data_dir / db.DB_FILENAME, isolation_level=None)
    raw.execute("DROP TABLE conversations")
    for (name,) in raw.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'conversations%'"
    ).fetchall():
        raw.execute(f"DROP TRIGGER {name}")
    raw.execute("PRAGMA user_version = 13")
    raw.close()
    conn = db.open_store(data_dir)
    try:
        assert conn.execute(KEPT).fetchall() == expected
        assert_kept(conn, walk.folders)
    finally:
        conn.close()


def test_the_migration_step_is_the_last(conn: db.StoreConnection) -> None:
    """(The test above takes the store back one version: this step must be the last one.)"""
    assert apply_migrations(conn) == 14


def test_a_store_written_as_the_last_release_did_gets_its_conversations(tmp_path: Path) -> None:
    """The same from a store written with SQL alone at version 13, as that release left it."""
    from tests.support.old_store import store_as_of

    raws = [make_message(message_id=f"old{n}@x", date=DATES[n % 4]) for n in range(5)]
    store_as_of(tmp_path, 13, raws)
    conn = db.open_store(tmp_path)
    try:
        assert len(conn.execute(KEPT).fetchall()) == 5
        assert conn.execute(KEPT).fetchall() == conn.execute(GROUPED).fetchall()
        inbox = conn.execute("SELECT id FROM folders WHERE name = 'INBOX'").fetchone()[0]
        assert_kept(conn, [inbox])
    finally:
        conn.close()
