"""`tuimail sync`: one pass of the IMAP engine over the named accounts, headless.

`cmd_sync` runs `sync_command()` with the parsed arguments; `sync_account` is one account's pass
(the app runs it too). Exit status: 0 when every account synced, 1 when any failed, 2 when the
command was used wrongly (nothing ran).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tuimail.cli.errors import EXIT_USAGE
from tuimail.cli.progress import TerminalProgress
from tuimail.config.schema import AccountConfig, Config
from tuimail.core import paths
from tuimail.core.model import Protocol
from tuimail.store import db
from tuimail.sync.events import Emit, SyncFinished, SyncStarted

if TYPE_CHECKING:
    from tuimail.sync.imap.engine import Unreadable

log = logging.getLogger(__name__)

# Page cache of the store connection a sync uses, in KiB (the store default is larger).
SYNC_CACHE_KIB = 4096
# Reconnects one sync makes after the server ended the connection over a FETCH (BYE to an
# unreadable message): two per such message (find it, then go on without it).
MAX_FETCH_RECONNECTS = 20


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

    `bodies` downloads every body for this run; without it, each account's `bodies` setting
    decides."""
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
            bodies=bodies or account.incoming.bodies,
            cancel=cancel,
        )
    return progress.exit_status()


def sync_account(
    account: AccountConfig,
    data_dir: Path,
    emit: Emit,
    *,
    folder: str | None = None,
    bodies: bool = False,
    cancel: threading.Event | None = None,
) -> bool:
    """One pass over one IMAP account, reported through `emit`; True when it went well.

    Connects, takes the account's sync lock, runs the engine, and turns every failure into a
    SyncFailed or AuthNeeded event (with a message fit to show).
    """
    # Imported here: the engine pulls in imapclient and ssl, which `--help` does not need.
    from tuimail.mail.sanitize import sanitize_line
    from tuimail.sync.imap.account import ImapSync
    from tuimail.sync.imap.engine import FetchEndedConnection, Unreadable
    from tuimail.sync.session import EngineSession, Failure

    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    name = account.name
    emit(SyncStarted(name, Protocol.IMAP))
    with EngineSession(
        account,
        Protocol.IMAP,
        data_dir,
        emit,
        during="the sync",
        kept="what was fetched so far is kept",
    ) as session:
        session.lock()
        conn = session.store()
        # This connection only syncs: it mostly appends, and a small page cache is as fast for
        # that (measured) while keeping a sync's memory the same for a small and a large mailbox.
        db.set_cache_size(conn, SYNC_CACHE_KIB)
        unreadable = Unreadable()
        for attempt in range(MAX_FETCH_RECONNECTS + 1):
            client = session.connect_imap()
            engine = ImapSync(
                conn,
                name,
                client,
                emit=emit,
                cancel=cancel,
                unreadable=unreadable,
                expunge=server.expunge,
            )
            try:
                result = engine.sync(folder=folder, bodies=bodies)
                break
            except FetchEndedConnection as exc:
                # The server ended the connection over a message it cannot read: sync again,
                # what is stored stays stored, and that message is found and left out.
                session.close_client()
                if attempt == MAX_FETCH_RECONNECTS:
                    failure = f"the server kept ending the connection: {exc}"
                    session.fail(Failure("protocol", failure))
                    return False
        summary = result.summary()
        if unreadable.skipped:
            summary += "; " + _skipped_messages(conn, unreadable)
        if result.folder_errors:
            first = next(iter(result.folder_errors.items()))
            session.fail(Failure("folder", f"{summary}; {sanitize_line(first[0])}: {first[1]}"))
            return False
        emit(SyncFinished(name, Protocol.IMAP, summary))
        return True
    return False


def _skipped_messages(conn: sqlite3.Connection, unreadable: Unreadable) -> str:
    """Name, per folder, the messages a sync left out because the server would not give them
    (the engine keeps them in each folder's sync health and below its UIDNEXT)."""
    from tuimail.store import read
    from tuimail.sync.imap.engine import skipped_text

    names = []
    for folder_id, uids in unreadable.skipped.items():
        info = read.folder(conn, folder_id)
        where = info.name if info is not None else f"folder {folder_id}"
        names.append(f"{where}: {skipped_text(uids)}")
    return "; ".join(names)


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
