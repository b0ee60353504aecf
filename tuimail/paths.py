"""Where tuimail keeps its configuration and its data.

Configuration: `--config PATH`, else `$TUIMAIL_CONFIG`, else `<XDG config dir>/tuimail/config.toml`.
Data (the SQLite store, locks): `--data-dir DIR`, else `$TUIMAIL_DATA_DIR`, else
`<XDG data dir>/tuimail/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "tuimail"
CONFIG_ENV = "TUIMAIL_CONFIG"
DATA_DIR_ENV = "TUIMAIL_DATA_DIR"


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    """The config file to read, and whether the user named it (then it must exist)."""

    path: Path
    explicit: bool


def config_location(cli_value: str | os.PathLike[str] | None = None) -> ConfigLocation:
    """Resolve the config file from the command line, the environment, or the XDG default."""
    if cli_value:
        return ConfigLocation(Path(cli_value).expanduser(), explicit=True)
    env_value = os.environ.get(CONFIG_ENV)
    if env_value:
        return ConfigLocation(Path(env_value).expanduser(), explicit=True)
    default = platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"
    return ConfigLocation(default, explicit=False)


def data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data directory from the command line, the environment, or the XDG default."""
    if cli_value:
        return Path(cli_value).expanduser()
    env_value = os.environ.get(DATA_DIR_ENV)
    if env_value:
        return Path(env_value).expanduser()
    return platformdirs.user_data_path(APP_NAME, appauthor=False)
