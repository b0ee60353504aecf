"""Quitting ends the process, whatever the workers are doing; and while the app owns the
terminal, no log line is written across its screen (it is printed once the app has ended).

Both need a real process: a Pilot test runs on pytest's event loop, which goes on running after
the app has stopped, and the app has no terminal of its own there.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.terminal import PtyApp, scan_terminal_output

STALL_SECONDS = 2.0


@pytest.fixture
def stalling_server() -> Iterator[int]:
    """A loopback port that accepts connections, says nothing for a while, then closes them:
    a server too slow to answer before the user quits."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        held: list[tuple[socket.socket, float]] = []
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append((connection, time.monotonic()))
            except TimeoutError:
                pass
            for connection, since in list(held):
                if time.monotonic() - since > STALL_SECONDS:
                    connection.close()
                    held.remove((connection, since))
        for connection, _ in held:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


QUIT_DURING_CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tuimail.app.application import TuimailApp
    from tuimail.config.load import parse_config
    from tuimail.ui.messages import SetupCheck

    config = parse_config(sys.argv[1])
    account = config.accounts["slow"]

    class QuitsDuringACheck(TuimailApp):
        def on_ready(self) -> None:
            # The setup screen's Check of a server that has not answered yet, then the user quits.
            self.post_message(SetupCheck(account, "a password"))
            self.set_timer(0.5, self.exit)

    QuitsDuringACheck(config, Path(sys.argv[2]), start_workers=False).run(headless=True)
    print("exited")
    """
)


def test_quitting_while_a_worker_still_waits_for_a_server_ends_the_process(
    stalling_server: int, tmp_path: Path
) -> None:
    """The worker ends after the app has stopped: it must not wait for the app to answer
    (Textual's call_from_thread would, for ever, and the process would never exit)."""
    config = (
        "[accounts.slow]\n"
        'address = "slow@example.org"\n'
        "[accounts.slow.imap]\n"
        'host = "127.0.0.1"\n'
        f"port = {stalling_server}\n"
        'security = "none"\n'
    )
    script = tmp_path / "quit_during_check.py"  # a file: Textual finds its CSS beside it
    script.write_text(QUIT_DURING_CHECK)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), config, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "exited" in result.stdout
    # It ends once the stalled check gives up, not after a timeout of the app's own.
    assert time.monotonic() - started < 30


def test_no_log_line_is_written_across_the_screen_and_it_is_printed_after(
    tmp_path: Path, closed_port: int
) -> None:
    port = closed_port  # nothing listens there: every connection is refused
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.acct]\n"
        'address = "me@example.org"\n'
        f"password_command = {json.dumps('printf secret')}\n"
        "[accounts.acct.imap]\n"
        f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    )
    home = tmp_path / "home"
    home.mkdir()
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(tmp_path)],
        env={"HOME": str(home), "COLORTERM": ""},
    )
    try:
        app.wait_for_text("refused", seconds=30)  # the app's own words for the failure
        app.read_for(1.0)
        while_running = scan_terminal_output(bytes(app.output)).text
        assert "tuimail: ERROR" not in while_running
        before_quit = len(app.output)
        assert app.quit() == 0
        after = scan_terminal_output(bytes(app.output[before_quit:])).text
        assert "tuimail: ERROR: IMAP acct:" in after
    finally:
        app.close()
