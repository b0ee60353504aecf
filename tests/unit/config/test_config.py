"""Configuration: valid files become typed settings; every error names file, key and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuimail.config.load import load_config, parse_config
from tuimail.config.schema import KNOWN_KEYS, ConfigError
from tuimail.core.model import Protocol, Security

FULL = """
[ui]
theme = "tuimail-dark"

[accounts.work]
address = "alice@example.org"
display_name = "Alice Example"
password_command = "pass show mail/work"

[accounts.work.imap]
host = "imap.example.org"
username = "alice"

[accounts.work.smtp]
host = "smtp.example.org"
security = "starttls"

[accounts.home]
address = "alice@example.net"

[accounts.home.pop3]
host = "pop.example.net"
delete_after_days = 30

[accounts.local-only]
address = "me@example.com"
"""


def test_full_example_parses_with_defaults() -> None:
    config = parse_config(FULL)
    assert config.ui.theme == "tuimail-dark"
    assert list(config.accounts) == ["work", "home", "local-only"]
    work = config.accounts["work"]
    assert work.display_name == "Alice Example"
    assert work.incoming is not None and work.incoming.protocol is Protocol.IMAP
    assert (work.incoming.port, work.incoming.security, work.incoming.username) == (
        993,
        Security.TLS,
        "alice",
    )
    assert work.smtp is not None
    assert (work.smtp.port, work.smtp.security, work.smtp.username) == (
        587,
        Security.STARTTLS,
        "alice@example.org",
    )
    home = config.accounts["home"]
    assert home.incoming is not None
    assert home.incoming.protocol is Protocol.POP3 and home.incoming.port == 995
    assert home.incoming.leave_on_server is True and home.incoming.delete_after_days == 30
    assert home.smtp is None
    assert config.accounts["local-only"].servers() == ()


@pytest.mark.parametrize(
    ("protocol", "security", "port"),
    [
        ("imap", "tls", 993),
        ("imap", "starttls", 143),
        ("pop3", "tls", 995),
        ("pop3", "starttls", 110),
        ("smtp", "tls", 465),
        ("smtp", "starttls", 587),
    ],
)
def test_default_ports(protocol: str, security: str, port: int) -> None:
    config = parse_config(
        f'[accounts.a]\naddress = "a@b.c"\n[accounts.a.{protocol}]\n'
        f'host = "h.example"\nsecurity = "{security}"\n'
    )
    server = config.accounts["a"].server(Protocol(protocol))
    assert server is not None and server.port == port


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("/cfg/config.toml"))
    return info.value


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[acounts]", "acounts", "did you mean 'accounts'"),
        ('[accounts.w]\naddress = "a@b.c"\nadress = "x"', "accounts.w.adress", "did you mean"),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\nprot = 1',
            "accounts.w.imap.prot",
            "did you mean 'port'",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\nport = 70000',
            "accounts.w.imap.port",
            "not a port number",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\nport = "993"',
            "accounts.w.imap.port",
            "whole number",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\nport = true',
            "accounts.w.imap.port",
            "whole number",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\nsecurity = "startls"',
            "accounts.w.imap.security",
            "did you mean 'starttls'",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nport = 993',
            "accounts.w.imap.host",
            "required",
        ),
        ('[accounts.w]\ndisplay_name = "x"', "accounts.w.address", "required"),
        ('[accounts.w]\naddress = "not-an-address"', "accounts.w.address", "not an email"),
        ('[accounts."a/b"]\naddress = "a@b.c"', "accounts.a/b", "letters, digits"),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\n'
            '[accounts.w.pop3]\nhost = "h"',
            "accounts.w",
            "one incoming protocol",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "mail.example.org"\n'
            'security = "none"',
            "accounts.w.imap.security",
            "loopback",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.pop3]\nhost = "h"\n'
            "leave_on_server = false\ndelete_after_days = 3",
            "accounts.w.pop3.delete_after_days",
            "leave_on_server",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.pop3]\nhost = "h"\n'
            "delete_after_days = -1",
            "accounts.w.pop3.delete_after_days",
            "0 (never) or more",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.smtp]\nhost = "h"\n'
            "leave_on_server = true",
            "accounts.w.smtp.leave_on_server",
            "unknown key",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\nca_file = "/nonexistent/ca.pem"',
            "accounts.w.ca_file",
            "does not exist",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\ndisplay_name = "x\\ny"',
            "accounts.w.display_name",
            "single line",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\ncommand_timeout = 0',
            "accounts.w.imap.command_timeout",
            "more than 0",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.pop3]\nhost = "h"\ntimeout = "20"',
            "accounts.w.pop3.timeout",
            "number of seconds",
        ),
        (
            '[accounts.w]\naddress = "a@b.c"\n[accounts.w.smtp]\nhost = "h"\ncommand_timeout = 5',
            "accounts.w.smtp.command_timeout",
            "unknown key",
        ),
        ("[ui]\ntheme = 3", "ui.theme", "must be a string"),
        ("[ui]\nwrap_width = 10", "ui.wrap_width", "between 20 and 1000 columns"),
        ("[ui]\nwrap_width = 2000", "ui.wrap_width", "between 20 and 1000 columns"),
        ('[ui]\nwrap_width = "90"', "ui.wrap_width", "whole number of columns, not a string"),
        ("[ui]\nwrap_width = true", "ui.wrap_width", "whole number of columns, not a boolean"),
        ("accounts = 3", "accounts", "must be a table"),
    ],
)
def test_errors_name_file_key_and_problem(text: str, key: str, fragment: str) -> None:
    error = _error(text)
    assert error.key == key
    assert fragment in error.problem
    assert str(error).startswith(f"/cfg/config.toml: {key}: ")


def test_invalid_toml_names_the_file_and_line() -> None:
    error = _error("[accounts.w\naddress = 1")
    assert "is not valid TOML" in str(error) and "line 1" in str(error)
    assert str(error).startswith("/cfg/config.toml: ")


def test_security_none_allowed_on_loopback() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"):
        config = parse_config(
            f'[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "{host}"\n'
            'security = "none"'
        )
        assert config.accounts["w"].incoming is not None


def test_missing_default_file_means_no_accounts(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert config.accounts == {}


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml", must_exist=True)


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[ui]\ntheme = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_ca_file_is_resolved(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = parse_config(f'[accounts.w]\naddress = "a@b.c"\nca_file = "{ca}"')
    assert config.accounts["w"].ca_file == ca


def test_every_key_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "config.md").read_text()
    documented = set(re.findall(r"^\| `([a-zA-Z0-9_.]+)` \|", doc, flags=re.M))
    documented = {k.replace("accounts.NAME.", "accounts.NAME.") for k in documented}
    assert documented == set(KNOWN_KEYS)


def test_incoming_timeouts_have_defaults_and_take_fractions() -> None:
    config = parse_config(
        '[accounts.w]\naddress = "a@b.c"\n[accounts.w.imap]\nhost = "h"\ncommand_timeout = 2.5'
    )
    server = config.accounts["w"].incoming
    assert server is not None
    assert (server.timeout, server.command_timeout) == (20.0, 2.5)


def test_wrap_width_defaults_to_90_columns() -> None:
    assert parse_config("").ui.wrap_width == 90
    assert parse_config("[ui]\nwrap_width = 72\n").ui.wrap_width == 72
