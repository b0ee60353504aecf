"""`tuimail fetch [ACCOUNT ...]`: one download pass over POP3 accounts, for a terminal or cron.

`fetch_command` is the whole command; `cmd_fetch` runs it with the parsed arguments. Accounts
are fetched one after the other in a worker thread (the main thread waits, so Ctrl-C can ask the
engine to stop between messages and still commit what it read). Progress and one summary line
per account come from `TerminalProgress`.

Exit status: 0 every account went well, 1 any failed, 2 a named account is unknown or not a POP3
account (nothing was started), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE
from tuimail.cli.indexing import complete_index
from tuimail.cli.progress import TerminalProgress
from tuimail.config.schema import AccountConfig, Config
from tuimail.core import paths
from tuimail.core.model import Protocol
from tuimail.sync.pop3.fetch import FetchResult, Pop3Download


def pop3_accounts(config: Config, names: Sequence[str]) -> list[AccountConfig]:
    """The POP3 accounts to fetch: those named (in that order), else every POP3 account.

    Raises ValueError with a message for people when a name is unknown or not a POP3 account.
    """
    pop3 = [a for a in config.accounts.values() if _is_pop3(a)]
    if not names:
        if not pop3:
            raise ValueError("no POP3 accounts are configured (an account needs a [pop3] table)")
        return pop3
    chosen: list[AccountConfig] = []
    for name in dict.fromkeys(names):
        account = config.accounts.get(name)
        if account is None:
            known = ", ".join(a.name for a in pop3) or "none"
            raise ValueError(f"no account {name!r} in the config (POP3 accounts: {known})")
        if not _is_pop3(account):
            raise ValueError(
                f"account {name!r} is not a POP3 account; `tuimail sync` handles IMAP accounts"
            )
        chosen.append(account)
    return chosen


def fetch_command(
    config: Config,
    data_dir: Path,
    account_names: Sequence[str],
    out: TextIO,
    err: TextIO,
) -> int:
    """Fetch new mail of the named POP3 accounts (all when none named) once; the exit status."""
    try:
        accounts = pop3_accounts(config, account_names)
    except ValueError as exc:
        print(f"tuimail fetch: {exc}", file=err)
        return EXIT_USAGE
    progress = TerminalProgress(out, err)
    cancel = threading.Event()
    results: list[FetchResult] = []

    def work() -> None:
        for account in accounts:
            if cancel.is_set():
                break
            results.append(Pop3Download(account, data_dir, emit=progress, cancel=cancel).run())
        complete_index(data_dir, out, err, cancel=cancel)

    worker = threading.Thread(target=work, name="tuimail-fetch")
    worker.start()
    try:
        # A timed join keeps the main thread able to take Ctrl-C.
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        print("tuimail fetch: stopping after the current message…", file=err)
        worker.join()
        return EXIT_INTERRUPTED
    if len(results) < len(accounts):  # the worker died of a bug it could not report
        return EXIT_FAILED
    return progress.exit_status()


def _is_pop3(account: AccountConfig) -> bool:
    return account.incoming is not None and account.incoming.protocol is Protocol.POP3


def cmd_fetch(args: argparse.Namespace, config: Config) -> int:
    """One POP3 download pass."""
    return fetch_command(
        config, paths.data_dir(args.data_dir), args.accounts, sys.stdout, sys.stderr
    )
