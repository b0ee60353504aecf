"""Reading the config file: TOML text -> a validated `Config`, or a ConfigError naming the file,
the key and the problem. Nothing starts with a bad config; unknown keys are errors with a "did
you mean"."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tuimail.config.schema import (
    ACCOUNT_KEYS,
    ACCOUNT_NAME_RE,
    COMPOSE_KEYS,
    DEFAULT_PORTS,
    IDENTITY_KEYS,
    INCOMING,
    KEY_ACTIONS,
    KEY_STRING_RE,
    NOTIFY_KEYS,
    OAUTH2_KEYS,
    PROTOCOL_KEYS,
    TOP_KEYS,
    UI_KEYS,
    AccountConfig,
    BodyPolicy,
    Checker,
    ComposeConfig,
    Config,
    ConfigError,
    Identity,
    Invalid,
    NotifyConfig,
    OAuth2Config,
    ServerConfig,
    UiConfig,
    did_you_mean,
    is_loopback,
    toml_type,
)
from tuimail.core.model import Protocol, Security

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
        if not isinstance(text, str) or not KEY_STRING_RE.match(text):
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
    allowed = (*ACCOUNT_KEYS, *(p.value for p in Protocol), "oauth2", "identities")
    _reject_unknown(table, allowed, prefix + ".", path)
    settings = _check_keys(
        {k: v for k, v in table.items() if k in ACCOUNT_KEYS}, ACCOUNT_KEYS, prefix + ".", path
    )
    if "address" not in settings:
        raise ConfigError(path, f"{prefix}.address", "is required (the account's email address)")
    settings["oauth2"] = _oauth2(table, prefix, settings.get("auth", "password"), path)
    _one_signature(settings, prefix, path)
    settings["identities"] = _identities(table.get("identities", []), prefix, settings, path)
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


def _one_signature(settings: Mapping[str, Any], prefix: str, path: Path | None) -> None:
    """An identity has a signature text or a signature file, not both."""
    if "signature" in settings and "signature_file" in settings:
        raise ConfigError(path, f"{prefix}.signature_file", "set signature or this, not both")


def _identities(
    value: Any, prefix: str, account: Mapping[str, Any], path: Path | None
) -> tuple[Identity, ...]:
    """The account's [[accounts.NAME.identities]]: each with an address (checked like the
    account's, and none twice, the account's own included), a name and a signature."""
    where = f"{prefix}.identities"
    if not isinstance(value, list):
        raise ConfigError(
            path, where, f"must be an array of tables ([[{where}]]), not {toml_type(value)}"
        )
    seen = {account["address"].lower()}
    found: list[Identity] = []
    for number, item in enumerate(value, 1):
        here = f"{where}[{number}]"
        table = _table(item, here, path)
        _reject_unknown(table, IDENTITY_KEYS, here + ".", path)
        settings = _check_keys(table, IDENTITY_KEYS, here + ".", path)
        if "address" not in settings:
            raise ConfigError(path, f"{here}.address", "is required (the address to write as)")
        _one_signature(settings, here, path)
        if settings["address"].lower() in seen:
            raise ConfigError(
                path, f"{here}.address", f"{settings['address']!r} is listed more than once"
            )
        seen.add(settings["address"].lower())
        found.append(Identity(**settings))
    return tuple(found)


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
    if security is Security.NONE and not is_loopback(settings["host"]):
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
    if protocol is Protocol.IMAP:
        settings["bodies"] = _body_policy(settings, prefix, path)
    return ServerConfig(protocol=protocol, **settings)


def _body_policy(settings: dict[str, Any], prefix: str, path: Path | None) -> BodyPolicy:
    """The IMAP table's `bodies`, `bodies_days` and `bodies_max_kib` as one policy (taken out
    of `settings`); a key that does not apply to the chosen `bodies` is an error."""
    default = BodyPolicy()
    keep = settings.pop("bodies", default.keep)
    days = settings.pop("bodies_days", None)
    max_kib = settings.pop("bodies_max_kib", None)
    if days is not None and keep != "recent":
        raise ConfigError(
            path, f"{prefix}.bodies_days", f'only applies with bodies = "recent", not {keep!r}'
        )
    if max_kib is not None and keep == "none":
        raise ConfigError(
            path,
            f"{prefix}.bodies_max_kib",
            'does not apply with bodies = "none" (no body is downloaded ahead)',
        )
    return BodyPolicy(
        keep=keep,
        days=default.days if days is None else days,
        max_kib=default.max_kib if max_kib is None else max_kib,
    )


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


def _table(value: Any, key: str, path: Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, key, f"must be a table ([{key}]), not {toml_type(value)}")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: Any, prefix: str, path: Path | None) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(path, prefix + key, f"unknown key{did_you_mean(key, allowed)}")


def _check_keys(
    table: Mapping[str, Any], checkers: Mapping[str, Checker], prefix: str, path: Path | None
) -> dict[str, Any]:
    result = {}
    for key, value in table.items():
        try:
            result[key] = checkers[key](value, prefix + key)
        except Invalid as exc:
            raise ConfigError(path, prefix + key, str(exc)) from None
    return result
