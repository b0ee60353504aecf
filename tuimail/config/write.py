"""Writing the config file: the account setup screen and `tuimail accounts add` append an
account's TOML to the user's file, keeping what is there and checking the result first."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuimail.config.load import parse_config
from tuimail.config.schema import Config, ConfigError
from tuimail.core.paths import private_dir

TomlValue = str | int | bool | Sequence[str]


def _toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):  # a list of strings (OAuth2 scopes): a TOML array
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    # A JSON string is a valid TOML basic string (same escapes for quotes, backslashes, controls).
    return json.dumps(value, ensure_ascii=False)


def account_toml(
    name: str, settings: Mapping[str, TomlValue], servers: Mapping[str, Mapping[str, Any]]
) -> str:
    """The TOML text of one account: `[accounts.NAME]` with `settings`, and one sub-table per
    server (`imap`, `pop3`, `smtp`) or other table (`oauth2`). Values are strings, integers,
    booleans or lists of strings."""
    lines = [f"[accounts.{name}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    for protocol, table in servers.items():
        lines += ["", f"[accounts.{name}.{protocol}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def add_account(path: Path, text: str) -> Config:
    """Append one account's TOML to the config file at `path` (created if missing), keeping what
    is there byte for byte. The result is validated first: nothing is written when the new file
    would not load (ConfigError says why, e.g. the account name is taken). Returns the new Config.
    """
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot be read: {exc}") from None
    separator = (
        ""
        if not existing or existing.endswith("\n\n")
        else ("\n" if existing.endswith("\n") else "\n\n")
    )
    combined = existing + separator + text
    try:
        config = parse_config(combined, path)
    except ConfigError as exc:
        if "Cannot declare" in exc.problem or "already" in exc.problem:
            raise ConfigError(path, exc.key, "that account name is taken; choose another") from None
        raise
    private_dir(path.parent)  # 0700; an existing tuimail config dir is tightened
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(combined)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return config
