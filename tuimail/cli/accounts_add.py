"""`tuimail accounts add`: look an address's servers up, show them, confirm, write the account."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tuimail.config.discovered import AutoconfigError, Choice
from tuimail.config.schema import ACCOUNT_NAME_RE, Config, ConfigError
from tuimail.config.write import account_toml, add_account
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.discovery.lookup import lookup
from tuimail.sync.discovery.names import split_address
from tuimail.sync.discovery.network import Network


def account_name_for(address: str, taken: Iterable[str]) -> str:
    """A free account name from the address's domain: example.com -> example (example-2, ...)."""
    _, domain = split_address(address)
    base = re.sub(r"[^A-Za-z0-9_-]", "-", domain.split(".")[0]) or "mail"
    taken = set(taken)
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def account_text(
    name: str,
    address: str,
    choice: Choice,
    *,
    display_name: str = "",
    ca_file: Path | None = None,
) -> str:
    """The TOML of the account a choice describes (for `config.add_account`)."""
    settings: dict[str, str | int | bool] = {"address": address}
    if display_name:
        settings["display_name"] = display_name
    if ca_file is not None:
        settings["ca_file"] = str(ca_file)
    servers: dict[str, dict[str, Any]] = {}
    for setting in (choice.incoming, choice.smtp):
        if setting is not None:
            servers[setting.protocol.value] = {
                "host": setting.host,
                "port": setting.port,
                "security": setting.security.value,
                "username": setting.username,
            }
    return account_toml(name, settings, servers)


@dataclass
class AddOptions:
    """What `tuimail accounts add` was asked to do."""

    address: str
    config_path: Path
    config: Config
    name: str | None = None
    display_name: str = ""
    allow_plaintext: bool = False
    confirm: Callable[[str], bool] | None = None  # None: no way to ask (and no --yes)
    network: Network = field(default_factory=Network)


def add_command(options: AddOptions, out: IO[str], err: IO[str]) -> tuple[int, str | None]:
    """`tuimail accounts add`: look up, show, confirm, write. (exit status, the name of the
    account written, or None when nothing was written)."""
    try:
        split_address(options.address)
    except AutoconfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 2, None
    if options.name is not None and not ACCOUNT_NAME_RE.match(options.name):
        print("tuimail: error: account names may use only letters, digits, '-' and '_'", file=err)
        return 2, None
    if options.name is not None and options.name in options.config.accounts:
        print(f"tuimail: error: an account named {options.name!r} exists already", file=err)
        return 2, None
    print(f"Looking up the settings for {sanitize_line(options.address)}…", file=err)
    try:
        result = lookup(options.address, options.network, lambda line: print(f"  {line}", file=err))
    except AutoconfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 2, None
    if not result.found:
        print(
            "No settings were found. Add the account with the setup screen (`tuimail`, then A) "
            "or write it into the config file (docs/config.md).",
            file=out,
        )
        return 1, None
    choice = result.choose(allow_plaintext=options.allow_plaintext)
    for line in result.describe():
        print(sanitize_line(line), file=out)
    for warning in choice.warnings:
        # A warning can quote a provider's file (its sign-in method names): sanitized like
        # every other line from it.
        print(f"Warning: {sanitize_line(warning)}", file=out)
    if choice.plaintext_withheld:
        print("(--allow-plaintext chooses the unencrypted server.)", file=out)
    if choice.incoming is None and choice.smtp is None:
        print("Nothing usable was found; nothing was written.", file=out)
        return 1, None
    name = options.name or account_name_for(options.address, options.config.accounts)
    text = account_text(
        name,
        options.address,
        choice,
        display_name=options.display_name,
        ca_file=options.network.ca_file,
    )
    print(f"\nThe account to add to {options.config_path}:\n\n{text}", file=out)
    if options.confirm is None:
        print(
            "Nothing was written: standard input is not a terminal to confirm on; "
            "run again with --yes to add it.",
            file=out,
        )
        return 1, None
    if not options.confirm("Add this account? [y/N] "):
        print("Nothing was written.", file=out)
        return 1, None
    try:
        add_account(options.config_path, text)
    except ConfigError as exc:
        print(f"tuimail: error: {exc}", file=err)
        return 1, None
    print(f"Account {name!r} added to {options.config_path}.", file=out)
    return 0, name
