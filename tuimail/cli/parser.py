"""The argument parser of `tuimail`: every command with its options and help text, and the
configuration the global options name.

Each command's parser sets `run`, the name `main` dispatches on; the command's module is
imported only when it runs, so `tuimail --help` and a headless command pay only for what they use.
A command named on the command line gets a parser with only its own (`command_named`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from tuimail import __version__
from tuimail.cli.errors import EXIT_USAGE
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.core.model import Protocol
from tuimail.core.paths import config_location


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


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, for the terminal's width found as `shutil.get_terminal_size`
    finds it ($COLUMNS, else standard output's terminal, else 80). argparse asks shutil itself,
    and importing shutil (with the compression modules it loads) was a few milliseconds of
    every command, a headless `tuimail sync` with nothing new included."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2  # as argparse leaves two columns
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _CommandParser(argparse.ArgumentParser):
    """The parser of every subcommand (nested ones too): it carries the global options, with
    suppressed defaults, so they work after the command name as well as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        _global_options(self, suppress=True)


# What each command's function adds its parser to.
_Commands: TypeAlias = "argparse._SubParsersAction[_CommandParser]"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for `tuimail`; with `only` (a command's name, see `command_named`),
    one that knows only that command, which parses its arguments and shows its help the same way.

    Building every command's parser takes a few milliseconds, a noticeable part of a short
    headless run (`tuimail sync` with nothing new), so `main` builds only the one it runs."""
    parser = argparse.ArgumentParser(
        prog="tuimail",
        description="An offline-first terminal email client. Without a command, opens the app.",
        epilog="Documentation: README.md and docs/ in the source tree.",
        formatter_class=_HelpFormatter,
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
    for name, add in _COMMANDS.items():
        if only is None or name == only:
            add(commands)
    return parser


# Global options that take a value, and those that do not (see `_global_options`).
_VALUED_OPTIONS = ("--config", "--data-dir", "--log-file")
_FLAG_OPTIONS = ("--debug", "--offline")


def command_named(arguments: Sequence[str]) -> str | None:
    """The command `arguments` run when only global options, spelled out, come before its
    name; None otherwise (no command, help, an abbreviated or unknown option), when the
    whole parser must decide."""
    rest = iter(arguments)
    for argument in rest:
        if argument in _VALUED_OPTIONS:
            next(rest, None)
        elif argument in _FLAG_OPTIONS or argument.partition("=")[0] in _VALUED_OPTIONS:
            continue
        else:
            return argument if argument in _COMMANDS else None
    return None


def _add_demo_command(commands: _Commands) -> None:
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
    demo.set_defaults(run="demo")


def _add_accounts_commands(commands: _Commands) -> None:
    accounts = commands.add_parser(
        "accounts", help="add, list, check and set passwords of accounts"
    )
    account_commands = accounts.add_subparsers(dest="accounts_command", metavar="COMMAND")
    accounts.set_defaults(run="usage", usage_of=accounts)

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
    check.set_defaults(run="accounts check")

    listing = account_commands.add_parser("list", help="list the configured accounts")
    listing.set_defaults(run="accounts list")

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
    set_pw.set_defaults(run="accounts set-password")
    _add_accounts_add_command(account_commands)
    _add_accounts_authorize_command(account_commands)


def _add_sync_command(commands: _Commands) -> None:
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
        "--bodies",
        action="store_true",
        help="download every message body this time, whatever the account's bodies setting says",
    )
    sync.set_defaults(run="sync")


def _add_fetch_command(commands: _Commands) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="download new mail from POP3 accounts (one pass)",
        description="One download pass over the named POP3 accounts (default: every POP3 "
        "account); a progress line on a terminal and one summary line per account. Exit status "
        "1 when any account failed.",
    )
    fetch.add_argument("accounts", nargs="*", metavar="ACCOUNT")
    fetch.set_defaults(run="fetch")


# The output of list and search, in their help.
_COLUMNS = (
    "Text columns: ID, date, flags (N unread, F flagged, R answered, D draft, T deleted), "
    "sender, subject. With --json, one JSON object per line."
)


def _add_list_command(commands: _Commands) -> None:
    listing = commands.add_parser(
        "list",
        help="list cached folders, or the messages of ACCOUNT/FOLDER (local store only)",
        description="Without an argument, every folder in the local store with its counts; with "
        "ACCOUNT, that account's folders; with ACCOUNT/FOLDER (split at the first '/'; INBOX in "
        "any case; FOLDER as the app shows it or the server's full name), the folder's "
        "messages, newest first. Reads the local store only. " + _COLUMNS,
    )
    listing.add_argument("target", nargs="?", metavar="ACCOUNT[/FOLDER]")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="at most N lines")
    listing.set_defaults(run="list")


def _add_show_command(commands: _Commands) -> None:
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
    show.set_defaults(run="show")


def _add_search_command(commands: _Commands) -> None:
    search = commands.add_parser(
        "search",
        help="search cached mail (local full-text search), or an IMAP folder on the server",
        description="Search subjects, addresses and body text in the local store; newest first. "
        'Terms must all match; "a phrase", prefix*, and from:, to:, subject:, body: limit a '
        "term to a field. With --server, the IMAP server's SEARCH finds words in bodies that "
        "are not local (each IMAP account's INBOX, or the --folder given); matches not synced "
        "yet are counted. " + _COLUMNS,
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
    search.set_defaults(run="search")


def _add_export_command(commands: _Commands) -> None:
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
    export.set_defaults(run="export")


def _add_import_command(commands: _Commands) -> None:
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
    importing.set_defaults(run="import")


def _add_send_command(commands: _Commands) -> None:
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
    send.set_defaults(run="send")


def _add_compact_command(commands: _Commands) -> None:
    compact = commands.add_parser(
        "compact",
        help="pack the stored mail with the store's dictionary and give the space back",
        description="Pack every message body in the local store with zstd and the dictionary "
        "trained on your own mail (a store made before bodies were kept compressed holds them "
        "as they came; new ones are packed as they arrive), then give the freed space back "
        "(VACUUM: it needs as much free disk as the store takes, and no other tuimail using "
        "the store). Safe to stop: what was packed stays packed. Exports and `show --raw` "
        "give the same bytes before and after.",
    )
    compact.set_defaults(run="compact")


def _add_outbox_command(commands: _Commands) -> None:
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
    box.set_defaults(run="outbox", outbox_command="list", show_all=False)
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


def _add_accounts_authorize_command(
    account_commands: _Commands,
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
    authorize.set_defaults(run="accounts authorize")


def _add_accounts_add_command(
    account_commands: _Commands,
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
    add.set_defaults(run="accounts add", creates_config=True)


# Every command, in the order of `tuimail --help`, with the function that adds its parser.
_COMMANDS: dict[str, Callable[[_Commands], None]] = {
    "demo": _add_demo_command,
    "accounts": _add_accounts_commands,
    "sync": _add_sync_command,
    "fetch": _add_fetch_command,
    "list": _add_list_command,
    "show": _add_show_command,
    "search": _add_search_command,
    "export": _add_export_command,
    "import": _add_import_command,
    "send": _add_send_command,
    "compact": _add_compact_command,
    "outbox": _add_outbox_command,
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def usage(args: argparse.Namespace, config: Config) -> int:
    """A command group given without its command (`tuimail accounts`): its help, on standard
    error, and the usage exit status."""
    args.usage_of.print_help(sys.stderr)
    return EXIT_USAGE


def config_of(args: argparse.Namespace) -> Config:
    """The configuration the global options name (--config, else the default location)."""
    location = config_location(args.config)
    # `accounts add` creates the file it is given.
    creates = getattr(args, "creates_config", False)
    return load_config(location.path, must_exist=location.explicit and not creates)
