"""Server-side SEARCH: find messages in an IMAP folder by words the local store may not hold.

A headers-only sync stores every message's envelope but not its body, so the local full-text
search cannot find a word that only occurs in a body. This module asks the server instead:
the user's query becomes IMAP SEARCH criteria, the folder is opened read-only (EXAMINE), and
the UIDs the server reports become local message ids. Nothing is ever written to the server.

The query language is the local search's (`tuimail.store.search`):

    word            TEXT word (header or body; every term must match)
    "two words"     TEXT "two words"
    word*           TEXT word (IMAP SEARCH matches substrings anyway)
    from:alice      FROM alice; also to:, cc:, subject:, body:, and address: (from, to or cc)

User text never becomes IMAP syntax: ASCII text is sent as a quoted string with its quotes and
backslashes escaped, anything else as a literal (with `CHARSET UTF-8`), and control characters
(CR and LF included) are turned into spaces before either.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tuimail.config.schema import AccountConfig
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.extensions import ImapProtocolError, logout_quietly
from tuimail.sync.imap.selection import select

log = logging.getLogger(__name__)

# The same term grammar as the local search, so a query means the same in both places.
_TERM = re.compile(r'(?:(?P<field>[A-Za-z]+):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))')

# Field prefixes the user may write, and the SEARCH keys each one becomes.
_KEYS: dict[str, tuple[str, ...]] = {
    "": ("TEXT",),
    "subject": ("SUBJECT",),
    "from": ("FROM",),
    "to": ("TO",),
    "cc": ("CC",),
    "address": ("FROM", "TO", "CC"),
    "body": ("BODY",),
}


@dataclass(frozen=True, slots=True)
class Term:
    """One search term: the SEARCH keys it may match (any of them) and the text to look for."""

    keys: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ServerSearchResult:
    """What the server found in one folder: local ids newest first, and how many matches
    have no row in the store yet (they arrived after the last sync)."""

    ids: list[int]
    unsynced: int


class ServerSearchError(Exception):
    """The server search could not run; the message is fit to show (already sanitized)."""


def parse_query(query: str) -> list[Term]:
    """The terms of what a user typed, in order; empty when there is nothing to search."""
    # No control character is a search term, and CR/LF must never reach the command line.
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in query)
    terms: list[Term] = []
    for match in _TERM.finditer(cleaned):
        field = (match["field"] or "").lower()
        if match["phrase"] is not None:
            text = match["phrase"]
        else:
            text = match["word"]
            if not field and text.endswith(":") and text[:-1].lower() in _KEYS:
                continue  # a field with nothing to look for
            text = text.rstrip("*")
        if field not in _KEYS:
            # "re:" or "http://x" are words, not fields.
            text = f"{match['field']}:{text}"
            field = ""
        text = text.strip()
        if text:
            terms.append(Term(_KEYS[field], text))
    return terms


def search_arguments(terms: Sequence[Term]) -> list[bytes]:
    """The arguments of `UID SEARCH` for `terms` (all must match), as imapclient sends them:
    8-bit items go out as literals, every other item as it stands.

    Starts with `CHARSET UTF-8` when any text is not ASCII. Raises ValueError for no terms.
    """
    if not terms:
        raise ValueError("no search terms")
    utf8 = not all(term.text.isascii() for term in terms)
    arguments: list[bytes] = [b"CHARSET", b"UTF-8"] if utf8 else []
    for term in terms:
        value = _string(term.text)
        # OR takes two keys; "a or b or c" is OR a (OR b c) in prefix form.
        arguments.extend(b"OR" for _ in term.keys[1:])
        for key in term.keys:
            arguments.extend((key.encode("ascii"), value))
    return arguments


def _string(text: str) -> bytes:
    """`text` as an IMAP string: a quoted string when it is ASCII, else its UTF-8 bytes, which
    imapclient sends as a literal (it does so for every argument with an 8-bit byte)."""
    if not text.isascii():
        return text.encode("utf-8")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return b'"' + escaped.encode("ascii") + b'"'


def search_folder(
    conn: sqlite3.Connection, client: Any, folder: read.FolderInfo, query: str
) -> ServerSearchResult:
    """Search `folder` on the server (selected read-only) for `query`.

    `client` is a logged-in `imapclient.IMAPClient`. Raises ServerSearchError when the folder
    changed on the server since the last sync (its UIDs no longer name the stored messages),
    and lets the client's network and protocol errors through.
    """
    terms = parse_query(query)
    if not terms:
        return ServerSearchResult([], 0)
    selected = select(client, folder.name, readonly=True)
    where = f"{sanitize_line(folder.account)}/{sanitize_line(folder.name)}"
    if folder.uidvalidity is not None and selected.uidvalidity != folder.uidvalidity:
        raise ServerSearchError(
            f"{where} changed on the server since the last sync (new UIDVALIDITY); sync it"
            " again first"
        )
    mailbox_id = selected.mailbox_id if client.has_capability("OBJECTID") else None
    if mailbox_id is not None and folder.mailbox_id not in (None, mailbox_id):
        raise ServerSearchError(
            f"{where} is another folder on the server since the last sync; sync it again first"
        )
    uids = _uid_search(client, search_arguments(terms))
    result = _local_ids(conn, folder, uids)
    # Without a MAILBOXID to vouch for the folder, the stored messages found must be the ones
    # the server found (the folder's name may stand for another mailbox since the last sync).
    vouched = mailbox_id is not None and folder.mailbox_id is not None
    if result.ids and not vouched and not _same_messages(conn, client, result.ids):
        raise ServerSearchError(
            f"{where} changed on the server since the last sync; sync it again first"
        )
    return result


def _same_messages(conn: sqlite3.Connection, client: Any, message_ids: Sequence[int]) -> bool:
    """Whether the stored messages' UIDs hold the same Message-IDs (and sizes, without one) on
    the server: one FETCH."""
    from tuimail.sync.imap.identity import IDENTITY_ITEMS, identity_of, same_message

    rows = [row for row in read.rows(conn, message_ids) if row.uid is not None]
    data, _ = imap_ext.uid_fetch(
        client, imap_ext.uid_set(row.uid for row in rows if row.uid), IDENTITY_ITEMS
    )
    for row in rows:
        assert row.uid is not None
        if row.uid not in data:
            continue  # expunged since the search: nothing wrong is shown
        stored = read.Identity(row.uid, row.envelope.message_id, row.envelope.size)
        if same_message(stored, identity_of(row.uid, data[row.uid])) is False:
            return False
    return True


def _uid_search(client: Any, arguments: list[bytes]) -> set[int]:
    # imapclient's own search() would quote "a)" or "{5}" as bare atoms; the arguments here are
    # already quoted, so they go through its lower-level sender, which still sends 8-bit items
    # as literals (waiting for the server's continuation where LITERAL+ is missing).
    data = imap_wire.raw_command_untagged(client, b"SEARCH", arguments)
    uids: set[int] = set()
    for line in data:
        if not line:
            continue
        for word in bytes(line).split():
            if not word.isdigit() or len(word) > 10:
                raise ImapProtocolError("the server sent a malformed SEARCH result")
            uids.add(int(word))
    return uids


def _local_ids(
    conn: sqlite3.Connection, folder: read.FolderInfo, uids: set[int]
) -> ServerSearchResult:
    """The stored messages among `uids` (under the folder's UIDVALIDITY), newest first."""
    if not uids:
        return ServerSearchResult([], 0)
    ids: list[int] = []
    found = 0
    for uid, message_id in read.uids_newest_first(conn, folder.id):
        if uid in uids:
            ids.append(message_id)
            found += 1
    return ServerSearchResult(ids, len(uids) - found)


def search_account(
    account: AccountConfig,
    conn: sqlite3.Connection,
    folders: Sequence[read.FolderInfo],
    query: str,
) -> ServerSearchResult:
    """Search `folders` (of `account`, an IMAP account) on the server over one connection.

    The password comes from `credentials.get_password` (auth). Every failure (connection, login,
    network, a server that refuses or garbles the search) raises ServerSearchError with a
    message for the user. Takes no lock: nothing is written, to the store or the server.
    """
    from tuimail.auth.credentials import get_password
    from tuimail.sync.imap.connect import connect_imap
    from tuimail.sync.session import failure_of

    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    name = sanitize_line(account.name)
    if not parse_query(query):
        return ServerSearchResult([], 0)
    with contextlib.ExitStack() as stack:
        try:
            client = connect_imap(
                server,
                ca_file=account.ca_file,
                password=lambda: get_password(account, Protocol.IMAP),
            )
            stack.callback(logout_quietly, client)
            ids: list[int] = []
            unsynced = 0
            for folder in folders:
                result = search_folder(conn, client, folder, query)
                ids.extend(result.ids)
                unsynced += result.unsynced
        except Exception as exc:
            failure = failure_of(exc, store=conn, during="the search", timeout=server.timeout)
            if failure is None:
                raise
            raise ServerSearchError(f"{name}: {sanitize_line(failure.message)}") from None
    return ServerSearchResult(ids, unsynced)
