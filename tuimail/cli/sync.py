"""`tuimail sync`: one pass of the IMAP engine over the named accounts, headless.

`cmd_sync` runs `sync_command()` with the parsed arguments; each account's pass is
`tuimail.sync.imap.account.sync_account` (the app runs it too). Exit status: 0 when every
account synced, 1 when any failed, 2 when the command was used wrongly (nothing ran).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tuimail.cli.errors import EXIT_USAGE
from tuimail.cli.indexing import complete_index
from tuimail.cli.progress import TerminalProgress
from tuimail.config.schema import AccountConfig, BodyPolicy, Config
from tuimail.core import paths
from tuimail.core.model import Protocol
from tuimail.sync.imap.account import sync_account

log = logging.getLogger(__name__)


def imap_accounts(config: Config, names: Sequence[str]) -> list[AccountConfig]:
    """The accounts to sync: the named ones (each must have an IMAP server), or every IMAP
    account. Raises ValueError with a message for the user when a name does not fit."""
    if not names:
        return [
            account
            for account in config.accounts.values()
            if account.incoming is not None and account.incoming.protocol is Protocol.IMAP
        ]
    chosen = []
    for name in dict.fromkeys(names):
        account = config.accounts.get(name)
        if account is None:
            known = ", ".join(sorted(config.accounts)) or "none configured"
            raise ValueError(f"no account named {name!r} (accounts: {known})")
        if account.incoming is None or account.incoming.protocol is not Protocol.IMAP:
            raise ValueError(f"account {name!r} has no IMAP server")
        chosen.append(account)
    return chosen


def sync_command(
    config: Config,
    data_dir: Path,
    account_names: Sequence[str],
    out: TextIO,
    err: TextIO,
    *,
    folder: str | None = None,
    bodies: bool = False,
    cancel: threading.Event | None = None,
) -> int:
    """Sync the named IMAP accounts (all when none) once; returns the exit status.

    `bodies` downloads every body for this run (`--bodies`); without it, each account's
    `bodies` setting decides, as in the app."""
    try:
        accounts = imap_accounts(config, account_names)
    except ValueError as exc:
        print(f"tuimail sync: {exc}", file=err)
        return EXIT_USAGE
    if not accounts:
        print("tuimail sync: no account with an IMAP server is configured", file=err)
        return EXIT_USAGE
    progress = TerminalProgress(out, err)
    for account in accounts:
        assert account.incoming is not None
        sync_account(
            account,
            data_dir,
            progress,
            folder=folder,
            bodies=BodyPolicy(keep="all") if bodies else account.incoming.bodies,
            cancel=cancel,
        )
    complete_index(data_dir, out, err, cancel=cancel)
    return progress.exit_status()


def cmd_sync(args: argparse.Namespace, config: Config) -> int:
    """One IMAP sync pass."""
    return sync_command(
        config,
        paths.data_dir(args.data_dir),
        args.accounts,
        sys.stdout,
        sys.stderr,
        folder=args.folder,
        bodies=args.bodies,
    )
