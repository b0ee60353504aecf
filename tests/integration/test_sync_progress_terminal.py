"""`tuimail sync` on a real terminal: a warning logged while the progress line is drawn starts
a line of its own, and the progress line is drawn again below it. The real Dovecot: another
client changed a folder's UIDVALIDITY (`doveadm mailbox update --uid-validity`), so the next
sync rebuilds that folder's cache and warns, right after INBOX's progress was drawn."""

from __future__ import annotations

import sys
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.mbox_import import write_config
from tests.support.terminal import ROOT, PtyApp
from tuimail.cli.main import main

pytestmark = pytest.mark.integration


def _message(number: int) -> bytes:
    return (
        f"From: Sender <sender@tuimail.test>\r\nTo: someone@tuimail.test\r\n"
        f"Subject: progress {number}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <progress-{number}@tuimail.test>\r\n\r\nBody {number}.\r\n"
    ).encode()


def _terminal_lines(output: bytes) -> list[str]:
    """The lines a terminal shows for `output`: CR goes back to the line's start, where the
    text after it overwrites; LF starts the next line."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    for char in output.decode(errors="replace"):
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    lines.append("".join(line).rstrip())
    return [text for text in lines if text]


def test_a_warning_starts_its_own_line_below_the_progress(
    mail_servers: MailServers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = mail_servers.add_user("progress")
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.create_folder("Play")
        for number in range(3):
            client.append("Play", _message(number))
    config = write_config(mail_servers, user, tmp_path / "config.toml")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["sync", "acct", *common]) == 0
    capsys.readouterr()
    # New mail in INBOX (its progress is drawn first), and Play renumbered by another client.
    for number in range(3, 6):
        mail_servers.deliver(user, _message(number))
    mail_servers.doveadm("mailbox", "update", "-u", user, "--uid-validity", "1700000000", "Play")

    terminal = PtyApp(
        [sys.executable, "-m", "tuimail", "sync", "acct", *common], env={"PYTHONPATH": str(ROOT)}
    )
    try:
        assert terminal.process.wait(timeout=60) == 0
        terminal.read_for(0.5)
    finally:
        terminal.close()

    lines = _terminal_lines(bytes(terminal.output))
    warnings = [line for line in lines if "WARNING" in line]
    assert warnings, lines
    assert all(line.startswith("tuimail: WARNING: IMAP acct/Play") for line in warnings), lines
    assert any(line.startswith("acct: ") for line in lines), lines  # the summary
    # Below the warning the progress line is drawn again, where it was.
    output = bytes(terminal.output)
    after = output[output.index(b"WARNING") :].split(b"\n", 1)[1]
    assert after.startswith(b"\racct/INBOX: 3/3"), output
