"""Textual and Rich markup in mail is text: shown literally, never acted on.

A sender's subject, display name, body, attachment name and a folder name hold `[@click=...]`,
`[link=...]`, `[bold red]`, `[reverse]` and stray `[/]`. The app draws every one of them as the
characters they are (read from the cells of the screen), no drawn cell carries a link or a click
action from them, and clicking on them neither quits the app nor opens a link.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.terminal import screen_lines, screen_segments
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
CLICK = "[@click=app.quit]x[/]"
LINK = "[link=https://evil.example]y[/link]"
MARKUP = f"{CLICK} [/] {LINK} [bold red]B [reverse]R"
FOLDER = f"F {CLICK} {LINK}"


def _word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode("ascii") + "?="


def _message() -> bytes:
    lines = [
        f"From: {_word('N ' + MARKUP)} <m@evil.example>",
        "To: you@tuimail.test",
        f"Subject: {_word('S ' + MARKUP)}",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "Message-ID: <markup@evil.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"Body {MARKUP}",
        "--b",
        "Content-Type: application/octet-stream",
        "Content-Disposition: attachment; filename=" + json.dumps(f"A {CLICK}{LINK}.txt"),
        "",
        "data",
        "--b--",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.fixture
def app(tmp_path: Path) -> TuimailApp:
    data = tmp_path / "data"
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, "local", None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=_message())])
        folder = upsert_folder(conn, account_id, FOLDER, delimiter="/", role=FolderRole.NONE)
        store_messages(conn, folder, [IncomingMessage(raw=_message())])
    finally:
        conn.close()
    # Wide enough for each header and body line to be drawn on one screen line.
    config = parse_config(
        '[ui]\nwrap_width = 200\n[accounts.local]\naddress = "you@tuimail.test"\n'
    )
    return TuimailApp(config, data, clock=lambda: NOW, start_workers=False)


def _find(lines: list[str], text: str) -> list[tuple[int, int]]:
    """(column, row) of each place `text` is drawn (the rows here are narrow characters only)."""
    return [(line.index(text), row) for row, line in enumerate(lines) if text in line]


def _no_markup_took_effect(app: TuimailApp) -> None:
    for _, segment in screen_segments(app):
        style = segment.style  # type: ignore[attr-defined]
        if style is None:
            continue
        assert "evil.example" not in (style.link or ""), segment
        assert "app.quit" not in str(style.meta.get("@click", "")), segment
        assert not (style.reverse and "R" in segment.text), segment  # type: ignore[attr-defined]


async def test_markup_in_mail_and_folder_names_is_shown_literally(app: TuimailApp) -> None:
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        lines = screen_lines(app)
        screen = "\n".join(lines)
        for shown in (
            f"Subject: S {MARKUP}",
            f"From: N {MARKUP}",
            f"Body {MARKUP}",
            f"[attachment] A {CLICK}{LINK}.txt",
        ):
            assert shown in screen, shown
        assert any(CLICK in line[:30] for line in lines)  # the folder pane wraps the name
        assert f"S {CLICK}" in screen  # the message list's subject column
        _no_markup_took_effect(app)

        # The folder: in the pane, in the title when shown, in the move/copy picker.
        app.screen.query_one("#folders").focus()
        await pilot.press("down", "down")  # from INBOX to the hostile folder
        await pilot.pause()
        assert f"local/{FOLDER}" in "\n".join(screen_lines(app))
        _no_markup_took_effect(app)
        app.screen.query_one(MessageList).focus()
        await pilot.press("s")
        await pilot.pause()
        assert FOLDER in "\n".join(screen_lines(app))
        _no_markup_took_effect(app)
        await pilot.press("escape")


async def test_clicking_on_markup_neither_quits_nor_opens_a_link(
    app: TuimailApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(app, "open_url", lambda url, **_: opened.append(url))
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        lines = screen_lines(app)
        targets = [
            (column + offset, row)
            for text, offset in ((CLICK, CLICK.index("x")), (LINK, LINK.index("y")))
            for column, row in _find(lines, text)
        ]
        assert len(targets) >= 8  # list, subject, from, body, attachment, folder: both kinds
        for column, row in targets:
            await pilot.click(offset=(column, row))
            await pilot.pause()
            assert app.is_running and app.return_code is None
        assert opened == []
