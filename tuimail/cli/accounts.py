"""`tuimail accounts`: list, check, add and authorize accounts, and store their passwords.

The protocol work is elsewhere (`sync.check`, `sync.discovery.autoconfig`, `auth`); these
functions take the parsed arguments, import what the command needs, and report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from tuimail.cli.parser import config_of
from tuimail.config.schema import AccountConfig, Config
from tuimail.core.model import Protocol
from tuimail.core.paths import config_location


def cmd_accounts_list(args: argparse.Namespace, config: Config) -> int:
    """Print the configured accounts and their servers."""
    location = config_location(args.config)
    if not config.accounts:
        print(f"No accounts configured (config file: {location.path}).")
        return EXIT_OK
    for account in config.accounts.values():
        print(f"{account.name}: {account.address}")
        for identity in account.identities:  # the other addresses it writes as
            name = f" ({identity.name})" if identity.name else ""
            print(f"  also writes as {identity.address}{name}")
        servers = account.servers()
        if not servers:
            print("  local account (no servers)")
        for server in servers:
            print(
                f"  {server.protocol.value.upper():<4} {server.host}:{server.port} "
                f"{server.security.value} as {server.username}"
            )
    return EXIT_OK


def cmd_accounts_check(args: argparse.Namespace, config: Config) -> int:
    """Connect and log in to every configured server."""
    from tuimail.sync.check import check_command

    confirmed = check_command(
        config, sys.stdout, timeout=args.timeout, config_path=config_location(args.config).path
    )
    return EXIT_OK if confirmed else EXIT_FAILED


def _configured_account(config: Config, name: str) -> AccountConfig:
    """The account named `name`, or a usage error that lists the configured ones."""
    account = config.accounts.get(name)
    if account is None:
        known = ", ".join(config.accounts) or "none"
        raise CommandError(f"no account {name!r} in the config (configured: {known})", EXIT_USAGE)
    return account


def cmd_accounts_set_password(args: argparse.Namespace, config: Config) -> int:
    """Store a password in the system keyring."""
    from tuimail.auth.secrets import SecretError, set_password

    account = _configured_account(config, args.account)
    protocol = Protocol(args.protocol) if args.protocol else None
    if protocol is not None and account.server(protocol) is None:
        raise CommandError(
            f"account {account.name!r} has no [{protocol.value}] server configured", EXIT_USAGE
        )
    password = _read_password(f"Password for {account.name} ({account.address}): ")
    try:
        entry = set_password(account.name, password, protocol)
    except SecretError as exc:
        raise CommandError(str(exc)) from None
    print(f"Stored in the system keyring as service 'tuimail', entry {entry!r}.")
    return EXIT_OK


def cmd_accounts_authorize(args: argparse.Namespace, config: Config) -> int:
    """Run the OAuth2 authorization flow for an account and store its refresh token."""
    import webbrowser

    from tuimail.auth.oauth import FlowUi, authorize
    from tuimail.auth.secrets import SecretError
    from tuimail.core.tls import printable_line

    account = _configured_account(config, args.account)
    if account.oauth2 is None:
        raise CommandError(
            f'account {account.name!r} does not use auth = "oauth2"; nothing to authorize',
            EXIT_USAGE,
        )

    def open_browser(url: str) -> bool:
        try:
            return webbrowser.open(url)
        except webbrowser.Error:
            return False

    def show(text: str) -> None:
        # The URLs come from the config and the provider's answer: printable lines only.
        print("\n".join(printable_line(line, 4000) for line in text.split("\n")), flush=True)

    def ask(prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:
            raise CommandError("no address was given") from None

    try:
        authorize(account, FlowUi(open_browser, show, ask), flow=args.flow)
    except SecretError as exc:  # OAuthError, or the keyring failed
        raise CommandError(f"account {account.name!r}: {exc}") from None
    print(f"Authorized; the refresh token is in the system keyring, entry '{account.name}/oauth'.")
    return EXIT_OK


def cmd_accounts_add(args: argparse.Namespace, config: Config) -> int:
    """Find an address's settings, show them, and add the account when confirmed."""
    from tuimail.cli.accounts_add import AddOptions, add_command
    from tuimail.sync.discovery.network import ISPDB_URL, Network

    ca_file = Path(args.ca_file).expanduser().resolve() if args.ca_file else None
    if ca_file is not None and not ca_file.is_file():
        raise CommandError(f"--ca-file: {str(ca_file)!r} is not a file", EXIT_USAGE)
    ispdb = args.ispdb or ISPDB_URL
    if not ispdb.startswith("https://"):
        raise CommandError("--ispdb must be an https:// address", EXIT_USAGE)
    interactive = sys.stdin.isatty()

    def ask(question: str) -> bool:
        return input(question).strip().lower() in ("y", "yes")

    confirm = (lambda question: True) if args.yes else (ask if interactive else None)
    options = AddOptions(
        address=args.address,
        config_path=config_location(args.config).path,
        config=config,
        name=args.name,
        display_name=args.display_name,
        allow_plaintext=args.allow_plaintext,
        confirm=confirm,
        network=Network(ca_file=ca_file, ispdb_url=ispdb.rstrip("/") + "/"),
    )
    status, name = add_command(options, sys.stdout, sys.stderr)
    if status != EXIT_OK or name is None:
        return status
    if interactive and not args.yes and ask("Store the password in the system keyring now? [y/N] "):
        args.account, args.protocol = name, None
        return cmd_accounts_set_password(args, config_of(args))
    print(f"Store its password with: tuimail accounts set-password {name}")
    return EXIT_OK


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")
