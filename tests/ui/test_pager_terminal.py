"""The message view in a real terminal (tmux, 200 columns): the body is wrapped at
`[ui] wrap_width` columns, not spread over the whole width, and a link opened from it goes to
the browser without the browser drawing on the app's terminal or taking its keys."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

from tests.support.pager_mail import pager_store
from tests.support.tmux import TmuxApp

CONFIG = '[accounts.demo]\naddress = "you@demo.invalid"\n'


def _browser(tmp_path: Path, opened: Path) -> Path:
    """A browser that writes to its output, reads its input (as a terminal one would) and
    records the address it got."""
    script = tmp_path / "browser"
    script.write_text(
        "#!/bin/sh\n"
        'echo "BROWSER DREW THIS"\n'
        'echo "BROWSER DREW THIS TOO" >&2\n'
        "read stolen\n"
        f'printf "%s|%s\\n" "$1" "$stolen" > {opened}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _view_rows(screen: str) -> list[str]:
    """The text of the message view's rows that show the long paragraph."""
    rows = []
    for line in screen.splitlines():
        if "word" in line:
            # Inside the view's border: "│ text … │", the last border at the end.
            inner = line.rsplit("│", 2)[-2] if line.count("│") >= 2 else line
            rows.append(inner.strip())
    return rows


def test_wrapped_at_the_configured_width_and_links_open_apart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pager_store(data)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    opened = tmp_path / "opened.txt"
    socket_dir = tmp_path / "tmux"
    socket_dir.mkdir()
    argv = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    app = TmuxApp(
        [*argv, "--offline"],
        env={
            "HOME": str(tmp_path),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "BROWSER": f"{_browser(tmp_path, opened)} %s",
        },
        socket_dir=socket_dir,
        columns=200,
        lines=50,
    )
    try:
        app.wait_for("five")
        app.keys("Enter")
        screen = app.wait_for("Hello,")
        rows = _view_rows(screen)
        assert len(rows) >= 6, screen  # the one long line, wrapped
        assert max(len(row) for row in rows) <= 90, screen
        assert max(len(row) for row in rows) > 80, screen
        app.keys("L")
        app.wait_for("Open which link")
        app.keys("1")
        deadline = time.monotonic() + 20
        while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        # The browser got the address, and nothing from the terminal: its input is not the app's.
        assert opened.read_text() == "https://example.org/first|\n"
        app.keys("G")
        screen = app.wait_for("The end.")  # the key went to the app: the view's end
        assert "BROWSER DREW" not in screen
        assert "Hello," not in screen
        app.keys("q")  # back to the list, then quit
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()
