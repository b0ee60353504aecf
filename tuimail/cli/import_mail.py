"""`tuimail import (--mbox FILE | --maildir DIR) [ACCOUNT[/FOLDER]] [--upload]`.

Without `--upload` the messages go into a folder of a local account (or of a POP3 account, whose
folders also live only in the store), created when missing. With `--upload` they are appended
to a folder of an IMAP account on the server (created when missing); the next sync brings them
into the store. The account defaults to the only one that fits (local, or IMAP with `--upload`),
the folder to the source's name (`archive.mbox` → `archive`, a Maildir `~/Mail/lists` → `lists`).

Importing the same source again adds nothing (see `tuimail.sync.importer`). A message that cannot be
read (an unreadable Maildir entry, an mbox cut short) is named on standard error and the exit
status is 1; everything read before it is kept. The file formats: `tuimail.mail.formats.export`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from tuimail.cli.indexing import complete_index
from tuimail.cli.locate import split_target
from tuimail.cli.progress import TerminalProgress
from tuimail.config.schema import AccountConfig, Config
from tuimail.core import paths
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read, write
from tuimail.store.db import StoreError, open_store, open_store_for_reading, store_path
from tuimail.store.folder_names import folder_path
from tuimail.store.lock import AccountLock
from tuimail.sync.events import SyncFinished, SyncProgress
from tuimail.sync.importer import (
    ImportResult,
    SourceError,
    SourceMessage,
    SourceProblem,
    import_into_store,
    maildir_names,
    read_maildir,
    read_mbox,
    upload_to_imap,
)

# mbox file name endings that are not part of the folder's name.
_MBOX_SUFFIXES = (".mbox", ".mbx", ".mbs")
# The lock an import holds on its account: two imports into one folder would each miss what
# the other is adding, and add it too.
LOCK_NAME = "import"
# A source this large is stored by a writer process beside the reading (its start, a fresh
# interpreter, costs about a tenth of a second: too much for a few messages).
BULK_MESSAGES = 1000
BULK_MBOX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Source:
    """What to read: the messages, how much there is (for progress), and a name for people."""

    messages: Iterable[SourceMessage | SourceProblem]
    total: int
    name: str
    bulk: bool = False  # large enough for a writer process (`import_into_store`)


def import_command(
    config: Config,
    data_dir: Path,
    *,
    mbox: str | None,
    maildir: str | None,
    target: str | None,
    upload: bool,
    out: TextIO,
    err: TextIO,
    timeout: float = 60.0,
) -> int:
    """Import an mbox file or a Maildir into the store, or upload it to an IMAP folder."""
    with ExitStack() as stack:
        source = _open_source(stack, mbox, maildir)
        account, folder = _target(config, target, source.name, upload=upload)
        where = sanitize_line(f"{account.name}/{folder}")
        try:
            stack.enter_context(AccountLock(data_dir, account.name, LOCK_NAME))
        except StoreError as exc:  # busy, or the data directory cannot be written
            raise CommandError(str(exc)) from None
        progress = TerminalProgress(out, err)
        # The progress line shows no protocol; a local import has none of its own.
        protocol = Protocol.IMAP if upload else _store_protocol(account) or Protocol.IMAP

        def report(position: int) -> None:
            # The progress line says "done/total": bytes of an mbox, entries of a Maildir.
            progress(SyncProgress(account.name, protocol, folder, position, source.total))

        try:
            if upload:
                named = _server_folder(data_dir, account, folder)
                result = _upload(account, named, source, report, timeout)
                done = f"{result.imported} appended to {where} on the server"
            else:
                result = _into_store(data_dir, account, folder, source, report)
                done = f"{result.imported} imported into {where}"
        except CommandError:
            if progress.live:
                err.write("\n")  # the error starts a line of its own, below the progress
            raise
        summary = f"{done} from {sanitize_line(source.name)}"
        if result.already_there:
            summary += f", {result.already_there} already there"
        if result.problems:
            summary += f", {len(result.problems)} not imported (named below)"
        if upload and result.imported:
            summary += f"; `tuimail sync {account.name}` brings them into the store"
        progress(SyncFinished(account.name, protocol, summary))
        if not upload:
            complete_index(data_dir, out, err)
    for problem in result.problems:
        err.write(f"tuimail: {sanitize_line(problem.where)}: {sanitize_line(problem.problem)}\n")
    return EXIT_FAILED if result.problems else EXIT_OK


def _open_source(stack: ExitStack, mbox: str | None, maildir: str | None) -> _Source:
    if mbox is not None:
        try:
            file: BinaryIO = stack.enter_context(open(mbox, "rb"))  # noqa: SIM115 - the stack closes it
            total = os.fstat(file.fileno()).st_size
            # Checked before anything starts: a file that is not an mbox imports nothing.
            start = file.read(5)
            file.seek(0)
        except OSError as exc:
            raise CommandError(f"{_shown(mbox)}: {exc.strerror or exc}", EXIT_USAGE) from None
        if start and start != b"From ":
            raise CommandError(
                f"{_shown(mbox)}, line 1: not an mbox file: it does not start with a 'From ' line",
                EXIT_USAGE,
            )
        return _Source(read_mbox(file, mbox), total, mbox, total >= BULK_MBOX_BYTES)
    assert maildir is not None
    try:
        names = maildir_names(Path(maildir))
    except SourceError as exc:
        raise CommandError(_shown(str(exc)), EXIT_USAGE) from None
    return _Source(read_maildir(names), len(names), maildir, len(names) >= BULK_MESSAGES)


def _target(
    config: Config, spec: str | None, source_name: str, *, upload: bool
) -> tuple[AccountConfig, str]:
    """The account (from the config) and folder name to import into."""
    fits = [a for a in config.accounts.values() if _fits(a, upload=upload)]
    kind = "IMAP account" if upload else "local account"
    if spec is None:
        if len(fits) != 1:
            choices = (
                f"{kind}s: {', '.join(a.name for a in fits)}"
                if fits
                else f"no {kind} is configured"
            )
            raise CommandError(
                f"name the account to import into as ACCOUNT or ACCOUNT/FOLDER ({choices})",
                EXIT_USAGE,
            )
        account, folder = fits[0], None
    else:
        name, folder = split_target(spec)
        found = config.accounts.get(name)
        if found is None:
            known = ", ".join(config.accounts) or "none configured"
            raise CommandError(f"no account {_shown(name)!r} (accounts: {known})", EXIT_USAGE)
        if not _fits(found, upload=upload):
            raise CommandError(_why_not(found, upload=upload), EXIT_USAGE)
        account = found
    if folder is None:
        folder = _folder_name(source_name)
    if folder.upper() == "INBOX":
        folder = "INBOX"
    return account, folder


def _fits(account: AccountConfig, *, upload: bool) -> bool:
    incoming = account.incoming
    if upload:
        return incoming is not None and incoming.protocol is Protocol.IMAP
    return incoming is None or incoming.protocol is Protocol.POP3


def _why_not(account: AccountConfig, *, upload: bool) -> str:
    if upload:
        return f"account {account.name!r} has no IMAP server to upload to"
    # Rows without a UID in an IMAP account's folder mean moves waiting for the server; the
    # messages must go to the server, which is the truth for that account.
    return (
        f"account {account.name!r} keeps its mail on an IMAP server: add --upload to append "
        "the messages there (the next sync brings them into the store)"
    )


def _folder_name(source_name: str) -> str:
    path = Path(source_name.rstrip("/") or source_name)
    name = path.name
    if name.lower().endswith(_MBOX_SUFFIXES) and len(path.stem) > 0:
        name = path.stem
    if not name or name in (".", ".."):
        raise CommandError(
            f"{_shown(source_name)}: cannot name a folder after it; give ACCOUNT/FOLDER", EXIT_USAGE
        )
    return name


def _store_protocol(account: AccountConfig) -> Protocol | None:
    return account.incoming.protocol if account.incoming is not None else None


def _into_store(
    data_dir: Path,
    account: AccountConfig,
    folder: str,
    source: _Source,
    report: Callable[[int], None],
) -> ImportResult:
    try:
        conn = open_store(data_dir)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    try:
        account_id = write.ensure_account(conn, account.name, _store_protocol(account))
        found = read.find_folder_as_named(conn, account_id, folder)
        folder_id = found.id if found else write.upsert_folder(conn, account_id, folder)
        return import_into_store(
            conn, folder_id, source.messages, progress=report, bulk=source.bulk
        )
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    finally:
        conn.close()


def _server_folder(data_dir: Path, account: AccountConfig, folder: str) -> str:
    """The server's full name of the folder the user named: a synced folder's, by its full
    name or the name the app shows; a new folder goes under the personal namespace prefix
    the last sync saw ("INBOX." on Cyrus and Courier), where the app shows it at the top.
    Without a store (never synced) the name is taken as it is."""
    if folder == "INBOX" or not store_path(data_dir).exists():
        return folder
    try:
        conn, _ = open_store_for_reading(data_dir)
    except StoreError:
        return folder  # the upload goes on; only the store's knowledge of names is missing
    try:
        account_id = read.account_id(conn, account.name)
        if account_id is None:
            return folder
        found = read.find_folder_as_named(conn, account_id, folder)
        if found is not None:
            return found.name
        prefix = read.folder_prefix(conn, account_id)
    finally:
        conn.close()
    if not prefix or folder_path(folder, None, prefix) != (folder,):
        return folder  # no prefix, or the name already has it
    return prefix + folder


def _upload(
    account: AccountConfig,
    folder: str,
    source: _Source,
    report: Callable[[int], None],
    timeout: float,
) -> ImportResult:
    import imapclient.exceptions

    from tuimail.auth.credentials import get_password
    from tuimail.sync.connection import ConnectError
    from tuimail.sync.imap.connect import connect_imap
    from tuimail.sync.imap.extensions import logout_quietly

    server = account.incoming
    assert server is not None
    try:
        client = connect_imap(
            server,
            ca_file=account.ca_file,
            password=lambda: get_password(account, Protocol.IMAP),
            timeout=timeout,
        )
    except ConnectError as exc:
        raise CommandError(f"{account.name}: {exc.message}") from None
    try:
        result = upload_to_imap(client, folder, source.messages, progress=report)
    except (imapclient.exceptions.IMAPClientError, OSError) as exc:
        logout_quietly(client)
        raise CommandError(
            f"{account.name}: uploading to {_shown(folder)} failed: {_shown(str(exc))}; what "
            "was appended stays, and running the import again adds only the rest"
        ) from None
    logout_quietly(client)
    return result


def _shown(text: str) -> str:
    # File and folder names, and server text, reach the terminal only sanitized.
    return sanitize_line(text)


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    """Import an mbox file or a Maildir into the store, or upload it to an IMAP folder."""
    return import_command(
        config,
        paths.data_dir(args.data_dir),
        mbox=args.mbox,
        maildir=args.maildir,
        target=args.target,
        upload=args.upload,
        out=sys.stdout,
        err=sys.stderr,
    )
