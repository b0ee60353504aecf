"""A hostile or huge IMAP answer is bounded: one message over the limit is skipped and named,
the other messages are stored, and the answer to one FETCH never grows past the limit for a
command even when the server understates the sizes the batches are planned with.

The real Dovecot serves the messages; the limits are made small for the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    FaultProxyFactory,
    Server,
    folder_id,
    new_mailbox,
    proxied,
    write_config,
)
from tests.support.proxy import Faults
from tuimail.cli.main import main
from tuimail.mail import limits
from tuimail.store import read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration

MESSAGE_LIMIT = 100_000
COMMAND_LIMIT = 150_000


def _message(number: int, body_bytes: int) -> bytes:
    line = f"line of message {number} ".ljust(76, "x") + "\r\n"
    return (
        f"From: Sender {number} <sender{number}@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: size test {number}\r\n"
        f"Message-ID: <size-{number}@tuimail.test>\r\n"
        "\r\n" + line * (body_bytes // len(line))
    ).encode()


def _fill(box, sizes: dict[int, int]) -> dict[int, bytes]:
    raws = {number: _message(number, size) for number, size in sizes.items()}
    with box.device() as device:
        for number in sorted(raws):
            device.append("INBOX", raws[number])
    return raws


def _small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", MESSAGE_LIMIT, raising=False)
    monkeypatch.setattr(limits, "MAX_COMMAND_BYTES", COMMAND_LIMIT, raising=False)


def _bodies(data_dir: Path) -> dict[int, bytes | None]:
    """UID -> stored body (None when not stored)."""
    conn = open_store(data_dir)
    try:
        inbox = folder_id(conn, "INBOX")
        result = {}
        for message_id in read.message_ids(conn, inbox):
            row = read.row(conn, message_id)
            assert row is not None and row.uid is not None
            result[row.uid] = read.body(conn, message_id)
        return result
    finally:
        conn.close()


def test_a_message_over_the_limit_is_skipped_and_named_and_the_others_stored(
    mail_servers: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _small_limits(monkeypatch)
    box = new_mailbox(mail_servers)
    raws = _fill(box, {1: 2_000, 2: 2_000, 3: 120_000, 4: 2_000})
    config = write_config(box, tmp_path / "config.toml")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["sync", "acct", "--bodies", *common]) == 0
    out = capsys.readouterr().out
    assert "1 message the server would not give" in out
    assert re.search(r"UID 3: 12\d,\d{3} bytes, over the limit of 100,000 bytes", out), out
    bodies = _bodies(tmp_path / "data")
    assert bodies == {1: raws[1], 2: raws[2], 3: None, 4: raws[4]}


def _understate_sizes(line: bytes) -> bytes:
    """A server that says every message is 1 byte: the batches planned with it are too big."""
    return re.sub(rb"RFC822\.SIZE \d+", b"RFC822.SIZE 1", line)


def test_a_fetch_answer_over_the_command_limit_is_split_and_the_too_large_one_named(
    mail_servers: Server,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Five messages whose real sizes add up past the command limit are asked for in one FETCH
    (the server understated them): the answer is refused at the limit, the batch is fetched
    again one message at a time, and the one that is too large alone is skipped and named."""
    _small_limits(monkeypatch)
    box, _proxy = proxied(mail_servers, fault_proxy, server=Faults(rewrite_line=_understate_sizes))
    raws = _fill(box, {1: 40_000, 2: 40_000, 3: 120_000, 4: 40_000, 5: 40_000})
    config = write_config(box, tmp_path / "config.toml")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["sync", "acct", "--bodies", *common]) == 0
    out = capsys.readouterr().out
    assert "1 message the server would not give" in out, out
    assert re.search(r"UID 3: the server announced a 12\d,\d{3}-byte item, over the limit", out)
    bodies = _bodies(tmp_path / "data")
    assert bodies == {1: raws[1], 2: raws[2], 3: None, 4: raws[4], 5: raws[5]}
