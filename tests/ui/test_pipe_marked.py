"""| with messages marked: all of them go to one run of the command, as an mbox (mboxrd, in the
list's order), so that `git am` or `formail` take them; the prompt says how many; a message not
whole on this computer is downloaded first. The command still runs without a shell."""

from __future__ import annotations

import mailbox
import shlex
import sys
from pathlib import Path

from textual.widgets import Input, Static

from tests.support.demo_app import DemoStore, demo_app
from tuimail.mail.formats.export import unquote_from_lines
from tuimail.store import ops, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.ui.messages import BodyWanted, StoreUpdated
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.screens.prompt import LinePrompt
from tuimail.ui.widgets.message_list import MessageList

# A message whose body has lines an mbox reader could take for separators: quoted in the stream.
TRICKY = (
    b"From: Patch Author <author@example.org>\r\nTo: you@demo.invalid\r\n"
    b"Subject: [PATCH] quoting\r\nDate: 22 Nov 2026 12:00:30 +0000\r\n"
    b"Message-ID: <patch.1@example.org>\r\n\r\n"
    b"From the start of a line\r\n>From quoted once\r\n-- \r\n2.45.0\r\n"
)

RECORDER = """\
import sys
data = sys.stdin.buffer.read()
open(sys.argv[1], "wb").write(data)
sys.stdout.write(f"got {len(data)} bytes\\n")
"""


def _with_tricky(data_dir: Path) -> None:
    """The demo store, with TRICKY the newest message of the INBOX (the list's first line)."""
    conn = open_store(data_dir)
    try:
        inbox = next(f for f in read.folders(conn) if f.name == "INBOX")
        store_message(conn, inbox.id, raw=TRICKY)
    finally:
        conn.close()


async def _mark_first_and_third(pilot) -> list[int]:  # type: ignore[no-untyped-def]
    """Mark the 3rd line, then the 1st: the marks' order is not the list's."""
    messages = pilot.app.screen.query_one(MessageList)
    messages.focus()
    await pilot.press("j", "j", "v", "k", "k", "k", "v")
    chosen = messages.marked_ids()
    assert chosen == [messages.ids[0], messages.ids[2]]
    return chosen


async def _pipe_marked(pilot, command: str) -> LinePrompt:  # type: ignore[no-untyped-def]
    """| and the command typed; returns the prompt it was typed into."""
    await pilot.press("vertical_line")
    await pilot.pause()
    prompt = pilot.app.screen
    assert isinstance(prompt, LinePrompt)  # no question about parts: whole messages go
    prompt.query_one("#answer", Input).value = command
    await pilot.press("enter")
    await pilot.pause()
    return prompt


async def _output(pilot) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The output screen's status and output, once the command has ended."""
    for _ in range(400):  # the worker runs a real process
        screen = pilot.app.screen
        if isinstance(screen, PipeOutputScreen) and screen.outcome is not None:
            await pilot.pause()
            status = str(screen.query_one("#pipe-status", Static).render())
            return status, str(screen.query_one("#pipe-output", Static).render())
        await pilot.pause(0.05)
    raise AssertionError("the command did not end")


async def test_the_marked_messages_go_to_one_run_as_an_mbox(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "data"
    demo_store(data_dir)
    _with_tricky(data_dir)
    app = demo_app(data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _mark_first_and_third(pilot)
        prompt = await _pipe_marked(pilot, "grep -c '^From '")
        assert "Pipe 2 messages (as one mbox) to the command" in prompt.prompt_title
        status, output = await _output(pilot)
        # One From line per message: the body's own are quoted (">From "), and the quotes
        # were split like a shell's words, nothing expanded.
        assert output.strip() == "2"
        assert "Exit status 0." in status
        assert "grep -c '^From '" in status


async def test_the_mbox_holds_the_exact_bytes_in_the_lists_order(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "data"
    demo_store(data_dir)
    _with_tricky(data_dir)
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    recorded = tmp_path / "stdin.mbox"
    app = demo_app(data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        chosen = await _mark_first_and_third(pilot)
        await _pipe_marked(pilot, shlex.join([sys.executable, str(script), str(recorded)]))
        status, output = await _output(pilot)
        assert "Exit status 0." in status and "got " in output
        bodies = [read.body(app.conn, message_id) for message_id in chosen]
        rows = read.rows(app.conn, chosen)
    box = mailbox.mbox(recorded, create=False)
    try:
        keys = list(box.iterkeys())
        assert [unquote_from_lines(box.get_bytes(key)) for key in keys] == bodies
        separators = [box[key].get_from() for key in keys]
    finally:
        box.close()
    assert bodies[0] == TRICKY
    assert separators[0].startswith("author@example.org ")
    assert [s.split()[0] for s in separators] == [
        row.envelope.from_[0].email if row.envelope.from_ else "MAILER-DAEMON" for row in rows
    ]


async def test_a_marked_message_not_here_yet_is_downloaded_before_the_command_runs(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "data"
    demo_store(data_dir)
    app = demo_app(data_dir)
    wanted: list[BodyWanted] = []

    def hook(message: object) -> None:
        if isinstance(message, BodyWanted) and all(message is not m for m in wanted):
            wanted.append(message)

    async with app.run_test(size=(120, 36), message_hook=hook) as pilot:
        await pilot.pause()
        chosen = await _mark_first_and_third(pilot)
        # The second marked message has only its headers here, as a sync leaves it.
        later = chosen[1]
        full = read.body(app.conn, later)
        assert full is not None
        app.conn.execute("DELETE FROM bodies WHERE message_id = ?", (later,))
        app.conn.execute("UPDATE messages SET body_local = 0 WHERE id = ?", (later,))
        app.conn.commit()
        await _pipe_marked(pilot, "wc -l")
        assert [(m.message_id, m.full) for m in wanted] == [(later, True)]
        assert isinstance(app.screen, MainScreen), "nothing runs before every message is here"

        # The body worker brings it: then the command runs, once, with both.
        conn = open_store(data_dir)
        try:
            write.store_body(conn, later, full)
            row = read.row(conn, later)
            assert row is not None
            app.screen.post_message(StoreUpdated((row.folder_id,)))
        finally:
            conn.close()
        status, output = await _output(pilot)
        first = read.body(app.conn, chosen[0])
        assert first is not None
        # Two From lines, each message's lines, and the LF after each.
        lines = 2 + first.count(b"\n") + full.count(b"\n") + 2
        assert output.strip() == str(lines)
        assert "Exit status 0." in status


async def test_a_marked_message_gone_while_the_prompt_is_open_runs_nothing(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    data_dir = tmp_path / "data"
    demo_store(data_dir)
    app = demo_app(data_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        chosen = await _mark_first_and_third(pilot)
        await pilot.press("vertical_line")
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, LinePrompt)
        # Another client deletes one of them while the user types the command.
        conn = open_store(data_dir)
        try:
            ops.enqueue(conn, ops.OpKind.DELETE, [chosen[1]])
        finally:
            conn.close()
        prompt.query_one("#answer", Input).value = "wc -l"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        notices = " ".join(str(n.message) for n in app._notifications)
        assert "1 of the messages went meanwhile" in notices and "nothing was done" in notices
