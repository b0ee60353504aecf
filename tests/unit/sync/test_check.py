"""`accounts check` without mail servers: no accounts, local accounts, refused servers, order."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuimail.config.load import parse_config
from tuimail.sync.check import check_command


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_no_accounts_names_the_expected_file(tmp_path: Path) -> None:
    expected = tmp_path / "config.toml"
    out = io.StringIO()
    assert check_command(parse_config(""), out, config_path=expected) is False
    assert out.getvalue() == (
        f"No accounts are configured in {expected} (the file does not exist). "
        "Add an [accounts.NAME] table (see docs/config.md) and run this again.\n"
    )


def test_no_accounts_in_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "tuimail-dark"\n')
    out = io.StringIO()
    assert check_command(parse_config(path.read_text(), path), out) is False
    assert out.getvalue().startswith(f"No accounts are configured in {path}. Add an")


def test_local_account_has_nothing_to_check() -> None:
    config = parse_config('[accounts.notes]\naddress = "me@example.org"\n')
    out = io.StringIO()
    assert check_command(config, out) is True
    assert out.getvalue() == "notes  local account (no servers to check)\n"


def test_failures_are_reported_per_server_in_config_order(closed_port: int) -> None:
    # The password command would fail loudly if it ran: a refused connection never asks for it.
    config = parse_config(
        f"""
        [accounts.zeta]
        address = "z@example.org"
        password_command = "exit 3"
        [accounts.zeta.imap]
        host = "127.0.0.1"
        port = {closed_port}
        [accounts.zeta.smtp]
        host = "127.0.0.1"
        port = {closed_port}
        security = "starttls"

        [accounts.a]
        address = "a@example.org"

        [accounts.mid-dle]
        address = "m@example.org"
        password_command = "exit 3"
        [accounts.mid-dle.pop3]
        host = "127.0.0.1"
        port = {closed_port}
        security = "none"
        """
    )
    out = io.StringIO()
    assert check_command(config, out, timeout=5) is False
    where = f"127.0.0.1:{closed_port}"
    refused = (
        f"failed: connection refused by {where} — is the server running, and is the port right?"
    )
    assert out.getvalue().splitlines() == [
        f"zeta     IMAP  {where}  tls       {refused}",
        f"zeta     SMTP  {where}  starttls  {refused}",
        "a        local account (no servers to check)",
        f"mid-dle  POP3  {where}  none      {refused}",
    ]
