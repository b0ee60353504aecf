"""Deletes and moves on a server without UIDPLUS and MOVE (the reduced Dovecot): the originals
stay marked \\Deleted there, and `imap.expunge` decides what happens to them ("ask": counted and
shown, expunged when the user asks; "always": the folder is expunged at once; "never": left
marked). A second imapclient connection plays the user's other devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import imapclient
import pytest
from rich.console import Console

from tests.support.imap_sync import (
    ReducedDovecot,
    append,
    folder_id,
    new_mailbox,
    run_sync,
    server_view,
)
from tuimail.config.load import parse_config
from tuimail.store import ops, read
from tuimail.store.db import StoreConnection, open_store
from tuimail.sync.events import Event, MarkedDeleted
from tuimail.ui.screens.health import health_tables

pytestmark = pytest.mark.integration

WITHOUT = {"UIDPLUS", "MOVE"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreConnection]:
    conn = open_store(tmp_path)
    yield conn
    conn.close()


def marked(view: dict[int, tuple[frozenset[str], int]]) -> set[int]:
    return {uid for uid, (flags, _) in view.items() if "\\Deleted" in flags}


def health_text(conn: StoreConnection) -> str:
    console = Console(width=300, record=True)
    for table in health_tables(conn):
        console.print(table)
    return console.export_text()


def test_the_setting_is_read_from_the_config_and_checked() -> None:
    text = '[accounts.a]\naddress = "a@example.org"\n[accounts.a.imap]\nhost = "h"\n'
    assert parse_config(text).accounts["a"].incoming.expunge == "ask"  # type: ignore[union-attr]
    chosen = parse_config(text + 'expunge = "always"\n').accounts["a"].incoming
    assert chosen is not None and chosen.expunge == "always"
    with pytest.raises(Exception, match="expunge"):
        parse_config(text + 'expunge = "sometimes"\n')


@pytest.mark.parametrize("setting", ["ask", "never"])
def test_ask_and_never_leave_the_originals_marked_and_count_them(
    setting: str, reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=WITHOUT))
    append(box, 4)
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    newest, second, third, _ = read.message_ids(store, inbox)
    uids = {m: read.row(store, m).uid for m in (newest, second, third)}  # type: ignore[union-attr]
    ops.enqueue(store, ops.OpKind.MOVE, [newest], to_folder_id=folder_id(store, "Trash"))
    ops.enqueue(store, ops.OpKind.DELETE, [second])
    with box.device() as device:  # another client's mark, which only a plain EXPUNGE removes
        device.select_folder("INBOX")
        device.add_flags([uids[third]], [imapclient.DELETED])

    events: list[Event] = []
    result = run_sync(box, tmp_path, emit=events.append, expunge=setting)
    assert result.ops_replayed == 2 and not result.folder_errors
    view = server_view(box)
    assert marked(view) == {uids[newest], uids[second], uids[third]}, "nothing expunged"
    assert len(view) == 4
    assert read.marked_deleted(store) == {inbox: 3}
    assert "3 marked deleted but kept by the server (no UIDPLUS)" in result.summary()
    told = [e for e in events if isinstance(e, MarkedDeleted)]
    assert told == ([MarkedDeleted("acct", inbox, 3)] if setting == "ask" else [])
    # The list: what this client deleted or moved is gone from INBOX; what another client
    # marked is still there, with its \Deleted flag (the list strikes it through).
    rows = read.rows(store, read.message_ids(store, inbox))
    assert {r.uid for r in rows} == set(view) - {uids[newest], uids[second]}
    assert {r.uid for r in rows if "\\Deleted" in r.flags} == {uids[third]}
    health = health_text(store)
    assert "INBOX: 3 messages marked deleted stay on the server, because it has no UIDPLUS" in (
        " ".join(health.split())
    )


def test_always_expunges_the_folder_after_the_action(
    reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=WITHOUT))
    append(box, 3)
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    newest, second, oldest = read.message_ids(store, inbox)
    uids = {m: read.row(store, m).uid for m in (newest, second, oldest)}  # type: ignore[union-attr]
    ops.enqueue(store, ops.OpKind.MOVE, [newest], to_folder_id=folder_id(store, "Trash"))
    ops.enqueue(store, ops.OpKind.DELETE, [second])

    events: list[Event] = []
    result = run_sync(box, tmp_path, emit=events.append, expunge="always")
    assert result.ops_replayed == 2 and not result.folder_errors
    assert set(server_view(box)) == {uids[oldest]}, "expunged; the other message intact"
    assert len(server_view(box, "Trash")) == 1 and not marked(server_view(box, "Trash"))
    assert read.marked_deleted(store) == {}
    assert not [e for e in events if isinstance(e, MarkedDeleted)]
    assert "UIDPLUS" not in health_text(store)


def test_an_expunge_of_the_folder_removes_every_marked_message_and_nothing_else(
    reduced_dovecot: ReducedDovecot, store: StoreConnection, tmp_path: Path
) -> None:
    box = new_mailbox(reduced_dovecot(without=WITHOUT))
    append(box, 3)
    run_sync(box, tmp_path)
    inbox = folder_id(store, "INBOX")
    newest, second, oldest = read.message_ids(store, inbox)
    uids = {m: read.row(store, m).uid for m in (newest, second, oldest)}  # type: ignore[union-attr]
    ops.enqueue(store, ops.OpKind.DELETE, [newest])
    run_sync(box, tmp_path)
    assert read.marked_deleted(store) == {inbox: 1}

    assert ops.enqueue_folder_expunge(store, inbox) is not None
    result = run_sync(box, tmp_path)
    assert result.ops_replayed == 1 and not result.folder_errors
    assert set(server_view(box)) == {uids[second], uids[oldest]}
    assert not marked(server_view(box))
    assert read.marked_deleted(store) == {}
    account = read.account_id(store, "acct")
    assert account is not None and ops.pending(store, account) == []
