"""Which command opens a link, and that a link is never handed to anything but a browser."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import pytest

from tuimail.ui.browser import browser_commands, open_link

FALLBACK = ["open"] if sys.platform == "darwin" else ["xdg-open"]


def test_browser_entries_then_the_platforms_opener() -> None:
    assert browser_commands({}) == [FALLBACK]
    assert browser_commands({"BROWSER": "firefox --new-tab:'my browser' %s"}) == [
        ["firefox", "--new-tab"],
        ["my browser", "%s"],
        FALLBACK,
    ]


def test_only_web_addresses_are_opened() -> None:
    problem = open_link("file:///etc/passwd", {"BROWSER": "true"})
    assert problem is not None and "not a web address" in problem


def test_no_browser_installed_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run: not even the fallback
    problem = open_link("https://example.org/", {"BROWSER": "no-such-1:no-such-2"})
    tried = ", ".join(repr(name) for name in ["no-such-1", "no-such-2", FALLBACK[0]])
    assert problem == f"no browser could be started (tried {tried}): set $BROWSER"


def test_the_link_is_one_argument_and_a_failure_is_told(tmp_path: Path) -> None:
    record = tmp_path / "args"
    script = tmp_path / "browser"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$#" "$@" > {record}\nexit 3\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    failures: list[str] = []
    link = "https://example.org/a b;$(touch x)&c"
    assert open_link(link, {"BROWSER": str(script)}, on_failure=failures.append) is None
    deadline = time.monotonic() + 10
    while not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.read_text() == f"1\n{link}\n"
    assert failures == [f"the browser {str(script)!r} failed (exit status 3)"]
    assert not (tmp_path / "x").exists()
