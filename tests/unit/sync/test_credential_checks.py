"""A CR, LF or NUL in a user name or password never reaches a server.

In a protocol command line (IMAP LOGIN, POP3 USER/PASS, SMTP AUTH continuation) such a character
ends the command and lets the rest be read as a command of its own. Each source refuses it with
an error that names the source: the config file (ConfigError), a password command or the keyring
(SecretError). The connect helpers refuse it again, whatever the source
(tests/integration/test_starttls_attacks.py, against the real servers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tuimail.auth import secrets
from tuimail.auth.credentials import get_password
from tuimail.auth.secrets import SecretError
from tuimail.config.load import parse_config
from tuimail.config.schema import AccountConfig, ConfigError
from tuimail.core.model import Protocol

BAD = {"crlf": "\r\nA1 LOGOUT", "lf": "\nQUIT", "cr": "\rX", "nul": "\0X"}
ACCOUNT = """
[accounts.w]
address = "alice@example.org"
[accounts.w.{protocol}]
host = "mail.example.org"
{line}
"""


def toml_string(text: str) -> str:
    """`text` as a TOML basic string (a JSON string is one: same escapes)."""
    return json.dumps(text)


@pytest.mark.parametrize("protocol", list(Protocol))
@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_user_name_with_a_line_break_is_a_config_error(protocol: Protocol, bad: str) -> None:
    text = ACCOUNT.format(protocol=protocol.value, line=f"username = {toml_string('alice' + bad)}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert f"accounts.w.{protocol.value}.username" in message
    assert "must be a single line (no line breaks or NUL characters)" in message


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_address_with_a_line_break_is_a_config_error(bad: str) -> None:
    """The address is the default user name, so it may not smuggle one in either."""
    text = ACCOUNT.format(protocol="imap", line="").replace(
        'address = "alice@example.org"', f"address = {toml_string('alice@example.org' + bad)}"
    )
    with pytest.raises(ConfigError, match=r"accounts\.w\.address"):
        parse_config(text)


@pytest.mark.parametrize("protocol", list(Protocol))
def test_valid_user_name_is_kept(protocol: Protocol) -> None:
    """The check refuses only the dangerous characters (guards the tests above)."""
    text = ACCOUNT.format(protocol=protocol.value, line='username = "alice+tag@example.org"')
    account = parse_config(text).accounts["w"]
    server = account.server(protocol)
    assert server is not None and server.username == "alice+tag@example.org"


def command_account(command: str) -> AccountConfig:
    text = ACCOUNT.format(protocol="imap", line=f"password_command = {toml_string(command)}")
    return parse_config(text).accounts["w"]


def test_password_command_printing_a_nul_is_refused() -> None:
    account = command_account("printf 'Pw-Before\\000A1 LOGOUT\\n'")
    with pytest.raises(SecretError) as caught:
        get_password(account, Protocol.IMAP)
    message = str(caught.value)
    assert message == (
        "accounts.w.imap.password_command: the password contains a line break or NUL "
        "character, which cannot be sent to a server"
    )
    assert "Pw-Before" not in message


def test_password_command_uses_only_its_first_line() -> None:
    """A CR or LF ends the first line: what follows is never part of the password."""
    account = command_account("printf 'Pw-First\\rA1 LOGOUT\\nsecond\\n'")
    assert get_password(account, Protocol.IMAP) == "Pw-First"


def test_password_command_with_a_plain_password_works() -> None:
    account = command_account("printf 'Pw-Fine-42\\n'")
    assert get_password(account, Protocol.IMAP) == "Pw-Fine-42"


# --- the keyring, a real Secret Service (gnome-keyring on a private D-Bus)


@pytest.fixture
def real_keyring() -> Iterator[None]:
    from tests.support.keyring_service import keyring_in_this_process, running_secret_service

    with running_secret_service() as service, keyring_in_this_process(service, forget=("w/imap",)):
        yield


@pytest.mark.integration
def test_keyring_entry_with_a_line_break_is_refused(real_keyring: None) -> None:
    import keyring

    account = parse_config(ACCOUNT.format(protocol="imap", line="")).accounts["w"]
    # Stored by another program (tuimail itself refuses to store it, below).
    keyring.set_password(secrets.KEYRING_SERVICE, "w/imap", "Pw-Keyring\r\nA1 LOGOUT")
    with pytest.raises(SecretError) as caught:
        get_password(account, Protocol.IMAP)
    assert str(caught.value) == (
        "account 'w': keyring entry 'w/imap': the password contains a line break or NUL "
        "character, which cannot be sent to a server"
    )
    with pytest.raises(SecretError, match="refusing to store a password with a line break"):
        secrets.set_password("w", "Pw-New\nA1 LOGOUT", Protocol.IMAP)
    assert keyring.get_password(secrets.KEYRING_SERVICE, "w/imap") == "Pw-Keyring\r\nA1 LOGOUT"
