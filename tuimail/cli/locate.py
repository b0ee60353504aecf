"""Finding things in the local store from the command line: the store itself and ACCOUNT/FOLDER.

`ACCOUNT/FOLDER` splits at the first ``/`` (account names never hold one; folder names may, as
in ``work/Lists/dev``), and ``INBOX`` matches in any case. FOLDER is the server's full name or
the name the app shows: on a server whose folders all begin with a prefix (``INBOX.`` on Cyrus
and Courier), ``work/Lists.dev`` names ``INBOX.Lists.dev`` (see `read.find_folder_as_named`).
Accounts are looked up in the store by name: these commands read what was synced, whatever the
config says now.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from tuimail.cli.errors import EXIT_FAILED, EXIT_USAGE, CommandError
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import StoreConnection, StoreError, open_store_for_reading, store_path

# How many folder names an error message lists before it says "and N more".
_LISTED = 20


@dataclass(frozen=True, slots=True)
class Target:
    """What `ACCOUNT[/FOLDER]` named: an account, and a folder of it when one was given."""

    account: read.AccountInfo
    folder: read.FolderInfo | None


def open_existing_store(data_dir: Path) -> StoreConnection:
    """Open the store for reading; a missing store is an error, not a new empty one."""
    if not store_path(data_dir).exists():
        raise CommandError(
            f"there is no local store in {data_dir} yet: no mail has been synced or fetched",
            EXIT_FAILED,
        )
    try:
        conn, read_only = open_store_for_reading(data_dir)
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    if read_only:
        sys.stderr.write(
            f"tuimail: note: {store_path(data_dir)} cannot be written; opened read-only\n"
        )
    return conn


def split_target(spec: str) -> tuple[str, str | None]:
    """(account, folder or None) from `ACCOUNT` or `ACCOUNT/FOLDER`, split at the first ``/``."""
    account, slash, folder = spec.partition("/")
    if not account:
        raise CommandError(f"{_shown(spec)!r}: the account name is missing", EXIT_USAGE)
    if slash and not folder:
        raise CommandError(
            f"{_shown(spec)!r}: the folder name after '/' is missing "
            f"(write {_shown(account)!r} for the whole account)",
            EXIT_USAGE,
        )
    return account, (folder if slash else None)


def resolve(conn: StoreConnection, spec: str, *, need_folder: bool = False) -> Target:
    """The account (and folder) that `spec` names in the store; clear errors when there is none.

    With `need_folder`, a spec without a folder is an error.
    """
    account_name, folder_name = split_target(spec)
    if folder_name is None and need_folder:
        raise CommandError(
            f"{_shown(spec)!r}: name a folder as ACCOUNT/FOLDER (for example "
            f"{_shown(account_name) + '/INBOX'!r})",
            EXIT_USAGE,
        )
    accounts = read.accounts(conn)
    account = next((a for a in accounts if a.name == account_name), None)
    if account is None:
        if not accounts:
            known = "the store has no accounts yet"
        else:
            known = "accounts in the store: " + ", ".join(_shown(a.name) for a in accounts)
        raise CommandError(f"no account {_shown(account_name)!r} ({known})", EXIT_USAGE)
    if folder_name is None:
        return Target(account, None)
    folder = read.find_folder_as_named(conn, account.id, folder_name)
    if folder is None:
        names = [f.display_name for f in read.folders(conn, account.id)]
        raise CommandError(_unknown_folder(account.name, folder_name, names), EXIT_USAGE)
    return Target(account, folder)


def _unknown_folder(account: str, wanted: str, names: list[str]) -> str:
    message = f"account {_shown(account)!r} has no folder {_shown(wanted)!r}"
    if not names:
        return message + " (it has no folders in the store yet)"
    hint = _closest(wanted, names)
    if hint is not None:
        message += f"; did you mean {_shown(account) + '/' + _shown(hint)!r}?"
    listed = ", ".join(_shown(name) for name in names[:_LISTED])
    if len(names) > _LISTED:
        listed += f", and {len(names) - _LISTED} more"
    return f"{message} (folders: {listed})"


def _closest(wanted: str, names: list[str]) -> str | None:
    folded = {name.casefold(): name for name in names}
    if wanted.casefold() in folded:
        return folded[wanted.casefold()]
    matches = difflib.get_close_matches(wanted.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def _shown(text: str) -> str:
    # Folder names come from servers and account names from the command line: neither reaches
    # the terminal unsanitized, even inside an error message.
    return sanitize_line(text)
