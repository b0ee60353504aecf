"""Adding an account to the config file: appended, validated first, never half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuimail.config.load import load_config
from tuimail.config.schema import ConfigError
from tuimail.config.write import account_toml, add_account

EXISTING = '# my settings\n[ui]\ntheme = "tuimail-light"   # keep this comment\n'


def _text(name: str = "work", port: int | str = 993) -> str:
    return account_toml(
        name,
        {"address": "alice@example.org", "display_name": 'Alice "Al" Example'},
        {"imap": {"host": "imap.example.org", "port": port, "security": "tls"}},
    )


def test_appends_and_keeps_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(EXISTING)
    config = add_account(path, _text())
    assert path.read_text().startswith(EXISTING)
    assert config.accounts["work"].display_name == 'Alice "Al" Example'
    assert load_config(path).accounts["work"].incoming is not None
    assert path.stat().st_mode & 0o777 == 0o600


def test_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "tuimail" / "config.toml"
    add_account(path, _text())
    assert list(load_config(path).accounts) == ["work"]


def test_a_taken_name_or_a_bad_value_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    add_account(path, _text())
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="taken"):
        add_account(path, _text())
    with pytest.raises(ConfigError, match="port"):
        add_account(path, _text("other", port=70000))
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".config.toml.new"))


def test_a_list_of_strings_is_written_as_a_toml_array() -> None:
    import tomllib

    text = account_toml(
        "work",
        {"address": "me@example.org", "auth": "oauth2"},
        {"oauth2": {"provider": "microsoft", "client_id": "c", "scopes": ['a "b"', "c\\d"]}},
    )
    parsed = tomllib.loads(text)["accounts"]["work"]["oauth2"]
    assert parsed["scopes"] == ['a "b"', "c\\d"]
