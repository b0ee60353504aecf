"""The browser command for a message's HTML (`ui.browse.browser_commands`), and the private
directories its files are written in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tuimail.ui import browse
from tuimail.ui.browse import browser_commands


def test_the_configured_browser_comes_first() -> None:
    assert browser_commands('firefox --new-tab "%s"', {"BROWSER": "lynx"}) == [
        ["firefox", "--new-tab", "%s"]
    ]


def test_browser_from_the_environment_each_tried_in_order() -> None:
    assert browser_commands(None, {"BROWSER": "chromium --incognito:firefox::"}) == [
        ["chromium", "--incognito"],
        ["firefox"],
    ]


def test_else_the_platforms_opener() -> None:
    opener = ["open"] if sys.platform == "darwin" else ["xdg-open"]
    assert browser_commands(None, {}) == [opener]
    assert browser_commands(None, {"BROWSER": ""}) == [opener]


def test_a_killed_runs_html_directory_goes_with_the_next_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that was killed left its directory (atexit did not run): the next run that writes
    an HTML file removes it, and leaves those of runs still going."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(browse, "_directory", None)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    left = tmp_path / f"{browse.PREFIX}{ended.pid}-abc"
    left.mkdir(mode=0o700)
    (left / "message-1.html").write_text("<p>private</p>")
    running = tmp_path / f"{browse.PREFIX}{os.getppid()}-def"
    running.mkdir(mode=0o700)
    older = tmp_path / f"{browse.PREFIX}xyz"  # a name without a process id: not ours to judge
    older.mkdir(mode=0o700)

    path = browse.write_for_browser(b"Content-Type: text/html\r\n\r\n<p>hello</p>\r\n")
    try:
        assert not left.exists()
        assert running.is_dir() and older.is_dir()
        assert path.parent.name.startswith(f"{browse.PREFIX}{os.getpid()}-")
    finally:
        shutil.rmtree(path.parent)
