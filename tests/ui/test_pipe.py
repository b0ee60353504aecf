"""| : the message (or one attachment, decoded) on a command's standard input, run without a
shell in a worker, its output and exit status shown afterwards; a command that hangs is stopped."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from textual.widgets import Input, Static

from tests.support.demo_app import DemoStore, demo_app
from tuimail.app.pipe import run_pipe
from tuimail.store import read
from tuimail.ui.pipe import PipeJob
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.widgets.message_list import MessageList

PDF = b"%PDF-1.4 demo\n" * 400  # the demo's attachment, decoded

RECORDER = """\
import sys
data = sys.stdin.buffer.read()
open(sys.argv[1], "wb").write(data)
sys.stdout.write(f"got {len(data)} bytes\\n")
sys.stderr.write("\\x1b[31mred\\x1b]0;title\\x07 on stderr\\n")
sys.exit(3)
"""


async def _pipe(pilot, downs: int, part: str | None, command: str) -> PipeOutputScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    app.screen.query_one(MessageList).focus()
    await pilot.press(*["down"] * downs, "vertical_line")
    await pilot.pause()
    if part is not None:
        app.screen.query_one("#answer", Input).value = part
        await pilot.press("enter")
        await pilot.pause()
    app.screen.query_one("#answer", Input).value = command
    await pilot.press("enter")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, PipeOutputScreen)
    return screen


async def _ended(pilot, screen: PipeOutputScreen) -> None:  # type: ignore[no-untyped-def]
    for _ in range(400):  # the worker runs a real process
        if screen.outcome is not None:
            return
        await pilot.pause(0.05)
    raise AssertionError("the command did not end")


def _shown(screen: PipeOutputScreen) -> tuple[str, str]:
    status = str(screen.query_one("#pipe-status", Static).render())
    output = str(screen.query_one("#pipe-output", Static).render())
    return status, output


async def test_the_whole_message_reaches_the_command_byte_for_byte(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    recorded = tmp_path / "stdin.bin"
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        command = shlex.join([sys.executable, str(script), str(recorded)])
        # The message with the PDF: asked what to pipe, 0 is the whole message.
        screen = await _pipe(pilot, 2, "0", command)
        await _ended(pilot, screen)
        await pilot.pause()
        status, output = _shown(screen)
        message_id = app.main_screen.query_one(MessageList).current_message_id
        assert message_id is not None
        raw = read.body(app.conn, message_id)
        assert raw is not None
        assert recorded.read_bytes() == raw
        assert "Exit status 3." in status
        assert f"got {len(raw)} bytes" in output
        assert "red on stderr" in output  # stderr too, its escape sequences gone
        assert "\x1b" not in output and "title" not in output
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_one_attachment_is_piped_decoded(tmp_path: Path, demo_store: DemoStore) -> None:
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _pipe(pilot, 2, "1", "wc -c")
        await _ended(pilot, screen)
        await pilot.pause()
        status, output = _shown(screen)
        assert output.strip() == str(len(PDF))
        assert "Exit status 0." in status


async def test_no_shell_unless_asked(tmp_path: Path, demo_store: DemoStore) -> None:
    """`;` and `$HOME` are words for the command, not a shell's; `sh -c` gives a shell."""
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _pipe(pilot, 0, None, "echo $HOME; touch x")
        await _ended(pilot, screen)
        await pilot.pause()
        assert _shown(screen)[1].strip() == "$HOME; touch x"
        await pilot.press("escape")
        await pilot.pause()
        screen = await _pipe(pilot, 0, None, "sh -c 'wc -l | tr -d \" \"'")
        await _ended(pilot, screen)
        await pilot.pause()
        assert _shown(screen)[1].strip().isdigit()


async def test_a_command_that_hangs_is_stopped_with_c(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _pipe(pilot, 0, None, "sh -c 'echo started; sleep 600'")
        assert "Running" in _shown(screen)[0]
        await pilot.press("j", "k")  # the UI answers while the command runs
        await pilot.press("c")
        await _ended(pilot, screen)
        await pilot.pause()
        status, output = _shown(screen)
        assert "Cancelled." in status
        assert "started" in output


async def test_a_command_that_is_not_there_says_so(tmp_path: Path, demo_store: DemoStore) -> None:
    app = demo_app(demo_store(tmp_path / "data"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = await _pipe(pilot, 0, None, "no-such-command-here --x")
        await _ended(pilot, screen)
        await pilot.pause()
        assert "Not run: no command 'no-such-command-here' found." in _shown(screen)[0]
        await pilot.press("escape")
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("vertical_line")
        await pilot.pause()
        assert (
            app.screen.query_one("#answer", Input).value == "no-such-command-here --x"
        )  # offered again
        app.screen.query_one("#answer", Input).value = "echo 'unclosed"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # nothing ran


def test_the_output_is_bounded_and_a_timeout_stops_the_command() -> None:
    big = run_pipe(PipeJob([sys.executable, "-c", "print('x' * 100000)"], b"", "t", limit=1000))
    assert big.truncated and len(big.output) == 1000 and big.status == 0
    assert "output cut" in big.text()
    slow = run_pipe(PipeJob(["sh", "-c", "sleep 600 & wait"], b"", "t", timeout=0.5))
    assert slow.timed_out and slow.status is not None and slow.status < 0
    assert "Stopped after 0.5 seconds" in slow.summary(0.5)
