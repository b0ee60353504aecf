"""Saving attachments: inside the chosen directory, safe names, nothing overwritten."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from tuimail.app import TuimailApp
from tuimail.demo import build_demo_store, demo_config
from tuimail.ui.save import save_attachments
from tuimail.ui.widgets.message_list import MessageList

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _hostile() -> bytes:
    msg = EmailMessage()
    msg["From"] = "m@evil.example"
    msg["Subject"] = "names"
    msg.set_content("x")
    for name, data in (
        ("../escape.txt", b"one"),
        ("/etc/passwd", b"two"),
        ("..\\win.ini", b"three"),
        ("same.txt", b"four"),
        ("same.txt", b"five"),
        ("\x1b[31mred\u202eexe.txt", b"six"),
    ):
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def test_hostile_names_stay_inside_and_nothing_is_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    (target / "passwd").write_bytes(b"already here")
    written = save_attachments(_hostile(), target)
    assert all(path.parent == target.resolve() for path in written)
    names = sorted(path.name for path in written)
    assert names == sorted(
        ["escape.txt", "passwd (1)", "win.ini", "same.txt", "same (1).txt", "redexe.txt"]
    )
    assert (target / "passwd").read_bytes() == b"already here"
    assert (target / "same (1).txt").read_bytes() == b"five"
    assert not (tmp_path / "escape.txt").exists()


async def test_a_saves_from_the_app(tmp_path: Path) -> None:
    build_demo_store(tmp_path / "store", now=NOW)
    target = tmp_path / "saved"
    target.mkdir()
    app = TuimailApp(demo_config(), tmp_path / "store", clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("down", "down")  # the message with the PDF
        await pilot.press("a")
        await pilot.pause()
        prompt = app.screen.query_one("#answer")
        prompt.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
    assert [p.name for p in target.iterdir()] == ["Übersicht 2026.pdf"]
    assert (target / "Übersicht 2026.pdf").read_bytes().startswith(b"%PDF-1.4 demo")
