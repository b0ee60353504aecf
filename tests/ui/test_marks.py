"""Marking messages in the list and acting on all of them at once, driven by keys: v, V, * and U
mark and unmark, N, F, d, s, C, f and ctrl+f act on every marked message, M marks a folder read.
Marks follow messages, never lines: changes in the background (new mail, another client's
deletes) neither move them nor turn an action onto other messages."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from rich.color import Color
from textual.widgets import Input

from tests.support.demo_app import DemoStore
from tests.support.pilot import searched
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.schema import Config
from tuimail.core.model import FLAGGED, FORWARDED, SEEN, FolderRole, Protocol
from tuimail.store import conversations, drafts, ops, outbox, outbox_originals, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import StoreChanged
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.help import HelpScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import Confirm, LinePrompt
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _folder(conn, name: str) -> read.FolderInfo:
    return next(f for f in read.folders(conn) if f.name == name)


def _notices(app: TuimailApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


def _status(app: TuimailApp) -> str:
    return app.screen.query_one(StatusBar)._line.plain


def _line(messages: MessageList, index: int) -> str:
    return messages.render_line(index - round(messages.scroll_offset.y)).text


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()


def _message(subject: str, day: int) -> bytes:
    """A message dated `day` seconds past noon on the demo's day: newer than the demo's mail."""
    return (
        f"From: Sender {day} <s{day}@example.org>\r\nTo: you@demo.invalid\r\n"
        f"Subject: {subject}\r\nDate: 22 Nov 2026 12:00:{day:02d} +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{day}@example.org>\r\n\r\nHello.\r\n"
    ).encode()


def _engine(app: TuimailApp, data_dir: Path, change) -> None:
    """Change the store as an engine does (its own connection, in its own thread), then emit."""

    def work() -> None:
        conn = open_store(data_dir)
        try:
            inbox = _folder(conn, "INBOX")
            change(conn, inbox)
            app.bridge.emit(StoreChanged("demo", (inbox.id,), read.revision(conn)))
        finally:
            conn.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()


def _demo(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    demo_store(tmp_path)
    return TuimailApp(demo_config(), tmp_path, clock=lambda: NOW, start_workers=False)


async def test_v_marks_and_moves_down_V_marks_a_range_star_all_U_none(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        ids = list(messages.ids)
        await pilot.press("v")
        assert messages.cursor == 1, "v goes on to the next message"
        assert messages.marked_ids() == [ids[0]]
        assert "1 marked" in _status(app)
        assert "✓" in _line(messages, 0) and "✓" not in _line(messages, 1)
        # The marked line takes the theme's colour for marks.
        marked_colour = Color.parse(app.theme_variables["marked"])
        line = messages.render_line(0)
        assert any(s.style and s.style.bgcolor == marked_colour for s in line), line

        await pilot.press("j", "j", "V")  # from the last marked (the first) to the fourth
        assert messages.marked_ids() == ids[:4]
        assert messages.cursor == 3
        assert "4 marked" in _status(app)

        await pilot.press("k", "v")  # v on a marked message unmarks it
        assert messages.marked_ids() == [ids[0], ids[1], ids[3]]

        await pilot.press("asterisk")
        assert messages.marked_ids() == ids
        assert f"{len(ids)} marked" in _status(app)
        await pilot.press("U")
        assert messages.marked_ids() == []
        assert "marked" not in _status(app)

        # V with nothing marked says what to do, and marks nothing.
        await pilot.press("V")
        assert messages.marked_ids() == []
        assert "Mark a message first" in _notices(app)


async def test_star_in_a_search_marks_only_the_messages_found(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        everything = len(messages.ids)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"newsletter", "enter")
        await searched(pilot)
        found = list(messages.ids)
        assert 0 < len(found) < everything
        inbox = _folder(app.conn, "INBOX")
        others = [i for i in read.message_ids(app.conn, [inbox.id]) if i not in found]
        before = {row.id: row.flags for row in read.rows(app.conn, others)}
        await pilot.press("asterisk")
        assert messages.marked_ids() == found
        await pilot.press("F")
        assert all(FLAGGED in row.flags for row in read.rows(app.conn, found))
        assert {row.id: row.flags for row in read.rows(app.conn, others)} == before


async def test_read_and_flag_act_on_every_marked_message_and_u_undoes_them(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("v", "j", "v")  # the first and third
        chosen = messages.marked_ids()
        assert len(chosen) == 2
        before = {row.id: row.flags for row in read.rows(app.conn, messages.ids[:4])}
        # Some of them unread: N marks them all read; again: all unread.
        assert any(SEEN not in before[i] for i in chosen)
        await pilot.press("N")
        assert all(SEEN in r.flags for r in read.rows(app.conn, chosen))
        untouched = messages.ids[1]
        assert read.row(app.conn, untouched).flags == before[untouched]  # type: ignore[union-attr]
        await pilot.press("N")
        assert all(SEEN not in r.flags for r in read.rows(app.conn, chosen))
        await pilot.press("F")
        assert all(FLAGGED in r.flags for r in read.rows(app.conn, chosen))
        assert messages.marked_ids() == chosen, "marks stay after a change of flags"
        await pilot.press("u")
        assert all(FLAGGED not in r.flags for r in read.rows(app.conn, chosen))
        assert "Undone: 2 messages are not flagged" in _notices(app)


async def test_move_copy_and_delete_act_on_the_marked_messages(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        archive = _folder(app.conn, "Archive")
        archive_before = archive.total
        await pilot.press("v", "v", "v")
        chosen = messages.marked_ids()
        assert len(chosen) == 3

        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*"arch", "enter")
        await pilot.pause()
        assert _folder(app.conn, "Archive").total == archive_before + 3
        assert messages.marked_ids() == chosen, "a copy leaves the marked messages where they are"

        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"arch", "enter")
        await pilot.pause()
        assert {r.folder_id for r in read.rows(app.conn, chosen)} == {archive.id}
        assert _folder(app.conn, "Archive").total == archive_before + 6
        assert messages.marked_ids() == [], "marks go with the messages that left the list"
        assert "marked" not in _status(app)
        await pilot.press("u")
        await pilot.pause()
        inbox = _folder(app.conn, "INBOX")
        assert {r.folder_id for r in read.rows(app.conn, chosen)} == {inbox.id}
        assert "Undone: 3 messages are back in INBOX" in _notices(app)

        # d: to the Trash; there, marked again: for good, after asking (No by default).
        trash = _folder(app.conn, "Trash")
        await pilot.press("g", "v", "v", "d")
        await pilot.pause()
        moved = read.rows(app.conn, chosen[:2])
        assert {r.folder_id for r in moved} == {trash.id}
        app.screen.show_place((trash.id,))  # type: ignore[attr-defined]
        messages.focus()
        await pilot.pause()
        await pilot.press("asterisk", "d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("enter")  # No
        await pilot.pause()
        assert len(read.rows(app.conn, chosen[:2])) == 2
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert read.rows(app.conn, chosen[:2]) == []
        assert _folder(app.conn, "Trash").total == 0


async def test_ctrl_f_forwards_every_marked_message_in_one_composer(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j", "j", "v", "k", "k", "k", "v")  # marked in another order than listed
        chosen = messages.marked_ids()
        assert chosen == [messages.ids[0], messages.ids[2]]
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.draft.attached_messages == tuple(chosen)
        first = read.row(app.conn, chosen[0])
        assert app.screen.draft.subject == f"Fwd: {first.envelope.subject}"  # type: ignore[union-attr]


async def test_f_forwards_the_marked_messages_and_flags_them_only_once_sent(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """f with messages marked forwards them all, each attached whole (an inline forward is of
    one message). Queued, none is flagged $Forwarded yet (they are, all, when it is sent:
    tests/integration/test_app_sent_marks.py); taken back from the outbox (undo send), the
    draft still forwards every one and nothing is flagged."""
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("v", "j", "v")
        chosen = messages.marked_ids()
        assert chosen == [messages.ids[0], messages.ids[2]]
        await pilot.press("f")
        await pilot.pause()
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.draft.attached_messages == tuple(chosen)
        await pilot.press(*"bob@example.org")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        assert outbox_originals.originals(app.conn, item.id) == tuple(
            (message_id, FORWARDED) for message_id in chosen
        )
        assert all(FORWARDED not in row.flags for row in read.rows(app.conn, chosen))

        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("e")  # undo send: the message is a draft again
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert outbox.items(app.conn) == []
        (kept,) = drafts.live(app.conn)
        assert kept.draft.originals == tuple((message_id, FORWARDED) for message_id in chosen)
        assert all(FORWARDED not in row.flags for row in read.rows(app.conn, chosen))
        assert ops.pending(app.conn, kept.account_id) == []


async def test_a_message_dropped_from_a_forward_of_marked_ones_is_not_flagged(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("v", "v")
        chosen = messages.marked_ids()
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press(*"bob@example.org")
        await pilot.press("ctrl+b")  # drop an attachment: which one?
        await pilot.pause()
        assert isinstance(app.screen, LinePrompt)
        app.screen.query_one(Input).value = "1"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        (item,) = outbox.items(app.conn)
        assert outbox_originals.originals(app.conn, item.id) == ((chosen[1], FORWARDED),)


async def test_marks_stay_on_their_messages_through_background_changes(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """New mail arriving above moves every line, and another client deletes a marked message:
    the marks stay on the same messages, the deleted one's is dropped, and a move then takes
    exactly the marked messages, also when the update comes while the folder list is open."""
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j", "v", "v", "v", "v")  # the 2nd to the 5th
        chosen = messages.marked_ids()
        assert chosen == messages.ids[1:5]
        assert messages.cursor == 5

        _engine(app, tmp_path, lambda conn, inbox: store_message(
            conn, inbox.id, raw=_message("Brand new", 22)
        ))  # fmt: skip
        await _settle(pilot)
        assert messages.ids[2:6] == chosen, "every line moved down one"
        assert messages.marked_ids() == chosen
        assert "✓" in _line(messages, 2) and "✓" not in _line(messages, 1)

        gone = chosen[1]
        _engine(app, tmp_path, lambda conn, inbox: ops.enqueue(conn, ops.OpKind.DELETE, [gone]))
        await _settle(pilot)
        kept = [i for i in chosen if i != gone]
        assert messages.marked_ids() == kept
        assert "3 marked" in _status(app)

        archive = _folder(app.conn, "Archive")
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        # More new mail while the user picks the folder: it must not be taken along.
        _engine(app, tmp_path, lambda conn, inbox: store_message(
            conn, inbox.id, raw=_message("Newer still", 23)
        ))  # fmt: skip
        await _settle(pilot)
        await pilot.press(*"arch", "enter")
        await pilot.pause()
        in_archive = set(read.message_ids(app.conn, [archive.id]))
        assert set(kept) <= in_archive
        newest = [r.envelope.subject for r in read.rows(app.conn, list(in_archive))]
        assert "Brand new" not in newest and "Newer still" not in newest
        inbox = _folder(app.conn, "INBOX")
        assert inbox.total == len(messages.ids)


async def test_v_refuses_while_nothing_is_highlighted(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """The highlighted message is deleted in the background: the list is displaced, and v marks
    nothing (no message the user did not see highlighted) until the cursor moves."""
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("j", "j")
        gone = messages.current_message_id
        _engine(app, tmp_path, lambda conn, inbox: ops.enqueue(conn, ops.OpKind.DELETE, [gone]))
        await _settle(pilot)
        assert messages.displaced
        await pilot.press("v")
        await pilot.pause()
        assert messages.marked_ids() == []
        await pilot.press("j", "v")
        assert len(messages.marked_ids()) == 1


async def test_M_marks_the_folder_read_asking_first_when_there_are_many(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        inbox = _folder(app.conn, "INBOX")
        assert inbox.unread >= 10
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert f"Mark all {inbox.unread} unread messages in INBOX read?" in str(
            app.screen.question  # type: ignore[attr-defined]
        )
        # Mail arriving while the question is open stays unread: the user did not see it.
        _engine(app, tmp_path, lambda conn, inbox: store_message(
            conn, inbox.id, raw=_message("Arrived meanwhile", 22)
        ))  # fmt: skip
        await _settle(pilot)
        await pilot.press("y")
        await pilot.pause()
        after = _folder(app.conn, "INBOX")
        assert after.unread == 1
        late = read.rows(app.conn, read.message_ids(app.conn, [inbox.id]))
        assert [r.envelope.subject for r in late if SEEN not in r.flags] == ["Arrived meanwhile"]
        await pilot.press("u")
        await pilot.pause()
        assert _folder(app.conn, "INBOX").unread == inbox.unread + 1

        # In a folder with few unread messages it is done at once; in a search it is refused.
        few = next(f for f in read.folders(app.conn) if 0 < f.unread < 10)
        app.screen.show_place((few.id,))  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.press("M")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert read.folder(app.conn, few.id).unread == 0  # type: ignore[union-attr]
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"newsletter", "enter")
        await searched(pilot)
        await pilot.press("M")
        await pilot.pause()
        assert "End the search first" in _notices(app)


def _imap_store(data_dir: Path, count: int) -> tuple[int, int]:
    """An IMAP account's INBOX of `count` unread messages with UIDs, and an Archive."""
    conn = open_store(data_dir)
    try:
        account = write.ensure_account(conn, "work", Protocol.IMAP)
        inbox = write.upsert_folder(conn, account, "INBOX", delimiter="/", role=FolderRole.INBOX)
        archive = write.upsert_folder(
            conn, account, "Archive", delimiter="/", role=FolderRole.ARCHIVE
        )
        write.update_folder_state(conn, inbox, uidvalidity=7)
        write.update_folder_state(conn, archive, uidvalidity=8)
        for uid in range(1, count + 1):
            store_message(conn, inbox, raw=_message(f"Message {uid}", uid), uid=uid)
        return inbox, archive
    finally:
        conn.close()


async def test_on_an_imap_account_each_is_one_op_for_all_its_messages(tmp_path: Path) -> None:
    """What the replay carries to the server: marking three messages and moving them is one
    MOVE op naming the three; marking the folder read is one SEEN op naming every unread one
    (one STORE on the server)."""
    inbox, archive = _imap_store(tmp_path, 12)
    app = TuimailApp(Config(), tmp_path, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("v", "v", "v", "s")
        await pilot.pause()
        await pilot.press(*"arch", "enter")
        await pilot.pause()
        account = read.folder(app.conn, inbox).account_id  # type: ignore[union-attr]
        (move,) = ops.pending(app.conn, account)
        assert move.kind is ops.OpKind.MOVE and move.args["to_folder_id"] == archive
        assert sorted(t.uid for t in move.targets) == [10, 11, 12]

        await pilot.press("M", "y")
        await pilot.pause()
        _move, seen = ops.pending(app.conn, account)
        assert seen.kind is ops.OpKind.SEEN
        assert sorted(t.uid for t in seen.targets) == list(range(1, 10))


async def test_help_lists_the_marking_keys(tmp_path: Path, demo_store: DemoStore) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.rows)
        assert keys["v"] == "Mark / unmark, then the next message"
        assert keys["V"] == "Mark from the last marked to this one"
        assert keys["*"] == "Mark every message listed"
        assert keys["U"] == "Unmark every message"
        assert keys["M"] == "Mark the whole folder read"


async def test_v_on_a_closed_conversation_marks_all_of_it(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("t")
        index = next(
            i for i, mid in enumerate(messages.ids) if getattr(messages._head(mid), "count", 0) > 1
        )
        head = messages._head(messages.ids[index])
        await pilot.press(*["j"] * index, "v")
        inbox = _folder(app.conn, "INBOX")
        members = conversations.thread_members(app.conn, head.thread_id, [inbox.id])
        assert len(members) == head.count > 1
        assert sorted(messages.marked_ids()) == sorted(members)
        assert f"{head.count} marked" in _status(app)
        await pilot.press("N")
        assert all(SEEN in row.flags for row in read.rows(app.conn, members))
        await pilot.press(*["k"] * (messages.cursor - index), "v")  # unmarks all of it
        assert messages.marked_ids() == []


async def test_keys_after_new_mail_act_on_what_the_user_saw(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    """New mail arrives above while messages are marked: v marks the message the user had
    highlighted (not the line's new occupant), and F flags exactly the marked messages."""
    app = _demo(tmp_path, demo_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        await pilot.press("v", "v")
        highlighted = messages.current_message_id
        assert messages.cursor == 2
        inbox = _folder(app.conn, "INBOX")
        before = {
            r.id: r.flags for r in read.rows(app.conn, read.message_ids(app.conn, [inbox.id]))
        }

        _engine(app, tmp_path, lambda conn, inbox: store_message(
            conn, inbox.id, raw=_message("Brand new", 22)
        ))  # fmt: skip
        await _settle(pilot)
        assert read.row(app.conn, messages.ids[0]).envelope.subject == "Brand new"  # type: ignore[union-attr]
        await pilot.press("v")
        chosen = messages.marked_ids()
        assert chosen == messages.ids[1:4]
        assert chosen[-1] == highlighted
        await pilot.press("F")
        after = read.rows(app.conn, read.message_ids(app.conn, [inbox.id]))
        changed = {r.id for r in after if r.id in before and r.flags != before[r.id]}
        assert changed == {i for i in chosen if FLAGGED not in before[i]}
        assert all(FLAGGED in r.flags for r in read.rows(app.conn, chosen))
        new = next(r for r in after if r.id not in before)
        assert FLAGGED not in new.flags
