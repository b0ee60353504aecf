"""Command-line entry point: `main` parses the arguments and runs the command they name.

Heavy modules (textual, keyring, the protocol engines) are imported inside the command that needs
them, so a headless command pays only for what it uses: the parser names the command (`run`),
and its module is imported here only when it runs. The parser is in `parser`, the exit
statuses in `errors`, each command's body in the module of its command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tuimail import __version__
from tuimail.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CommandError
from tuimail.cli.parser import build_parser, command_named, config_of, usage
from tuimail.config.schema import Config, ConfigError
from tuimail.core.log import SHOWN, redact, setup_logging
from tuimail.core.paths import data_dir
from tuimail.mail.mailto import is_mailto

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Config], int]


def main(
    argv: Sequence[str] | None = None, *, after_imports: Callable[[], None] | None = None
) -> int:
    """Run `tuimail` with `argv` (default: sys.argv[1:]); returns the exit status.

    `after_imports` is called once the command's modules are imported, before it runs (the
    process entry point's garbage collector settings, `tuimail.cli.entry`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # `tuimail mailto:...` (what a desktop's mailto: handler runs) is the app with a link.
    link = next((a for a in arguments if is_mailto(a)), None)
    if link is not None:
        arguments.remove(link)
    parser = build_parser(only=command_named(arguments))
    args = parser.parse_args(arguments)
    args.mailto = link
    command = getattr(args, "run", "app")
    if link is not None and command != "app":
        parser.error("a mailto: link opens the app; give it without a command")
    setup_logging(Path(args.log_file) if args.log_file else None, debug=args.debug)
    log.info("tuimail %s: %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    try:
        config = config_of(args)
        handler = _handler(command)
        if after_imports is not None:
            after_imports()
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
        return str(store_error(exc, store_path(data_dir(args.data_dir))))
    return None


def _discard_stdout() -> None:
    # Later writes and the flush at exit would fail again on the closed pipe.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _handler(command: str) -> Handler:
    """The function that runs `command` (the parser's `run`), its module imported only now."""
    # One import per command, so that a command loads only its own module.
    match command:
        case "app":
            from tuimail.cli.app import cmd_app

            return cmd_app
        case "demo":
            from tuimail.cli.app import cmd_demo

            return cmd_demo
        case "usage":
            return usage
        case "accounts list":
            from tuimail.cli.accounts import cmd_accounts_list

            return cmd_accounts_list
        case "accounts check":
            from tuimail.cli.accounts import cmd_accounts_check

            return cmd_accounts_check
        case "accounts set-password":
            from tuimail.cli.accounts import cmd_accounts_set_password

            return cmd_accounts_set_password
        case "accounts authorize":
            from tuimail.cli.accounts import cmd_accounts_authorize

            return cmd_accounts_authorize
        case "accounts add":
            from tuimail.cli.accounts import cmd_accounts_add

            return cmd_accounts_add
        case "sync":
            from tuimail.cli.sync import cmd_sync

            return cmd_sync
        case "fetch":
            from tuimail.cli.fetch import cmd_fetch

            return cmd_fetch
        case "list":
            from tuimail.cli.listing import cmd_list

            return cmd_list
        case "search":
            from tuimail.cli.listing import cmd_search

            return cmd_search
        case "show":
            from tuimail.cli.show import cmd_show

            return cmd_show
        case "export":
            from tuimail.cli.export import cmd_export

            return cmd_export
        case "import":
            from tuimail.cli.import_mail import cmd_import

            return cmd_import
        case "send":
            from tuimail.cli.send import cmd_send

            return cmd_send
        case "outbox":
            from tuimail.cli.send import cmd_outbox

            return cmd_outbox
        case "compact":
            from tuimail.cli.compact import cmd_compact

            return cmd_compact
    raise AssertionError(f"the parser named no known command: {command!r}")
