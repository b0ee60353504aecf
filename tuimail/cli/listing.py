"""`tuimail list` and `tuimail search`: folders and messages of the local store, as text or JSON.

Text output is for people: aligned columns, every untrusted string through `sanitize_line`, and
lines cut to the terminal's width when standard output is a terminal. JSON output is for scripts:
one object per line, values as stored (not sanitized), every non-ASCII character escaped, so the
output is plain ASCII that no terminal interprets.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from typing import Any, TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_USAGE, CommandError
from tuimail.cli.locate import open_existing_store, resolve, split_target
from tuimail.config.schema import AccountConfig, Config
from tuimail.core import paths
from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, Address, Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import StoreConnection
from tuimail.store.search import search

# Rows are read from the store this many at a time, so a large folder streams.
_CHUNK = 500
_FROM_CELLS = 24
_FOLDER_CELLS = 20
_DATE_FORMAT = "%Y-%m-%d %H:%M"


def list_command(
    conn: StoreConnection,
    spec: str | None,
    *,
    as_json: bool,
    limit: int | None,
    width: int | None,
    out: TextIO,
) -> int:
    """List folders (no argument, or ACCOUNT) or the messages of ACCOUNT/FOLDER, newest first.

    `width` cuts text lines to that many terminal cells (None: no cut).
    """
    if spec is None:
        folders = read.folders(conn)
    else:
        target = resolve(conn, spec)
        if target.folder is None:
            folders = read.folders(conn, target.account.id)
        else:
            ids = read.message_ids(conn, target.folder.id)
            if limit is not None:
                ids = ids[:limit]
            names = {target.folder.id: target.folder}
            _print_messages(conn, ids, names, as_json=as_json, width=width, out=out)
            return 0
    if limit is not None:
        folders = folders[:limit]
    _print_folders(folders, as_json=as_json, width=width, out=out)
    return 0


def search_command(
    conn: StoreConnection,
    query: str,
    *,
    scope: str | None,
    as_json: bool,
    limit: int | None,
    width: int | None,
    out: TextIO,
) -> int:
    """Print the messages matching `query` (local full-text search), newest first.

    `scope` is ACCOUNT or ACCOUNT/FOLDER, or None for every account.
    """
    folder_ids: int | None = None
    account_id: int | None = None
    if scope is not None:
        target = resolve(conn, scope)
        account_id = target.account.id
        folder_ids = None if target.folder is None else target.folder.id
    ids = search(conn, query, folder_ids=folder_ids, account_id=account_id, limit=limit)
    names = {f.id: f for f in read.folders(conn)}
    _print_messages(
        conn, ids, names, as_json=as_json, width=width, out=out, show_folder=folder_ids is None
    )
    return 0


def server_search_command(
    config: Config,
    conn: StoreConnection,
    query: str,
    *,
    scope: str | None,
    as_json: bool,
    limit: int | None,
    width: int | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print the messages matching `query` by the IMAP server's SEARCH, newest first, in the
    format of `search_command`.

    `scope` is ACCOUNT (its INBOX) or ACCOUNT/FOLDER of an IMAP account; None searches the INBOX
    of every IMAP account. Matches not in the store yet are counted on `err`.
    """
    from tuimail.sync.imap.search import ServerSearchError, search_account

    targets = _server_targets(config, conn, scope)
    ids: list[int] = []
    unsynced = 0
    for account, folder in targets:
        try:
            result = search_account(account, conn, [folder], query)
        except ServerSearchError as exc:
            raise CommandError(str(exc), EXIT_FAILED) from None
        ids.extend(result.ids)
        unsynced += result.unsynced
    if len(targets) > 1:
        ids = _newest_first(conn, ids)
    if limit is not None:
        ids = ids[:limit]
    names = {f.id: f for f in read.folders(conn)}
    show_folder = scope is None or split_target(scope)[1] is None
    _print_messages(
        conn, ids, names, as_json=as_json, width=width, out=out, show_folder=show_folder
    )
    if unsynced:
        err.write(f"{unsynced} more on the server not yet synced (`tuimail sync` brings them in)\n")
    return 0


def _server_targets(
    config: Config, conn: StoreConnection, scope: str | None
) -> list[tuple[AccountConfig, read.FolderInfo]]:
    """The (account, stored folder) pairs a server search covers; CommandError when none fit."""
    if scope is None:
        accounts = [a for a in config.accounts.values() if _is_imap(a)]
        if not accounts:
            raise CommandError(
                "only IMAP folders can be searched on the server, and no account with an IMAP "
                "server is configured",
                EXIT_USAGE,
            )
        return [(account, _stored_folder(conn, account, "INBOX")) for account in accounts]
    account_name, folder_name = split_target(scope)
    account = config.accounts.get(account_name)
    if account is None:
        known = ", ".join(sorted(config.accounts)) or "none configured"
        raise CommandError(
            f"no account {sanitize_line(account_name)!r} in the config (accounts: {known})",
            EXIT_USAGE,
        )
    if not _is_imap(account):
        kind = "a local account" if account.incoming is None else "a POP3 account"
        raise CommandError(
            "only IMAP folders can be searched on the server: "
            f"{account.name!r} is {kind} (search it without --server)",
            EXIT_USAGE,
        )
    return [(account, _stored_folder(conn, account, folder_name or "INBOX"))]


def _is_imap(account: AccountConfig) -> bool:
    return account.incoming is not None and account.incoming.protocol is Protocol.IMAP


def _stored_folder(conn: StoreConnection, account: AccountConfig, folder: str) -> read.FolderInfo:
    """The store's record of an IMAP account's folder: the server's UIDs map to its messages."""
    if read.account_id(conn, account.name) is None:
        raise CommandError(
            f"account {account.name!r} has not been synced yet: run `tuimail sync "
            f"{account.name}` first",
            EXIT_FAILED,
        )
    target = resolve(conn, f"{account.name}/{folder}", need_folder=True)
    assert target.folder is not None
    return target.folder


def _newest_first(conn: StoreConnection, ids: Sequence[int]) -> list[int]:
    rows = list(_rows(conn, ids))
    rows.sort(key=lambda row: (row.sort_date, row.id), reverse=True)
    return [row.id for row in rows]


# --- records (JSON) -----------------------------------------------------------------------------


def message_record(row: read.MessageRow, account: str, folder: str) -> dict[str, Any]:
    """The JSON object for one message."""
    env = row.envelope
    return {
        "id": row.id,
        "account": account,
        "folder": folder,
        "uid": row.uid,
        "uidl": row.uidl,
        "message_id": env.message_id,
        "date": _iso(env.date),
        "internaldate": _iso(row.internaldate),
        "sort_date": _iso(row.sort_date),
        "from": _addresses(env.from_),
        "to": _addresses(env.to),
        "cc": _addresses(env.cc),
        "subject": env.subject,
        "flags": sorted(row.flags),
        "size": env.size,
        "has_attachments": env.has_attachments,
        "thread_id": row.thread_id,
        "body_local": row.body_local,
    }


def folder_record(folder: read.FolderInfo) -> dict[str, Any]:
    """The JSON object for one folder."""
    return {
        "id": folder.id,
        "account": folder.account,
        "folder": folder.name,
        "display_name": folder.display_name,
        "role": folder.role.value or None,
        "total": folder.total,
        "unread": folder.unread,
        "last_sync": _iso(folder.last_sync),
        "last_error": folder.last_error,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _addresses(addresses: Sequence[Address]) -> list[dict[str, str]]:
    return [{"name": a.name, "email": a.email} for a in addresses]


def _json_line(record: dict[str, Any]) -> str:
    # ensure_ascii: escapes of every non-ASCII character (bidi controls, C1, lone surrogates
    # included) keep the line valid, encodable, and inert on a terminal.
    return json.dumps(record, ensure_ascii=True)


# --- text ---------------------------------------------------------------------------------------


def flag_letters(flags: Iterable[str]) -> str:
    """The FLAGS column: N unread, F flagged, R answered, D draft, T deleted."""
    present = set(flags)
    letters = "" if SEEN in present else "N"
    for flag, letter in ((FLAGGED, "F"), (ANSWERED, "R"), (DRAFT, "D"), (DELETED, "T")):
        if flag in present:
            letters += letter
    return letters


def sender_text(senders: Sequence[Address]) -> str:
    """The FROM column: the first sender's name, else the address."""
    if not senders:
        return ""
    return senders[0].name or senders[0].email


def cell_width(text: str) -> int:
    """Terminal cells that `text` (already sanitized) takes: wide characters take two."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def fit(text: str, cells: int, *, pad: bool = True) -> str:
    """`text` cut to at most `cells` terminal cells (with "…" when cut), padded to it with `pad`."""
    if cell_width(text) <= cells:
        return text + " " * (cells - cell_width(text)) if pad else text
    kept: list[str] = []
    used = 0
    for char in text:
        size = 0 if unicodedata.combining(char) else cell_width(char)
        if used + size > cells - 1:
            break
        kept.append(char)
        used += size
    cut = "".join(kept) + "…"
    return cut + " " * (cells - used - 1) if pad else cut


def _print_messages(
    conn: StoreConnection,
    ids: Sequence[int],
    names: dict[int, read.FolderInfo],
    *,
    as_json: bool,
    width: int | None,
    out: TextIO,
    show_folder: bool = False,
) -> None:
    id_cells = len(str(max(ids))) if ids else 1
    for row in _rows(conn, ids):
        info = names.get(row.folder_id)
        account = info.account if info is not None else "?"
        if as_json:  # the full name, which scripts can give back to the server
            full = info.name if info is not None else "?"
            out.write(_json_line(message_record(row, account, full)) + "\n")
            continue
        folder = info.display_name if info is not None else "?"
        columns = [
            f"{row.id:>{id_cells}}",
            row.sort_date.astimezone().strftime(_DATE_FORMAT),
            f"{flag_letters(row.flags):<3}",
            fit(sanitize_line(sender_text(row.envelope.from_)), _FROM_CELLS),
        ]
        if show_folder:
            columns.append(fit(sanitize_line(f"{account}/{folder}"), _FOLDER_CELLS))
        columns.append(sanitize_line(row.envelope.subject) or "(no subject)")
        _write_line("  ".join(columns), width, out)


def _rows(conn: StoreConnection, ids: Sequence[int]) -> Iterator[read.MessageRow]:
    for start in range(0, len(ids), _CHUNK):
        yield from read.rows(conn, ids[start : start + _CHUNK])


def _print_folders(
    folders: Sequence[read.FolderInfo], *, as_json: bool, width: int | None, out: TextIO
) -> None:
    if as_json:
        for folder in folders:
            out.write(_json_line(folder_record(folder)) + "\n")
        return
    # The name the app shows (the commands take it as well as the server's full name).
    shown = [sanitize_line(f"{f.account}/{f.display_name}") for f in folders]
    name_cells = min(max((cell_width(name) for name in shown), default=0), 40)
    total_cells = max((len(str(f.total)) for f in folders), default=1)
    for folder, name in zip(folders, shown, strict=True):
        line = f"{fit(name, name_cells)}  {folder.total:>{total_cells}} messages"
        if folder.unread:
            line += f", {folder.unread} unread"
        if folder.last_error:
            line += f"  (last sync failed: {sanitize_line(folder.last_error)})"
        _write_line(line, width, out)


def _write_line(line: str, width: int | None, out: TextIO) -> None:
    if width is not None:
        line = fit(line, width, pad=False)
    out.write(line.rstrip() + "\n")


def _terminal_width() -> int | None:
    """Columns to cut text lines to: the terminal's width, or None when stdout is no terminal."""
    if not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size().columns


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    """List folders, or the messages of a folder, from the local store."""
    with closing(open_existing_store(paths.data_dir(args.data_dir))) as conn:
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
    with closing(open_existing_store(paths.data_dir(args.data_dir))) as conn:
        if args.server:
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
