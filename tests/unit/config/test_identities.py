"""[[accounts.NAME.identities]] and signatures: read into typed identities, the account's own
first; every mistake is an error naming the file, the key and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuimail.config.load import load_config
from tuimail.config.schema import ConfigError, Identity


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, must_exist=True), path


def test_identities_follow_the_accounts_own_address_with_their_signatures(tmp_path: Path) -> None:
    sig = tmp_path / "support.sig"
    sig.write_text("Example Support\nhttps://example.org/help\n")
    config, _ = _load(
        tmp_path,
        f"""
[accounts.work]
address = "alice@example.org"
display_name = "Alice Example"
signature = \"\"\"Alice
Example Org\"\"\"

[[accounts.work.identities]]
address = "support@example.org"
name = "Example Support"
signature_file = {json.dumps(str(sig))}

[[accounts.work.identities]]
address = "alice@example.net"
""",
    )
    account = config.accounts["work"]
    assert account.all_identities() == (
        Identity("alice@example.org", "Alice Example", "Alice\nExample Org"),
        Identity("support@example.org", "Example Support", signature_file=sig),
        Identity("alice@example.net"),
    )


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ('address = "not an address"', "identities[1].address", "is not an email address"),
        ('name = "No Address"', "identities[1].address", "is required"),
        ('address = "ALICE@example.org"', "identities[1].address", "listed more than once"),
        ('address = "b@example.org"\nsigature = "x"', "identities[1].sigature", "unknown key"),
        (
            'address = "b@example.org"\nsignature = "x"\nsignature_file = "/etc/hostname"',
            "identities[1].signature_file",
            "not both",
        ),
        ('address = "b@example.org"\nsignature = "a\\u0007b"', "identities[1].signature", "U+0007"),
    ],
)
def test_a_bad_identity_is_an_error_naming_its_key(
    tmp_path: Path, table: str, key: str, problem: str
) -> None:
    text = (
        f'[accounts.work]\naddress = "alice@example.org"\n[[accounts.work.identities]]\n{table}\n'
    )
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert caught.value.key == f"accounts.work.{key}"
    assert problem in caught.value.problem


def test_identities_must_be_an_array_of_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            tmp_path, '[accounts.work]\naddress = "a@example.org"\nidentities = "b@example.org"\n'
        )
    assert caught.value.key == "accounts.work.identities"
    assert "array of tables" in caught.value.problem


@pytest.mark.parametrize("where", ["account", "identity"])
def test_an_unreadable_signature_file_is_named_when_the_config_is_loaded(
    tmp_path: Path, where: str
) -> None:
    missing = tmp_path / "gone.sig"
    line = f"signature_file = {json.dumps(str(missing))}"
    text = '[accounts.work]\naddress = "alice@example.org"\n'
    if where == "account":
        text += line + "\n"
    else:
        text += f'[[accounts.work.identities]]\naddress = "b@example.org"\n{line}\n'
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "config.toml"))
