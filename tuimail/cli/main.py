"""Command-line entry point: argument parsing and the headless subcommands.

Heavy modules (textual, keyring, the protocol engines) are imported inside the command that needs
them, so a headless command pays only for what it uses.

Exit status: 0 success, 1 the command ran and something failed (a server check, a password),
2 bad usage or a bad configuration (nothing was started), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuimail import __version__
from tuimail.config.load import load_config
from tuimail.config.schema import AccountConfig, Config, ConfigError
from tuimail.core.log import SHOWN, redact, setup_logging
from tuimail.core.model import Protocol
from tuimail.core.paths import config_location, data_dir
from tuimail.mail.mailto import MailtoError, is_mailto, parse_mailto

if TYPE_CHECKING:
    from tuimail.store.db import StoreConnection

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure to report as `tuimail: error: ...` with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # The same options on the main parser and on every subcommand, so they work before or after
    # the command name. On subparsers the defaults are suppressed so they don't overwrite values
    # given before the command.
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (default: $TUIMAIL_CONFIG, else ~/.config/tuimail/config.toml)",
    )
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="where the local store lives (default: $TUIMAIL_DATA_DIR, "
        "else ~/.local/share/tuimail)",
    )
    group.add_argument(
        "--log-file",
        metavar="PATH",
        default=default,
        help="write a log to PATH (passwords are never logged)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default if suppress else False,
        help="log everything, including the protocol conversation (passwords redacted)",
    )


class _CommandParser(argparse.ArgumentParser):
    """The parser of every subcommand (nested ones too): it carries the global options, with
    suppressed defaults, so they work after the command name as well as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _global_options(self, suppress=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `tuimail`."""
    parser = argparse.ArgumentParser(
        prog="tuimail",
        description="An offline-first terminal email client. Without a command, opens the app.",
        epilog="Documentation: README.md and docs/ in the source tree.",
    )
    parser.add_argument("--version", action="version", version=f"tuimail {__version__}")
    _global_options(parser, suppress=False)
    parser.add_argument(
        "--offline",
        action="store_true",
        help="open the app without connecting anywhere: read, search, flag, move and compose "
        "from the store; actions and sent mail wait until the app runs online",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    demo = commands.add_parser(
        "demo",
        help="open the app on a demo mailbox (no account, no network)",
        description="Build a demo store with a few hundred varied messages in a temporary "
        "directory and open the app on it. Needs no account and no network.",
    )
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="build the demo store in DIR and keep it (default: a temporary directory)",
    )
    demo.add_argument(
        "--no-ui", action="store_true", help="only build the store and print where it is"
    )
    demo.set_defaults(handler=cmd_demo)

    accounts = commands.add_parser(
        "accounts", help="add, list, check and set passwords of accounts"
    )
    account_commands = accounts.add_subparsers(dest="accounts_command", metavar="COMMAND")
    accounts.set_defaults(handler=lambda args, config: _usage(accounts))

    check = account_commands.add_parser(
        "check",
        help="connect and log in to every configured server, and say what failed",
        description="Connect and authenticate to every configured server; print one line per "
        "account and protocol: ok, or what failed. Exit status 1 when any check failed, or when "
        "no account is configured (nothing was confirmed); local accounts count as ok.",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds one read may wait (default: each server's timeout setting, else 20)",
    )
    check.set_defaults(handler=cmd_accounts_check)

    listing = account_commands.add_parser("list", help="list the configured accounts")
    listing.set_defaults(handler=cmd_accounts_list)

    set_pw = account_commands.add_parser(
        "set-password",
        help="store an account's password in the system keyring",
        description="Store a password in the system keyring (Secret Service). Reads it from the "
        "terminal without echo, or the first line of standard input when that is not a terminal.",
    )
    set_pw.add_argument("account", help="account name, as in [accounts.NAME]")
    set_pw.add_argument(
        "--protocol",
        choices=[p.value for p in Protocol],
        help="store it for this protocol only (entry ACCOUNT/PROTOCOL; default: the whole account)",
    )
    set_pw.set_defaults(handler=cmd_accounts_set_password)
    _add_accounts_add_command(account_commands)
    _add_accounts_authorize_command(account_commands)

    _add_mail_commands(commands)
    _add_store_commands(commands)
    _add_import_command(commands)
    _add_send_commands(commands)
    return parser


def _add_mail_commands(commands: argparse._SubParsersAction[_CommandParser]) -> None:
    """The commands that talk to servers: sync (IMAP) and fetch (POP3)."""
    sync = commands.add_parser(
        "sync",
        help="bring IMAP accounts' folders up to date (one pass)",
        description="One sync pass over the named IMAP accounts (default: every IMAP account): "
        "folders, new messages' headers, flag changes and expunges; a progress line on a "
        "terminal and one summary line per account. Exit status 1 when any account failed.",
    )
    sync.add_argument("accounts", nargs="*", metavar="ACCOUNT")
    sync.add_argument(
        "--folder",
        metavar="NAME",
        help="sync only this folder (named as the app shows it, or by its full server name)",
    )
    sync.add_argument(
        "--bodies", action="store_true", help="download every message body too (offline reading)"
    )
    sync.set_defaults(handler=cmd_sync)

    fetch = commands.add_parser(
        "fetch",
        help="download new mail from POP3 accounts (one pass)",
        description="One download pass over the named POP3 accounts (default: every POP3 "
        "account); a progress line on a terminal and one summary line per account. Exit status "
        "1 when any account failed.",
    )
    fetch.add_argument("accounts", nargs="*", metavar="ACCOUNT")
    fetch.set_defaults(handler=cmd_fetch)


def _add_store_commands(commands: argparse._SubParsersAction[_CommandParser]) -> None:
    """The commands that read the local store only: list, show, search, export."""
    columns = (
        "Text columns: ID, date, flags (N unread, F flagged, R answered, D draft, T deleted), "
        "sender, subject. With --json, one JSON object per line."
    )
    listing = commands.add_parser(
        "list",
        help="list cached folders, or the messages of ACCOUNT/FOLDER (local store only)",
        description="Without an argument, every folder in the local store with its counts; with "
        "ACCOUNT, that account's folders; with ACCOUNT/FOLDER (split at the first '/'; INBOX in "
        "any case; FOLDER as the app shows it or the server's full name), the folder's "
        "messages, newest first. Reads the local store only. " + columns,
    )
    listing.add_argument("target", nargs="?", metavar="ACCOUNT[/FOLDER]")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="at most N lines")
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser(
        "show",
        help="show a cached message by its ID (from list or search)",
        description="Print a message from the local store: its main headers and its text, "
        "sanitized for the terminal. With --raw, the exact stored bytes instead (refused on a "
        "terminal unless --force, since raw mail can hold escape sequences).",
    )
    show.add_argument("id", type=int, metavar="ID", help="the message's id (from list or search)")
    show.add_argument("--raw", action="store_true", help="write the exact stored bytes")
    show.add_argument(
        "--force", action="store_true", help="with --raw: write to a terminal all the same"
    )
    show.set_defaults(handler=cmd_show)

    search = commands.add_parser(
        "search",
        help="search cached mail (local full-text search), or an IMAP folder on the server",
        description="Search subjects, addresses and body text in the local store; newest first. "
        'Terms must all match; "a phrase", prefix*, and from:, to:, subject:, body: limit a '
        "term to a field. With --server, the IMAP server's SEARCH finds words in bodies that "
        "are not local (each IMAP account's INBOX, or the --folder given); matches not synced "
        "yet are counted. " + columns,
    )
    search.add_argument("query", metavar="QUERY")
    search.add_argument(
        "--folder",
        metavar="ACCOUNT[/FOLDER]",
        help="search only this account, or only this folder of it",
    )
    search.add_argument(
        "--server", action="store_true", help="search on the IMAP server (read-only)"
    )
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.add_argument("--limit", type=_positive_int, metavar="N", help="at most N messages")
    search.set_defaults(handler=cmd_search)

    export = commands.add_parser(
        "export",
        help="write a cached folder's messages to an mbox file or a Maildir",
        description="Write the exact bytes of every message of ACCOUNT/FOLDER, oldest first. "
        "mbox files are in the mboxrd format and keep each message's line ends, so importing "
        "gives back the same bytes; an existing file is never overwritten. A Maildir is created, "
        "or an existing one is added to. Messages whose body is not in the store are skipped "
        "and named (exit status 1).",
    )
    export.add_argument("target", metavar="ACCOUNT/FOLDER")
    into = export.add_mutually_exclusive_group(required=True)
    into.add_argument("--mbox", metavar="FILE", help="a new mbox file ('-': standard output)")
    into.add_argument("--maildir", metavar="DIR", help="a Maildir (created when missing)")
    export.set_defaults(handler=cmd_export)


def _add_import_command(commands: argparse._SubParsersAction[_CommandParser]) -> None:
    """`tuimail import`: mbox files and Maildirs into the store, or up to an IMAP folder."""
    importing = commands.add_parser(
        "import",
        help="bring messages from an mbox file or a Maildir into a local folder or an IMAP folder",
        description="Add the exact bytes of every message of an mbox file (mboxrd or mboxo) or a "
        "Maildir (new/ and cur/, with the flags of the file names) to ACCOUNT/FOLDER: a folder "
        "of a local account (or of a POP3 account) in the store, or with --upload a folder of "
        "an IMAP account on the server. Folders are created when missing. ACCOUNT defaults to "
        "the only local (with --upload: IMAP) account, FOLDER to the file's or directory's name. "
        "Messages already in the folder are not added again, so an interrupted import can "
        "simply be run again. Exit status 1 when a message could not be read (named on "
        "standard error; the others are imported).",
    )
    importing.add_argument("target", nargs="?", metavar="ACCOUNT[/FOLDER]")
    source = importing.add_mutually_exclusive_group(required=True)
    source.add_argument("--mbox", metavar="FILE", help="an mbox file")
    source.add_argument("--maildir", metavar="DIR", help="a Maildir (with cur/ and new/)")
    importing.add_argument(
        "--upload",
        action="store_true",
        help="append to the IMAP account's folder on the server (the next sync stores them)",
    )
    importing.set_defaults(handler=cmd_import)


def _add_send_commands(commands: argparse._SubParsersAction[_CommandParser]) -> None:
    """The commands that send mail: send and outbox."""
    send = commands.add_parser(
        "send",
        help="queue RFC 5322 messages (files or standard input) and send them",
        description="Queue one message per FILE, or one from standard input. From defaults to "
        "the account's address; a Date and Message-ID are added when missing; the recipients "
        "are those of To, Cc and Bcc, and Bcc is removed from the sent message. Then the "
        "message is sent after the account's undo-send grace period (Ctrl-C cancels it). "
        "Exit status 1 when a message was refused, its fate is unknown or sending failed.",
    )
    send.add_argument("files", nargs="*", metavar="FILE", help="message files ('-': stdin)")
    send.add_argument("--account", metavar="NAME", help="send from this account")
    send.add_argument("--now", action="store_true", help="no undo-send grace period: due at once")
    send.add_argument(
        "--queue-only",
        action="store_true",
        help="only queue; `tuimail outbox flush` (or the app) sends later",
    )
    send.set_defaults(handler=cmd_send)

    box = commands.add_parser(
        "outbox",
        help="list, send (flush), retry, cancel or confirm queued messages",
        description="Without a command, or with list: the messages not yet sent, with their "
        "state, attempts, next attempt and the server's last reply. flush sends everything due "
        "and says what is still held (grace period, scheduled, backing off); its exit status "
        "is 1 when anything failed, so cron can run it. retry queues a failed or unknown "
        "message again; cancel removes a message that is not being sent; confirm marks an "
        "unknown message as sent after you checked that it arrived; dismiss stops listing "
        "a sent message's refused recipients.",
    )
    box_commands = box.add_subparsers(dest="outbox_command", metavar="COMMAND")
    box.set_defaults(handler=cmd_outbox, outbox_command="list", show_all=False)
    box_list = box_commands.add_parser("list", help="show the outbox")
    box_list.add_argument("--all", dest="show_all", action="store_true", help="sent items too")
    flush = box_commands.add_parser("flush", help="send everything that is due")
    flush.add_argument("accounts", nargs="*", metavar="ACCOUNT")
    for action, text in (
        ("retry", "queue a failed or unknown message again"),
        ("cancel", "remove a message from the outbox"),
        ("confirm", "mark an unknown message as sent (you checked it arrived)"),
        ("dismiss", "stop listing the refused recipients of a sent message (you saw them)"),
    ):
        sub = box_commands.add_parser(action, help=text)
        sub.add_argument("id", type=int, metavar="ID")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run `tuimail` with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    # `tuimail mailto:...` (what a desktop's mailto: handler runs) is the app with a link.
    link = next((a for a in arguments if is_mailto(a)), None)
    if link is not None:
        arguments.remove(link)
    args = parser.parse_args(arguments)
    args.mailto = link
    if link is not None and getattr(args, "handler", cmd_app) is not cmd_app:
        parser.error("a mailto: link opens the app; give it without a command")
    setup_logging(Path(args.log_file) if args.log_file else None, debug=args.debug)
    log.info("tuimail %s: %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    handler: Callable[[argparse.Namespace, Config], int] = getattr(args, "handler", cmd_app)
    try:
        config = _load_config(args)
        return handler(args, config)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except CommandError as exc:
        _error(str(exc))
        return exc.status
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped early (`tuimail list | head`): nothing to report.
        _discard_stdout()
        return EXIT_FAILED
    except Exception as exc:
        message = _store_failure(exc, args)
        if message is None:
            raise
        _error(message)
        return EXIT_FAILED


def _error(message: str) -> None:
    print(f"tuimail: error: {redact(message)}", file=sys.stderr)
    log.error("%s", message, extra={SHOWN: True})


def _store_failure(exc: Exception, args: argparse.Namespace) -> str | None:
    """What to say when the local store failed and the command did not report it itself (a
    full disk, a lock held by another program): words, not a traceback. None: not the store."""
    import sqlite3

    from tuimail.store.db import StoreError, store_error, store_path

    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return str(store_error(exc, store_path(_data_dir(args))))
    return None


def _discard_stdout() -> None:
    # Later writes and the flush at exit would fail again on the closed pipe.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _load_config(args: argparse.Namespace) -> Config:
    location = config_location(args.config)
    # `accounts add` creates the file it is given.
    creates = getattr(args, "creates_config", False)
    return load_config(location.path, must_exist=location.explicit and not creates)


def _data_dir(args: argparse.Namespace) -> Path:
    return data_dir(args.data_dir)


# --- commands -------------------------------------------------------------------------------


def cmd_app(args: argparse.Namespace, config: Config) -> int:
    """Open the terminal app on the user's store."""
    from tuimail.app.application import run_app

    compose = None
    if args.mailto is not None:
        try:
            compose = parse_mailto(args.mailto)
        except MailtoError as exc:
            raise CommandError(f"cannot open the link: {exc}", EXIT_USAGE) from None
    return run_app(config, _data_dir(args), workers=not args.offline, compose=compose)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """Build a demo store and open the app on it."""
    from tuimail.app.demo import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None, ui=not args.no_ui)


def cmd_accounts_list(args: argparse.Namespace, config: Config) -> int:
    """Print the configured accounts and their servers."""
    location = config_location(args.config)
    if not config.accounts:
        print(f"No accounts configured (config file: {location.path}).")
        return EXIT_OK
    for account in config.accounts.values():
        print(f"{account.name}: {account.address}")
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

    return check_command(
        config, sys.stdout, timeout=args.timeout, config_path=config_location(args.config).path
    )


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


def _add_accounts_authorize_command(
    account_commands: argparse._SubParsersAction[_CommandParser],
) -> None:
    authorize = account_commands.add_parser(
        "authorize",
        help="authorize an OAuth2 account with its provider (stores the refresh token)",
        description='For an account with auth = "oauth2": run the provider\'s authorization '
        "flow and store the refresh token in the system keyring (entry ACCOUNT/oauth). "
        "browser: opens a browser and listens on 127.0.0.1 for its redirect; paste: prints an "
        "address to open anywhere and reads back the address the browser ends on; device: "
        "prints a code to enter on another device.",
    )
    authorize.add_argument("account", help="account name, as in [accounts.NAME]")
    authorize.add_argument(
        "--flow",
        choices=["browser", "paste", "device"],
        help="override the account's oauth2.flow for this run",
    )
    authorize.set_defaults(handler=cmd_accounts_authorize)


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


def _add_accounts_add_command(
    account_commands: argparse._SubParsersAction[_CommandParser],
) -> None:
    add = account_commands.add_parser(
        "add",
        help="find an address's server settings (like Thunderbird) and add the account",
        description="Look up the servers for ADDRESS: the provider's autoconfig file, the "
        "Thunderbird ISPDB, the ISPDB entry of the domain's mail (MX) server, then guesses that "
        "are probed. Shows what was found and where from, asks before adding the account to the "
        "config file, then offers to store the password in the keyring. Implicit TLS is "
        "preferred; an unencrypted server is chosen only with --allow-plaintext.",
    )
    add.add_argument("address", help="the email address, e.g. alice@example.org")
    add.add_argument("--name", help="the account's name (default: from the address's domain)")
    add.add_argument("--display-name", default="", help="your name, for the From line")
    add.add_argument(
        "--yes", action="store_true", help="add the account without asking (for scripts)"
    )
    add.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="choose an unencrypted server when nothing else is offered (only loopback hosts "
        "are accepted in the config)",
    )
    add.add_argument(
        "--ca-file",
        metavar="PATH",
        help="an extra CA certificate to trust, for the lookup and for the account",
    )
    add.add_argument(
        "--ispdb",
        metavar="URL",
        help="the ISPDB to ask (default: https://autoconfig.thunderbird.net/v1.1/)",
    )
    add.set_defaults(handler=cmd_accounts_add, creates_config=True)


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
        return cmd_accounts_set_password(args, _load_config(args))
    print(f"Store its password with: tuimail accounts set-password {name}")
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, config: Config) -> int:
    """One IMAP sync pass."""
    from tuimail.cli.sync import sync_command

    return sync_command(
        config,
        _data_dir(args),
        args.accounts,
        sys.stdout,
        sys.stderr,
        folder=args.folder,
        bodies=args.bodies,
    )


def cmd_fetch(args: argparse.Namespace, config: Config) -> int:
    """One POP3 download pass."""
    from tuimail.cli.fetch import fetch_command

    return fetch_command(config, _data_dir(args), args.accounts, sys.stdout, sys.stderr)


def _existing_store(args: argparse.Namespace) -> contextlib.closing[StoreConnection]:
    """The local store for a read-only command (a missing store is an error, never created)."""
    from tuimail.cli.locate import open_existing_store

    return contextlib.closing(open_existing_store(_data_dir(args)))


def _terminal_width() -> int | None:
    """Columns to cut text lines to: the terminal's width, or None when stdout is no terminal."""
    if not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size().columns


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    """List folders, or the messages of a folder, from the local store."""
    from tuimail.cli.listing import list_command

    with _existing_store(args) as conn:
        return list_command(
            conn,
            args.target,
            as_json=args.json,
            limit=args.limit,
            width=_terminal_width(),
            out=sys.stdout,
        )


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    """Search the local store, or with --server an IMAP folder on its server."""
    from tuimail.cli.listing import search_command

    with _existing_store(args) as conn:
        if args.server:
            from tuimail.cli.listing import server_search_command

            return server_search_command(
                config,
                conn,
                args.query,
                scope=args.folder,
                as_json=args.json,
                limit=args.limit,
                width=_terminal_width(),
                out=sys.stdout,
                err=sys.stderr,
            )
        return search_command(
            conn,
            args.query,
            scope=args.folder,
            as_json=args.json,
            limit=args.limit,
            width=_terminal_width(),
            out=sys.stdout,
        )


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    """Show one message from the local store."""
    from tuimail.cli.show import show_command

    with _existing_store(args) as conn:
        return show_command(
            conn,
            args.id,
            raw=args.raw,
            force=args.force,
            out=sys.stdout,
            binary_out=sys.stdout.buffer,
        )


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """Export a folder of the local store to mbox or Maildir."""
    from tuimail.cli.export import export_command

    with _existing_store(args) as conn:
        return export_command(
            conn,
            args.target,
            mbox=args.mbox,
            maildir=args.maildir,
            out=sys.stdout,
            err=sys.stderr,
            binary_out=sys.stdout.buffer,
        )


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    """Import an mbox file or a Maildir into the store, or upload it to an IMAP folder."""
    from tuimail.cli.import_mail import import_command

    return import_command(
        config,
        _data_dir(args),
        mbox=args.mbox,
        maildir=args.maildir,
        target=args.target,
        upload=args.upload,
        out=sys.stdout,
        err=sys.stderr,
    )


def cmd_send(args: argparse.Namespace, config: Config) -> int:
    """Queue messages and send them."""
    from tuimail.cli.send import send_command

    return send_command(
        config,
        _data_dir(args),
        account_name=args.account,
        files=args.files,
        now_flag=args.now,
        queue_only=args.queue_only,
        stdin=sys.stdin.buffer,
        out=sys.stdout,
        err=sys.stderr,
    )


def cmd_outbox(args: argparse.Namespace, config: Config) -> int:
    """List, flush, retry, cancel or confirm outbox items."""
    from tuimail.cli.send import outbox_command

    return outbox_command(
        config,
        _data_dir(args),
        args.outbox_command,
        item_id=getattr(args, "id", None),
        accounts=getattr(args, "accounts", ()),
        show_all=args.show_all,
        out=sys.stdout,
        err=sys.stderr,
    )


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")
