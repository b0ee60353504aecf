"""What the server says is data: folder names with escape sequences, control characters and bidi
overrides are stored as sent and reach output only sanitized; a malformed LIST response is a
clear error. Also the per-account `bodies` setting of `tuimail sync`.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from imapclient import imap_utf7

from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    Server,
    append,
    body_under_another_uid,
    new_mailbox,
    proxied,
    write_config,
)
from tests.support.proxy import Faults
from tuimail.cli.errors import EXIT_FAILED, EXIT_OK
from tuimail.cli.listing import list_command
from tuimail.cli.sync import sync_command
from tuimail.config.load import load_config
from tuimail.store import read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration

HOSTILE = "Evil\x1b[2J\x1b]0;pwned\x07\u202egpj.exe\x9b31m"  # sent in modified UTF-7
RAW = "Raw\x1b[31mRed\x07\x08"  # sent as raw bytes in a quoted string
BIDI = "Rechnung\u202efdp-exe"
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def replace_in_list(*pairs: tuple[bytes, bytes]):  # type: ignore[no-untyped-def]
    """A server-side line rewriter that changes folder names in LIST responses."""

    def rewrite(line: bytes) -> bytes:
        if line.startswith(b"* LIST "):
            for before, after in pairs:
                line = line.replace(before, after)
        return line

    return rewrite


def run_command(config_path: Path, data: Path, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    config = load_config(config_path, must_exist=True)
    status = sync_command(config, data, [ACCOUNT], out, err, **options)  # type: ignore[arg-type]
    return status, out.getvalue(), err.getvalue()


def test_hostile_folder_names_are_stored_as_data_and_printed_sanitized(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # The name with controls cannot exist on the server: the proxy puts it into LIST, as a
    # hostile server would. The bidi one is a real folder.
    hostile = b'"' + imap_utf7.encode(HOSTILE) + b'"'
    raw = b'"' + RAW.encode("ascii") + b'"'
    rewrite = replace_in_list(
        (b" Plain\r\n", b" " + hostile + b"\r\n"), (b" Other\r\n", b" " + raw + b"\r\n")
    )
    box, _ = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=rewrite))
    with box.device() as device:
        device.create_folder("Plain")
        device.create_folder("Other")
        device.create_folder(BIDI)
    append(box, 1)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    status, out, err = run_command(config, data)
    # The hostile folder cannot be selected: that folder fails, the rest is synced.
    assert status == EXIT_FAILED
    for control in TERMINAL_CONTROLS:
        assert control not in out + err

    conn = open_store(data)
    try:
        names = {folder.name for folder in read.folders(conn)}
        assert {HOSTILE, RAW, BIDI} <= names, "stored exactly as the server sent them"
        for name in (HOSTILE, RAW):
            info = next(f for f in read.folders(conn) if f.name == name)
            assert info.last_error
            for control in TERMINAL_CONTROLS:
                assert control not in info.last_error

        text = io.StringIO()
        assert list_command(conn, ACCOUNT, as_json=False, limit=None, width=None, out=text) == 0
        printed = text.getvalue()
        assert "Evil" in printed and "Rechnung" in printed and "Raw" in printed
        assert "\x08" not in printed
        for control in TERMINAL_CONTROLS:
            assert control not in printed
        # JSON keeps the data exact, escaped into plain ASCII.
        as_json = io.StringIO()
        list_command(conn, ACCOUNT, as_json=True, limit=None, width=None, out=as_json)
        assert as_json.getvalue().isascii()
        listed = [json.loads(line) for line in as_json.getvalue().splitlines()]
        assert {HOSTILE, RAW} <= {item["folder"] for item in listed}
    finally:
        conn.close()


def test_a_malformed_list_response_is_a_clear_error(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, _ = proxied(
        mail_servers,
        fault_proxy,
        server=Faults(rewrite_line=replace_in_list((b" Plain\r\n", b' "Pla\x1b[31min\r\n'))),
    )
    with box.device() as device:
        device.create_folder("Plain")
    config = write_config(box, tmp_path / "config.toml")
    status, out, err = run_command(config, tmp_path / "data")
    assert status == EXIT_FAILED
    assert "Traceback" not in err, err
    assert "malformed folder list" in err and ACCOUNT in err
    assert "\x1b" not in out + err


@pytest.mark.parametrize(
    ("setting", "keep"),
    [(None, "all"), ("true", "all"), ('"all"', "all"), ("false", "none"), ('"none"', "none")],
)
def test_the_bodies_setting_downloads_every_body_unless_off(
    setting: str | None, keep: str, mail_servers: Server, tmp_path: Path
) -> None:
    box = new_mailbox(mail_servers)
    append(box, 3)
    config = write_config(box, tmp_path / "config.toml")
    if setting is not None:  # without it, the default: every body
        with config.open("a", encoding="utf-8") as file:
            file.write(f"bodies = {setting}\n")
    assert load_config(config).accounts[ACCOUNT].incoming.bodies.keep == keep  # type: ignore[union-attr]
    data = tmp_path / "data"
    status, _, err = run_command(config, data, folder="INBOX")
    assert status == EXIT_OK, err
    conn = open_store(data)
    try:
        local = conn.execute("SELECT count(*) FROM messages WHERE body_local = 1").fetchone()[0]
    finally:
        conn.close()
    assert local == (3 if keep == "all" else 0)
    if keep == "none":  # --bodies still downloads them for one run
        status, _, err = run_command(config, data, folder="INBOX", bodies=True)
        assert status == EXIT_OK, err
        conn = open_store(data)
        try:
            local = conn.execute("SELECT count(*) FROM messages WHERE body_local = 1").fetchone()[0]
        finally:
            conn.close()
        assert local == 3


def test_a_body_answered_under_another_uid_is_not_a_silent_success(
    mail_servers: Server, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    # The body of UID 2 comes back as a stray FETCH for a UID that was not asked for: UID 2 is
    # left without its body, and the run must say so and fail, not finish as if all were there.
    stray = body_under_another_uid(2)
    box, _ = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=stray))
    append(box, 3)
    config = write_config(box, tmp_path / "config.toml")
    data = tmp_path / "data"
    command = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    result = subprocess.run(
        [*command, "sync", "--bodies"], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(f"{ACCOUNT}: ")]
    assert line.startswith(f"{ACCOUNT}: IMAP failed: ")
    assert "first download: 3 messages, 2 bodies downloaded, 1 failed; " in line
    assert line.endswith(
        "INBOX: the server did not send the body of 1 message asked for (UID 2); it is asked "
        "for again next time"
    )
    conn = open_store(data)
    try:
        missing = conn.execute("SELECT uid FROM messages WHERE body_local = 0").fetchall()
    finally:
        conn.close()
    assert missing == [(2,)]
