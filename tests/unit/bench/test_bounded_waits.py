"""Every wait of the wan rows has a bound: a tmux, a latency proxy or a neomutt that stops
answering (or leaves) fails the step with the reason, within its bound, instead of holding the
bench. Each test stops the real program (SIGSTOP) or makes it leave, and has a pytest timeout
far below what a wait without end would take."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from bench import latency, neomutt, terminal
from bench.latency import ProxyProcess
from bench.terminal import Terminal, TerminalError

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@needs_tmux
@pytest.mark.timeout(60)
def test_a_tmux_that_stops_answering_fails_the_read_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(terminal, "COMMAND_TIMEOUT", 1.0, raising=False)
    with Terminal("exec sleep 600") as screen:
        screen.start()
        server = int(screen.run_command("display-message -p '#{pid}'")[0])
        os.kill(server, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(TerminalError, match=r"tmux did not answer 'capture-pane -p'"):
                screen.screen()
            assert time.monotonic() - started < 10
        finally:
            os.kill(server, signal.SIGCONT)


@needs_tmux
@pytest.mark.timeout(60)
def test_waiting_for_a_screen_that_never_comes_ends_with_the_screen() -> None:
    # The screen has empty lines: each is a line of the answer, not the end of tmux.
    with Terminal("echo waiting; exec sleep 600") as screen:
        screen.start()
        with pytest.raises(TimeoutError, match=r"not on the screen after 1 s: the index"):
            screen.wait_for(lambda text: "Msgs:" in text, timeout=1.0, what="the index")


@pytest.mark.timeout(60)
def test_a_latency_proxy_that_stops_answering_fails_the_command_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(latency, "ANSWER_TIMEOUT", 1.0, raising=False)
    proxy = ProxyProcess("127.0.0.1", 9, delay=0.01)
    pid = proxy._process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"latency proxy: 'quiet': no answer within 1 s"):
            proxy.quiet_for()
        assert time.monotonic() - started < 10
    finally:
        os.kill(pid, signal.SIGCONT)
        proxy.close()


@pytest.mark.skipif(
    shutil.which("neomutt") is None or shutil.which("tmux") is None,
    reason="neomutt or tmux is not installed",
)
@pytest.mark.timeout(120)
def test_a_neomutt_that_leaves_before_its_index_fails_the_run_at_once(tmp_path: Path) -> None:
    # neomutt opens an empty mbox and quits at once, and tmux's session ends with it.
    (tmp_path / "mbox").touch()
    rc = tmp_path / "neomuttrc"
    rc.write_text(
        f"set folder = {tmp_path}\nset spoolfile = {tmp_path}/mbox\nset quit = yes\npush q\n"
    )
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="neomutt exited"):
        neomutt.first_page(rc, 1000, timeout=20)
    assert time.monotonic() - started < 10
