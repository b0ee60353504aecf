"""TOML configuration → typed, validated settings.

Every error names the file, the key and what is wrong (`ConfigError`), and nothing starts with a bad
config. Unknown keys are errors with a "did you mean". `docs/config.md` documents every key; a test
checks that the two agree (`KNOWN_KEYS`).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tuimail.core.model import Protocol, Security
from tuimail.core.paths import private_dir

ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Ports when the table names none: implicit TLS ports, or the STARTTLS / plain ones.
DEFAULT_PORTS: dict[Protocol, dict[Security, int]] = {
    Protocol.IMAP: {Security.TLS: 993, Security.STARTTLS: 143, Security.NONE: 143},
    Protocol.POP3: {Security.TLS: 995, Security.STARTTLS: 110, Security.NONE: 110},
    Protocol.SMTP: {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 587},
}
INCOMING = (Protocol.IMAP, Protocol.POP3)
DEFAULT_READ_TIMEOUT = 20.0  # seconds
DEFAULT_COMMAND_TIMEOUT = 300.0  # seconds: a large message on a slow link still arrives


class ConfigError(Exception):
    """A configuration problem, phrased for the user: file, key, and what is wrong."""

    def __init__(self, path: Path | None, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = str(path) if path else "configuration"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server of an account (IMAP, POP3 or SMTP)."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    password_command: str | None = None
    # POP3 only: what happens on the server after a message is downloaded.
    leave_on_server: bool = True
    delete_after_days: int = 0
    # POP3 only: seconds between automatic fetches in the app (0: only on demand).
    interval: int = 300
    # IMAP only: download every message's body on every sync (full offline reading).
    bodies: bool = False
    # IMAP only, for servers without UIDPLUS: what happens to the messages a delete or move
    # leaves marked \Deleted ("ask": shown, expunged by the user's key; "always": the folder
    # is expunged at once; "never": left marked). See EXPUNGE_CHOICES.
    expunge: str = "ask"
    # SMTP only: keep a copy of each sent message in the Sent folder (IMAP APPEND, or locally).
    sent_copy: bool = True
    # SMTP only: seconds a queued message waits before it is sent (undo send).
    undo_send_seconds: int = 10
    # SMTP only: the name given in EHLO; None: the machine's (see connect.smtp_client_name).
    helo_name: str | None = None
    # The account's `auth` ("password" or "oauth2"), copied here so logins know what to send.
    auth: str = "password"
    # IMAP and POP3: seconds one read may wait for the server (`timeout`), and seconds the server
    # has for its greeting or for the whole answer to one command (`command_timeout`): a server
    # that trickles bytes never trips the first.
    timeout: float = DEFAULT_READ_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT


OAUTH2_PROVIDERS = ("google", "microsoft", "custom")
OAUTH2_FLOWS = ("browser", "paste", "device")
AUTH_CHOICES = ("password", "oauth2")
EXPUNGE_CHOICES = ("ask", "always", "never")


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    """An account's [oauth2] table: which authorization server, which client, which flow."""

    provider: str
    client_id: str
    client_secret: str | None = None
    client_secret_command: str | None = None
    tenant: str = "common"  # Microsoft only: "common", "organizations", "consumers" or an id
    auth_url: str | None = None
    token_url: str | None = None
    device_url: str | None = None
    scopes: tuple[str, ...] = ()
    flow: str = "browser"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account: an identity, one incoming server (or none: a local account), optional SMTP."""

    name: str
    address: str
    display_name: str = ""
    password_command: str | None = None
    ca_file: Path | None = None
    # Folders whose new mail is announced (fnmatch patterns; INBOX in any case). () for none.
    notify_folders: tuple[str, ...] = ("INBOX",)
    incoming: ServerConfig | None = None
    smtp: ServerConfig | None = None
    auth: str = "password"  # one of AUTH_CHOICES
    oauth2: OAuth2Config | None = None  # set when auth = "oauth2"

    def servers(self) -> tuple[ServerConfig, ...]:
        """The configured servers, incoming first."""
        return tuple(s for s in (self.incoming, self.smtp) if s is not None)

    def server(self, protocol: Protocol) -> ServerConfig | None:
        """The server for `protocol`, or None when the account has none."""
        return next((s for s in self.servers() if s.protocol == protocol), None)


@dataclass(frozen=True, slots=True)
class UiConfig:
    """Settings of the terminal app."""

    theme: str | None = None
    opener: str | None = None  # the command that opens an attachment; None: the platform's
    # The main screen's initial pane sizes (keys change them while the app runs).
    folder_width: int | None = None  # columns; None: a quarter of the terminal, 16 to 28
    list_percent: int = 45  # the message list's share of the height beside the folders


@dataclass(frozen=True, slots=True)
class ComposeConfig:
    """Settings of the composer: where address completion looks besides the store."""

    # vCard files, or directories searched for *.vcf (khard / vdirsyncer layout); ~ expanded.
    address_books: tuple[Path, ...] = ()
    # A shell command printing `address<TAB>name` lines for the typed text (aerc's contract).
    address_book_command: str | None = None
    # The command's first line is a status line to skip (mutt's query_command format).
    address_book_skip_first_line: bool = False


NOTIFY_DESKTOP_CHOICES = ("auto", "notify-send", "terminal", "off")


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """New-mail notifications beyond the app's own (which follow `notify_folders`)."""

    desktop: str = "auto"  # one of NOTIFY_DESKTOP_CHOICES
    min_interval: int = 60  # seconds between two notifications for one folder


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. `path` is the file it came from (None: built-in defaults)."""

    path: Path | None = None
    ui: UiConfig = field(default_factory=UiConfig)
    accounts: Mapping[str, AccountConfig] = field(default_factory=dict)
    # [keys]: action id -> key string ("j,down"), replacing the app's default keys.
    keys: Mapping[str, str] = field(default_factory=dict)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)


# --- the schema: key -> checker. Each checker takes (value, key path) and returns the typed value.

Checker = Callable[[Any, str], Any]


# A host name for EHLO: dot-separated labels of letters, digits and inner hyphens.
_HELO_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class _Checks:
    """Value checkers; they raise _Invalid with a user-facing description."""

    @staticmethod
    def string(value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"must be a string, not {_toml_type(value)}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise _Invalid("must be a single line (no line breaks or NUL characters)")
        return value

    @staticmethod
    def nonempty(value: Any, key: str) -> str:
        text = _Checks.string(value, key).strip()
        if not text:
            raise _Invalid("must not be empty")
        return text

    @staticmethod
    def address(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key)
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain or any(c.isspace() or c in "<>," for c in text):
            raise _Invalid(f"{text!r} is not an email address like alice@example.org")
        return text

    @staticmethod
    def host(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key)
        if any(c.isspace() or c in "/@" for c in text):
            raise _Invalid(f"{text!r} is not a host name or address")
        return text

    @staticmethod
    def helo_name(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key).strip()
        literal = text.startswith("[") and text.endswith("]")
        if not literal and not _HELO_NAME.fullmatch(text):
            raise _Invalid(
                f"{text!r} is not a host name (letters, digits, '-' and '.', like "
                "mail.example.org) or an address literal like [192.0.2.1]"
            )
        if literal and (any(c.isspace() for c in text) or not text.isascii()):
            raise _Invalid(f"{text!r} is not an address literal like [192.0.2.1]")
        return text

    @staticmethod
    def port(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number, not {_toml_type(value)}")
        if not 1 <= value <= 65535:
            raise _Invalid(f"{value} is not a port number (1 to 65535)")
        return value

    @staticmethod
    def security(value: Any, key: str) -> Security:
        text = _Checks.string(value, key)
        try:
            return Security(text)
        except ValueError:
            hint = _did_you_mean(text, [s.value for s in Security])
            raise _Invalid(f'{text!r} is not one of "tls", "starttls", "none"{hint}') from None

    @staticmethod
    def boolean(value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise _Invalid(f"must be true or false, not {_toml_type(value)}")
        return value

    @staticmethod
    def days(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number of days, not {_toml_type(value)}")
        if value < 0:
            raise _Invalid("must be 0 (never) or more")
        return value

    @staticmethod
    def seconds(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number of seconds, not {_toml_type(value)}")
        if value < 0:
            raise _Invalid("must be 0 (only on demand) or more")
        return value

    @staticmethod
    def timeout(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"must be a number of seconds, not {_toml_type(value)}")
        if not 0 < value <= 3600:
            raise _Invalid("must be more than 0 and at most 3600 seconds")
        return float(value)

    @staticmethod
    def grace_seconds(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number of seconds, not {_toml_type(value)}")
        if not 0 <= value <= 3600:
            raise _Invalid("must be between 0 (send at once) and 3600 seconds")
        return value

    @staticmethod
    def folder_width(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number of columns, not {_toml_type(value)}")
        if not 12 <= value <= 120:
            raise _Invalid("must be between 12 and 120 columns")
        return value

    @staticmethod
    def list_percent(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number (percent), not {_toml_type(value)}")
        if not 15 <= value <= 85:
            raise _Invalid("must be between 15 and 85 (percent)")
        return value

    @staticmethod
    def file(value: Any, key: str) -> Path:
        text = _Checks.nonempty(value, key)
        try:
            path = Path(text).expanduser()
            if not path.is_file():
                raise _Invalid(f"{str(path)!r} does not exist or is not a file")
        except (OSError, RuntimeError) as exc:  # no such user's home, a name too long, no access
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _Invalid(f"{text!r} cannot be used: {why}") from None
        if not os.access(path, os.R_OK):
            raise _Invalid(f"{str(path)!r} cannot be read (no permission)")
        return path


class _Invalid(Exception):
    """Raised by a checker; turned into a ConfigError with file and key."""


class _ListChecks:
    """Checkers of the address book and notification keys (arrays and choices)."""

    @staticmethod
    def strings(value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise _Invalid(f"must be an array of strings, not {_toml_type(value)}")
        return tuple(_Checks.nonempty(item, key) for item in value)

    @staticmethod
    def paths(value: Any, key: str) -> tuple[Path, ...]:
        # Not required to exist yet (a vdirsyncer directory may appear later): the composer
        # says what it could not read.
        return tuple(Path(item).expanduser() for item in _ListChecks.strings(value, key))

    @staticmethod
    def folder_patterns(value: Any, key: str) -> tuple[str, ...]:
        return _ListChecks.strings(value, key)

    @staticmethod
    def desktop(value: Any, key: str) -> str:
        text = _Checks.string(value, key)
        if text not in NOTIFY_DESKTOP_CHOICES:
            choices = ", ".join(f'"{c}"' for c in NOTIFY_DESKTOP_CHOICES)
            hint = _did_you_mean(text, list(NOTIFY_DESKTOP_CHOICES))
            raise _Invalid(f"{text!r} is not one of {choices}{hint}")
        return text

    @staticmethod
    def interval(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number of seconds, not {_toml_type(value)}")
        if not 0 <= value <= 86400:
            raise _Invalid("must be between 0 (no limit) and 86400 seconds")
        return value


class _OAuth2Checks:
    """Checkers of the [accounts.NAME.oauth2] keys."""

    @staticmethod
    def choice(value: Any, choices: tuple[str, ...]) -> str:
        text = _Checks.string(value, "")
        if text not in choices:
            names = ", ".join(f'"{c}"' for c in choices)
            raise _Invalid(f"{text!r} is not one of {names}{_did_you_mean(text, list(choices))}")
        return text

    @staticmethod
    def url(value: Any, key: str) -> str:
        from urllib.parse import urlsplit

        text = _Checks.nonempty(value, key)
        parts = urlsplit(text)
        if parts.scheme == "https" and parts.hostname:
            return text
        if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
            return text  # a local authorization server (RFC 8252 loopback)
        raise _Invalid(f"{text!r} is not an https:// URL (http:// is only allowed for loopback)")

    @staticmethod
    def scopes(value: Any, key: str) -> tuple[str, ...]:
        scopes = _ListChecks.strings(value, key)
        if any(" " in scope for scope in scopes):
            raise _Invalid("a scope must not contain spaces (list each scope separately)")
        return scopes


OAUTH2_KEYS: dict[str, Checker] = {
    "provider": lambda value, key: _OAuth2Checks.choice(value, OAUTH2_PROVIDERS),
    "client_id": _Checks.nonempty,
    "client_secret": _Checks.nonempty,
    "client_secret_command": _Checks.nonempty,
    "tenant": _Checks.nonempty,
    "auth_url": _OAuth2Checks.url,
    "token_url": _OAuth2Checks.url,
    "device_url": _OAuth2Checks.url,
    "scopes": _OAuth2Checks.scopes,
    "flow": lambda value, key: _OAuth2Checks.choice(value, OAUTH2_FLOWS),
}


def _oauth2(
    table: dict[str, Any], prefix: str, auth: str, path: Path | None
) -> OAuth2Config | None:
    """The account's [oauth2] table, checked against its `auth`."""
    if "oauth2" not in table:
        if auth == "oauth2":
            raise ConfigError(
                path, f"{prefix}.oauth2", 'is required with auth = "oauth2" (provider, client_id)'
            )
        return None
    if auth != "oauth2":
        raise ConfigError(path, f"{prefix}.oauth2", 'only applies with auth = "oauth2"')
    where = f"{prefix}.oauth2"
    oauth = _table(table["oauth2"], where, path)
    _reject_unknown(oauth, OAUTH2_KEYS, where + ".", path)
    settings = _check_keys(oauth, OAUTH2_KEYS, where + ".", path)
    for required in ("provider", "client_id"):
        if required not in settings:
            raise ConfigError(path, f"{where}.{required}", "is required")
    if "client_secret" in settings and "client_secret_command" in settings:
        raise ConfigError(
            path, f"{where}.client_secret_command", "set client_secret or this, not both"
        )
    if settings["provider"] == "custom":
        for required in ("auth_url", "token_url", "scopes"):
            if not settings.get(required):
                raise ConfigError(
                    path, f"{where}.{required}", 'is required with provider = "custom"'
                )
    elif "tenant" in settings and settings["provider"] != "microsoft":
        raise ConfigError(path, f"{where}.tenant", 'only applies with provider = "microsoft"')
    if settings.get("flow") == "device" and settings["provider"] == "google":
        raise ConfigError(
            path,
            f"{where}.flow",
            'Google does not allow mail access in the device flow; use "paste" or "browser"',
        )
    if (
        settings.get("flow") == "device"
        and settings["provider"] == "custom"
        and not settings.get("device_url")
    ):
        raise ConfigError(path, f"{where}.device_url", 'is required with flow = "device"')
    return OAuth2Config(**settings)


COMPOSE_KEYS: dict[str, Checker] = {
    "address_books": _ListChecks.paths,
    "address_book_command": _Checks.nonempty,
    "address_book_skip_first_line": _Checks.boolean,
}
NOTIFY_KEYS: dict[str, Checker] = {
    "desktop": _ListChecks.desktop,
    "min_interval": _ListChecks.interval,
}


UI_KEYS: dict[str, Checker] = {
    "theme": _Checks.nonempty,
    "opener": _Checks.nonempty,
    "folder_width": _Checks.folder_width,
    "list_percent": _Checks.list_percent,
}
ACCOUNT_KEYS: dict[str, Checker] = {
    "address": _Checks.address,
    "display_name": _Checks.string,
    "password_command": _Checks.nonempty,
    "ca_file": _Checks.file,
    "notify_folders": _ListChecks.folder_patterns,
    "auth": lambda value, key: _OAuth2Checks.choice(value, AUTH_CHOICES),
}
SERVER_KEYS: dict[str, Checker] = {
    "host": _Checks.host,
    "port": _Checks.port,
    "security": _Checks.security,
    "username": _Checks.nonempty,
    "password_command": _Checks.nonempty,
}
INCOMING_KEYS: dict[str, Checker] = {
    **SERVER_KEYS,
    "timeout": _Checks.timeout,
    "command_timeout": _Checks.timeout,
}
POP3_KEYS: dict[str, Checker] = {
    **INCOMING_KEYS,
    "leave_on_server": _Checks.boolean,
    "delete_after_days": _Checks.days,
    "interval": _Checks.seconds,
}
IMAP_KEYS: dict[str, Checker] = {
    **INCOMING_KEYS,
    "bodies": _Checks.boolean,
    "expunge": lambda value, key: _OAuth2Checks.choice(value, EXPUNGE_CHOICES),
}
SMTP_KEYS: dict[str, Checker] = {
    **SERVER_KEYS,
    "sent_copy": _Checks.boolean,
    "undo_send_seconds": _Checks.grace_seconds,
    "helo_name": _Checks.helo_name,
}
PROTOCOL_KEYS: dict[Protocol, dict[str, Checker]] = {
    Protocol.IMAP: IMAP_KEYS,
    Protocol.POP3: POP3_KEYS,
    Protocol.SMTP: SMTP_KEYS,
}
TOP_KEYS = ("ui", "accounts", "keys", "compose", "notify")
# The actions whose keys [keys] may change: the ids of the app's key bindings (a test checks
# that the app defines exactly these).
KEY_ACTIONS: tuple[str, ...] = (
    # main screen
    "quit", "next-pane", "back", "search", "search-all", "help", "toggle-read", "toggle-flag",
    "delete", "undo", "move", "copy", "compose", "reply", "reply-all", "forward", "outbox", "sort",
    "health", "get-mail", "save-attachments", "open-attachment", "add-account", "expunge",
    # main screen: panes
    "folders-pane", "view-pane", "folders-narrower", "folders-wider", "view-smaller",
    "view-larger",
    # message list
    "up", "down", "page-up", "page-down", "first", "last", "open", "threads", "thread-fold",
    # composer
    "send", "send-later", "edit-externally", "attach", "drop-attachment", "discard",
    # outbox
    "outbox-take-back", "outbox-retry", "outbox-remove", "outbox-confirm-sent",
    # drafts: main screen, composer
    "forward-attached", "edit-draft", "save-draft",
)  # fmt: skip
_KEY_STRING = re.compile(r"^[^\s,]+(,[^\s,]+)*$")

# Every documented key, as written in docs/config.md (a test compares the two).
KNOWN_KEYS: tuple[str, ...] = (
    *(f"ui.{k}" for k in UI_KEYS),
    *(f"compose.{k}" for k in COMPOSE_KEYS),
    *(f"notify.{k}" for k in NOTIFY_KEYS),
    "keys.ACTION",
    *(f"accounts.NAME.{k}" for k in ACCOUNT_KEYS),
    *(f"accounts.NAME.{p.value}.{k}" for p, keys in PROTOCOL_KEYS.items() for k in keys),
    *(f"accounts.NAME.oauth2.{k}" for k in OAUTH2_KEYS),
)


# The most of a config file that is read: far above any real one (a few kilobytes).
MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path, *, must_exist: bool = False) -> Config:
    """Read and validate the config file at `path`.

    A missing file gives the built-in defaults (no accounts) unless `must_exist` (the user named the
    file). Raises ConfigError for anything wrong, naming the file and the key.
    """
    try:
        # A bounded read: a path such as /dev/zero, or a huge file named by mistake, must not
        # fill memory. A real config file is a few kilobytes.
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(path, None, "no such file") from None
        return Config()
    except OSError as exc:
        raise ConfigError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            path, None, f"is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB; not a config file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"is not UTF-8 text (byte {exc.start})") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Validate TOML text; `path` is only used in error messages and stored in the result."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"is not valid TOML: {exc}") from None
    _reject_unknown(raw, TOP_KEYS, "", path)
    ui_table = _table(raw.get("ui", {}), "ui", path)
    _reject_unknown(ui_table, UI_KEYS, "ui.", path)
    ui = UiConfig(**_check_keys(ui_table, UI_KEYS, "ui.", path))
    accounts_table = _table(raw.get("accounts", {}), "accounts", path)
    accounts: dict[str, AccountConfig] = {}
    for name, table in accounts_table.items():
        accounts[name] = _account(name, table, path)
    keys = _keys(_table(raw.get("keys", {}), "keys", path), path)
    compose, notify = _compose_and_notify(raw, path)
    return Config(path=path, ui=ui, accounts=accounts, keys=keys, compose=compose, notify=notify)


def _compose_and_notify(
    raw: dict[str, Any], path: Path | None
) -> tuple[ComposeConfig, NotifyConfig]:
    """The [compose] and [notify] tables."""
    compose_table = _table(raw.get("compose", {}), "compose", path)
    _reject_unknown(compose_table, COMPOSE_KEYS, "compose.", path)
    compose = ComposeConfig(**_check_keys(compose_table, COMPOSE_KEYS, "compose.", path))
    notify_table = _table(raw.get("notify", {}), "notify", path)
    _reject_unknown(notify_table, NOTIFY_KEYS, "notify.", path)
    notify = NotifyConfig(**_check_keys(notify_table, NOTIFY_KEYS, "notify.", path))
    return compose, notify


def _keys(table: dict[str, Any], path: Path | None) -> dict[str, str]:
    _reject_unknown(table, KEY_ACTIONS, "keys.", path)
    keys = {}
    for action, value in table.items():
        text = value.replace(" ", "") if isinstance(value, str) else value
        if not isinstance(text, str) or not _KEY_STRING.match(text):
            raise ConfigError(
                path, f"keys.{action}", 'must be keys like "m" or "ctrl+n" or "j,down"'
            )
        keys[action] = text
    return keys


def _account(name: str, value: Any, path: Path | None) -> AccountConfig:
    prefix = f"accounts.{name}"
    if not ACCOUNT_NAME_RE.match(name):
        raise ConfigError(path, prefix, "account names may use only letters, digits, '-' and '_'")
    table = _table(value, prefix, path)
    allowed = (*ACCOUNT_KEYS, *(p.value for p in Protocol), "oauth2")
    _reject_unknown(table, allowed, prefix + ".", path)
    settings = _check_keys(
        {k: v for k, v in table.items() if k in ACCOUNT_KEYS}, ACCOUNT_KEYS, prefix + ".", path
    )
    if "address" not in settings:
        raise ConfigError(path, f"{prefix}.address", "is required (the account's email address)")
    settings["oauth2"] = _oauth2(table, prefix, settings.get("auth", "password"), path)
    incoming_names = [p for p in INCOMING if p.value in table]
    if len(incoming_names) > 1:
        raise ConfigError(
            path,
            prefix,
            "has both [imap] and [pop3]; an account has one incoming protocol "
            "(make a second account for the other)",
        )
    servers = {
        p: _server(p, table[p.value], f"{prefix}.{p.value}", settings["address"], path)
        for p in Protocol
        if p.value in table
    }
    if settings.get("auth") == "oauth2":
        # The login sends access tokens, never a password: a password command would be ignored.
        for where, server_settings in [(prefix, settings), *_server_tables(table, prefix)]:
            if "password_command" in server_settings:
                raise ConfigError(
                    path,
                    f"{where}.password_command",
                    'is not used with auth = "oauth2" (logins use access tokens); remove it, '
                    "or use oauth2.client_secret_command for the client secret",
                )
        servers = {p: replace(s, auth="oauth2") for p, s in servers.items()}
    return AccountConfig(
        name=name,
        incoming=servers.get(incoming_names[0]) if incoming_names else None,
        smtp=servers.get(Protocol.SMTP),
        **settings,
    )


def _server_tables(table: dict[str, Any], prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The account's server tables that are tables, with their dotted names."""
    return [
        (f"{prefix}.{p.value}", table[p.value])
        for p in Protocol
        if isinstance(table.get(p.value), dict)
    ]


def _server(
    protocol: Protocol, value: Any, prefix: str, address: str, path: Path | None
) -> ServerConfig:
    table = _table(value, prefix, path)
    keys = PROTOCOL_KEYS[protocol]
    _reject_unknown(table, keys, prefix + ".", path)
    settings = _check_keys(table, keys, prefix + ".", path)
    if "host" not in settings:
        raise ConfigError(path, f"{prefix}.host", "is required (the server's host name)")
    security = settings.setdefault("security", Security.TLS)
    settings.setdefault("port", DEFAULT_PORTS[protocol][security])
    settings.setdefault("username", address)
    if security is Security.NONE and not _is_loopback(settings["host"]):
        raise ConfigError(
            path,
            f"{prefix}.security",
            f'"none" sends the password unencrypted and is only allowed for a loopback host '
            f'(127.0.0.1, ::1, localhost), not {settings["host"]!r}; use "tls" or "starttls"',
        )
    if (
        protocol is Protocol.POP3
        and settings.get("delete_after_days", 0) > 0
        and settings.get("leave_on_server") is False
    ):
        raise ConfigError(
            path,
            f"{prefix}.delete_after_days",
            "only applies when leave_on_server = true (with leave_on_server = false, "
            "messages are deleted right after download)",
        )
    return ServerConfig(protocol=protocol, **settings)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _table(value: Any, key: str, path: Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, key, f"must be a table ([{key}]), not {_toml_type(value)}")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: Any, prefix: str, path: Path | None) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(path, prefix + key, f"unknown key{_did_you_mean(key, allowed)}")


def _check_keys(
    table: Mapping[str, Any], checkers: Mapping[str, Checker], prefix: str, path: Path | None
) -> dict[str, Any]:
    result = {}
    for key, value in table.items():
        try:
            result[key] = checkers[key](value, prefix + key)
        except _Invalid as exc:
            raise ConfigError(path, prefix + key, str(exc)) from None
    return result


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _toml_type(value: Any) -> str:
    match value:
        case bool():
            return "a boolean"
        case int():
            return "a number"
        case float():
            return "a decimal number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "a table"
    return type(value).__name__


# --- writing: the account setup screen adds accounts to the user's file --------------------


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
