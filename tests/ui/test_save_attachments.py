"""Saving attachments: inside the chosen directory, safe names, nothing overwritten."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.save import plan_save, save_attachments
from tuimail.ui.screens.prompt import Confirm
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


async def test_a_saves_from_the_app(tmp_path: Path, demo_store: DemoStore) -> None:
    demo_store(tmp_path / "store")
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


# --- every kind of hostile name, links in the target, replacing only when confirmed ---------

HOSTILE_NAMES = (
    "../x",
    "../../etc/passwd",
    "/etc/x",
    "..\\x",
    "C:\\x",
    "a\x00b.txt",
    "line\r\nbreak.txt",
    "bell\x07\x1b[31mred\x1b]0;title\x07.txt",
    "report\u202eexe.txt",
    "\u2066iso\u2069late.txt",
    "é" * 160 + ".pdf",  # 320 bytes of UTF-8
    "",
    ".",
    "..",
    "CON",
    "NUL",
    "COM1",
    "aux.txt",
    ".bashrc",
    "-rf",
    "--help.txt",
    "dup.txt",
    "dup.txt",
    "DUP.txt",
)


def _message_with(names: tuple[str, ...]) -> bytes:
    """A message with one attachment per name (RFC 2231, percent-encoded UTF-8), written out
    byte by byte: the email package would refuse or rewrite some of these names, a sender need
    not."""
    lines = [
        "From: m@evil.example",
        "Subject: names",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "x",
    ]
    for number, name in enumerate(names):
        lines += [
            "--b",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            "Content-Disposition: attachment; filename*=utf-8''" + quote(name, safe=""),
            "",
            base64.b64encode(f"payload {number}".encode()).decode("ascii"),
        ]
    lines += ["--b--", ""]
    return "\r\n".join(lines).encode("ascii")


def _inside(path: Path, directory: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(directory) + os.sep)


def test_every_hostile_name_is_saved_inside_under_a_safe_name(tmp_path: Path) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    raw = _message_with(HOSTILE_NAMES)
    written = save_attachments(raw, target)
    assert len(written) == len(HOSTILE_NAMES)  # nothing lost, nothing written twice
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]  # nothing beside it
    for number, path in enumerate(written):
        assert _inside(path, target) and path.is_file() and not path.is_symlink()
        assert path.read_bytes() == f"payload {number}".encode()
        name = path.name
        assert len(name.encode()) <= 255 and name.isprintable()
        assert not name.startswith((".", "-", " ")) and not name.endswith((".", " "))
        assert "/" not in name and "\\" not in name
    names = [p.name for p in written]
    assert names[:5] == ["x", "passwd", "x (1)", "x (2)", "x (3)"]
    assert names[5:10] == [
        "ab.txt",
        "line break.txt",
        "bellred.txt",
        "reportexe.txt",
        "isolate.txt",
    ]
    assert names[10].endswith(".pdf") and len(names[10].encode()) <= 200
    assert names[11:14] == ["attachment-12", "attachment-13", "attachment-14"]
    assert names[14:21] == ["_CON", "_NUL", "_COM1", "_aux.txt", "bashrc", "rf", "help.txt"]
    assert names[21:] == ["dup.txt", "dup (1).txt", "DUP (2).txt"]  # never one over another


def test_a_link_in_the_target_directory_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    target = tmp_path / "downloads"
    target.mkdir()
    (target / "report.txt").symlink_to(outside / "victim")
    (target / "dangling.txt").symlink_to(outside / "created-through-a-link")
    raw = _message_with(("report.txt", "dangling.txt"))

    plan = plan_save(raw, target)
    assert plan.taken == ("report.txt", "dangling.txt")  # a link counts as taken
    written = save_attachments(raw, target)
    assert [p.name for p in written] == ["report (1).txt", "dangling (1).txt"]
    assert (outside / "victim").read_bytes() == b"precious"
    assert not (outside / "created-through-a-link").exists()

    # Replacing (confirmed) replaces the links themselves, not what they point to.
    written = save_attachments(raw, target, replace=True)
    assert [p.name for p in written] == ["report.txt", "dangling.txt"]
    for path, payload in zip(written, (b"payload 0", b"payload 1"), strict=True):
        assert not path.is_symlink() and path.read_bytes() == payload
    assert (outside / "victim").read_bytes() == b"precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]


def test_a_directory_of_the_same_name_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "data.bin").mkdir()
    written = save_attachments(_message_with(("data.bin",)), tmp_path, replace=True)
    assert [p.name for p in written] == ["data (1).bin"]
    assert (tmp_path / "data.bin").is_dir()


def _local_store_with(data: Path, raw: bytes) -> None:
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, "local", None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=raw)])
    finally:
        conn.close()


async def _save_in_app(data: Path, target: Path, answer: str | None) -> list[str]:
    """Press `a` in the app, give `target`, answer the replace question (if asked) with
    `answer`; returns the questions the app asked."""
    config = parse_config('[accounts.local]\naddress = "you@tuimail.test"\n')
    app = TuimailApp(config, data, clock=lambda: NOW, start_workers=False)
    asked: list[str] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("a")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        if isinstance(app.screen, Confirm):
            asked.append(app.screen.question)
            assert answer is not None, "the app asked, the test did not expect it"
            await pilot.press(answer)
            await pilot.pause()
        assert not isinstance(app.screen, Confirm)
    return asked


async def test_the_app_saves_hostile_names_inside_the_directory(tmp_path: Path) -> None:
    _local_store_with(tmp_path / "data", _message_with(HOSTILE_NAMES))
    target = tmp_path / "saved"
    target.mkdir()
    assert await _save_in_app(tmp_path / "data", target, None) == []
    saved = sorted(target.iterdir())
    assert len(saved) == len(HOSTILE_NAMES)
    assert all(_inside(path, target) and path.is_file() for path in saved)
    assert {"passwd", "x", "_CON", "rf", "dup.txt", "dup (1).txt"} <= {p.name for p in saved}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "saved"]


async def test_the_app_asks_before_replacing_and_no_keeps_the_old_file(tmp_path: Path) -> None:
    _local_store_with(tmp_path / "data", _message_with(("report.txt", "../new.txt")))
    target = tmp_path / "saved"
    target.mkdir()
    (target / "report.txt").write_bytes(b"the old report")
    asked = await _save_in_app(tmp_path / "data", target, "n")
    assert len(asked) == 1 and "report.txt" in asked[0] and "new.txt" not in asked[0]
    assert (target / "report.txt").read_bytes() == b"the old report"
    assert (target / "report (1).txt").read_bytes() == b"payload 0"
    assert (target / "new.txt").read_bytes() == b"payload 1"


async def test_the_app_asks_before_replacing_and_yes_replaces(tmp_path: Path) -> None:
    _local_store_with(tmp_path / "data", _message_with(("report.txt",)))
    target = tmp_path / "saved"
    target.mkdir()
    (target / "report.txt").write_bytes(b"the old report")
    asked = await _save_in_app(tmp_path / "data", target, "y")
    assert len(asked) == 1
    assert sorted(p.name for p in target.iterdir()) == ["report.txt"]
    assert (target / "report.txt").read_bytes() == b"payload 0"


async def _save_answering(data: Path, target: Path, keys: list[str]) -> tuple[list[str], str]:
    """Press `a`, give `target`, then answer each question the app asks with the next of
    `keys`; returns the questions asked and the notices shown."""
    config = parse_config('[accounts.local]\naddress = "you@tuimail.test"\n')
    app = TuimailApp(config, data, clock=lambda: NOW, start_workers=False)
    asked: list[str] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("a")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        for key in keys:
            assert isinstance(app.screen, Confirm), "the app asked nothing more"
            asked.append(app.screen.question)
            await pilot.press(key)
            await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        notices = "\n".join(str(n.message) for n in app._notifications)
    return asked, notices


async def test_enter_at_the_replace_question_keeps_the_old_file(tmp_path: Path) -> None:
    _local_store_with(tmp_path / "data", _message_with(("report.txt",)))
    target = tmp_path / "saved"
    target.mkdir()
    (target / "report.txt").write_bytes(b"the old report")
    asked, _ = await _save_answering(tmp_path / "data", target, ["enter"])
    assert len(asked) == 1 and "Replace?" in asked[0]
    assert (target / "report.txt").read_bytes() == b"the old report"
    assert (target / "report (1).txt").read_bytes() == b"payload 0"


async def test_a_missing_directory_is_named_and_created_when_the_user_says_so(
    tmp_path: Path,
) -> None:
    _local_store_with(tmp_path / "data", _message_with(("report.txt",)))
    target = tmp_path / "new" / "saved"
    asked, notices = await _save_answering(tmp_path / "data", target, ["y"])
    assert asked == [f"The directory {target} does not exist. Create it and save there?"]
    assert (target / "report.txt").read_bytes() == b"payload 0"
    assert f"Saved to {target}: report.txt" in notices


async def test_a_missing_directory_not_created_is_said_in_words(tmp_path: Path) -> None:
    _local_store_with(tmp_path / "data", _message_with(("report.txt",)))
    target = tmp_path / "nowhere"
    asked, notices = await _save_answering(tmp_path / "data", target, ["n"])
    assert len(asked) == 1 and "does not exist" in asked[0]
    assert not target.exists()
    assert f"Not saved: the directory {target} does not exist." in notices
    assert "Errno" not in notices
