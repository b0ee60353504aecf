"""password_command: first output line, clear errors, nothing of the output shown."""

from __future__ import annotations

import pytest

from tuimail.auth.credentials import get_password
from tuimail.auth.secrets import SecretError, run_password_command
from tuimail.config.load import parse_config
from tuimail.core import log as tlog
from tuimail.core.model import Protocol

ACCOUNT = """
[accounts.w]
address = "a@example.org"
password_command = "{account_cmd}"
[accounts.w.imap]
host = "imap.example.org"
{imap_cmd}
[accounts.w.smtp]
host = "smtp.example.org"
"""


def _account(account_cmd: str, imap_cmd: str = ""):
    text = ACCOUNT.format(account_cmd=account_cmd, imap_cmd=imap_cmd)
    return parse_config(text).accounts["w"]


def test_first_line_of_output_is_the_password() -> None:
    assert run_password_command("printf 'first-line\\nsecond\\n'", "k") == "first-line"


def test_protocol_command_wins_over_account_command() -> None:
    account = _account("echo account-pw", 'password_command = "echo imap-pw"')
    assert get_password(account, Protocol.IMAP) == "imap-pw"
    assert get_password(account, Protocol.SMTP) == "account-pw"


def test_returned_passwords_are_redacted_from_logs() -> None:
    account = _account("echo Unit-Pw-Redact-42")
    password = get_password(account, Protocol.SMTP)
    assert password not in tlog.redact(f"PASS {password}")


def test_failing_command_reports_status_and_stderr_not_stdout() -> None:
    with pytest.raises(SecretError) as info:
        run_password_command("echo leaked-pw; echo 'gpg: decryption failed' >&2; exit 2", "key.x")
    message = str(info.value)
    assert message.startswith("key.x: ")
    assert "exit status 2" in message and "gpg: decryption failed" in message
    assert "leaked-pw" not in message


def test_stderr_echoing_the_password_is_redacted() -> None:
    with pytest.raises(SecretError) as info:
        run_password_command("echo Echoed-Pw-991; echo 'bad Echoed-Pw-991' >&2; exit 1", "k")
    assert "Echoed-Pw-991" not in str(info.value)


def test_empty_output_is_an_error() -> None:
    with pytest.raises(SecretError, match="printed nothing"):
        run_password_command("true", "k")


def test_stderr_control_characters_are_dropped() -> None:
    with pytest.raises(SecretError) as info:
        run_password_command("printf 'oops \\033[31mred\\n' >&2; exit 1", "k")
    assert "\x1b" not in str(info.value)
