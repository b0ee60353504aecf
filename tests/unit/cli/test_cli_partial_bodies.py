"""`tuimail show`, `show --raw`, `export` and `list --json` on a message of which only the text
is local (a partial body): rendered with its attachments marked, never written as the
server's bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuimail.cli.main import main
from tuimail.core.model import FolderRole, Protocol
from tuimail.mail.attachments import OmittedPart
from tuimail.store import write
from tuimail.store.db import open_store

PARTIAL = (
    b"From: Ann <ann@example.org>\r\nSubject: the plan\r\n"
    b"Date: Mon, 02 Mar 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b'--b\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nSee the plan.\r\n'
    b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="plan.pdf"\r\n\r\n\r\n--b--\r\n'
)
OMITTED = (OmittedPart("2", "application/pdf", "plan.pdf", 2784),)


@pytest.fixture
def paths(tmp_path: Path) -> tuple[list[str], int]:
    """(the global options, the partial message's id)."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text("")
    conn = open_store(data)
    try:
        account = write.ensure_account(conn, "work", Protocol.IMAP)
        inbox = write.upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        write.update_folder_state(conn, inbox, uidvalidity=3)
        header = PARTIAL[: PARTIAL.index(b"\r\n\r\n") + 4]
        message_id = write.store_message(conn, inbox, header_bytes=header, uid=1, size=3500)
        write.store_partial_body(conn, message_id, PARTIAL, OMITTED)
    finally:
        conn.close()
    return ["--config", str(config), "--data-dir", str(data)], message_id


def test_show_renders_the_text_and_marks_the_attachment(
    paths: tuple[list[str], int], capsys: pytest.CaptureFixture[str]
) -> None:
    options, message_id = paths
    assert main(["show", str(message_id), *options]) == 0
    out = capsys.readouterr().out
    assert "See the plan." in out
    assert "[attachment] plan.pdf (2.0 KB) (not downloaded)" in out
    assert "tuimail sync --bodies" in out


def test_show_raw_refuses_rebuilt_bytes(
    paths: tuple[list[str], int],
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    options, message_id = paths
    assert main(["show", str(message_id), "--raw", *options]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert b"only its text is in the local store" in captured.err
    assert b"tuimail sync --bodies" in captured.err


def test_export_skips_a_partial_message_and_says_why(
    paths: tuple[list[str], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options, message_id = paths
    target = tmp_path / "out.mbox"
    assert main(["export", "work/INBOX", "--mbox", str(target), *options]) == 1
    err = capsys.readouterr().err
    assert f"message {message_id} skipped: only its text is in the store" in err
    assert b"See the plan." not in target.read_bytes()


def test_list_json_says_the_body_is_not_local(
    paths: tuple[list[str], int], capsys: pytest.CaptureFixture[str]
) -> None:
    options, _ = paths
    assert main(["list", "work/INBOX", "--json", *options]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["body_local"] is False
