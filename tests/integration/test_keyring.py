"""Passwords from the system keyring, against a real Secret Service (gnome-keyring on D-Bus)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest

from tests.support.keyring_service import (
    SecretService,
    keyring_in_this_process,
    running_secret_service,
)
from tuimail.auth import credentials, secrets
from tuimail.config.load import parse_config
from tuimail.core.model import Protocol

CONFIG = """
[accounts.work]
address = "alice@example.org"
[accounts.work.imap]
host = "imap.example.org"
[accounts.work.smtp]
host = "smtp.example.org"
"""


@pytest.fixture(scope="module")
def secret_service() -> Iterator[SecretService]:
    with running_secret_service() as service:
        yield service


@pytest.fixture
def keyring_here(secret_service: SecretService) -> Iterator[SecretService]:
    """This process's keyring is the test Secret Service; the subprocess tests below exercise
    keyring's own detection."""
    with keyring_in_this_process(secret_service, forget=("work", "work/imap", "work/smtp")):
        yield secret_service


def test_keyring_detects_the_secret_service_in_a_new_process(secret_service: SecretService) -> None:
    probe = "import keyring; print(type(keyring.get_keyring()).__module__)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=secret_service.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "keyring.backends.SecretService"


def test_protocol_entry_wins_over_account_entry(keyring_here: SecretService) -> None:
    account = parse_config(CONFIG).accounts["work"]
    secrets.set_password("work", "account-wide-pw")
    assert credentials.get_password(account, Protocol.IMAP) == "account-wide-pw"
    secrets.set_password("work", "imap-only-pw", Protocol.IMAP)
    assert credentials.get_password(account, Protocol.IMAP) == "imap-only-pw"
    assert credentials.get_password(account, Protocol.SMTP) == "account-wide-pw"


def test_password_commands_win_over_keyring(keyring_here: SecretService) -> None:
    config = parse_config(
        CONFIG.replace(
            'address = "alice@example.org"',
            'address = "alice@example.org"\npassword_command = "echo from-account-command"',
        ).replace(
            'host = "smtp.example.org"',
            'host = "smtp.example.org"\npassword_command = "echo from-smtp-command"',
        )
    )
    account = config.accounts["work"]
    secrets.set_password("work", "keyring-pw", Protocol.IMAP)
    assert credentials.get_password(account, Protocol.SMTP) == "from-smtp-command"
    assert credentials.get_password(account, Protocol.IMAP) == "from-account-command"


def test_missing_entry_says_how_to_fix(keyring_here: SecretService) -> None:
    account = parse_config(CONFIG).accounts["work"]
    with pytest.raises(secrets.SecretError) as info:
        credentials.get_password(account, Protocol.IMAP)
    message = str(info.value)
    assert "'work/imap'" in message and "tuimail accounts set-password work" in message


def _tuimail(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuimail", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_set_password_stores_in_keyring(keyring_here: SecretService, tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(CONFIG)
    env = {**keyring_here.env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = _tuimail(
        ["--config", str(config_file), "accounts", "set-password", "work", "--protocol", "smtp"],
        env,
        stdin="cli-stored-pw\n",
    )
    assert result.returncode == 0, result.stderr
    assert "'work/smtp'" in result.stdout
    assert "cli-stored-pw" not in result.stdout + result.stderr
    assert keyring.get_password(secrets.KEYRING_SERVICE, "work/smtp") == "cli-stored-pw"


def test_without_a_keyring_the_user_is_told_what_to_do(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus-here'}"
    result = _tuimail(
        ["--config", str(config_file), "accounts", "set-password", "work"], env, stdin="pw-x\n"
    )
    assert result.returncode == 1
    assert "no system keyring is available" in result.stderr
    assert "password_command" in result.stderr
    assert "pw-x" not in result.stderr + result.stdout
