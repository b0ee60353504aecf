"""What the UI (and the engines, for their diffs) ask the store. Queries only, never writes.

Every query that a large folder can make slow is answered from an index (tests check the query
plans on a 100,000-message folder): ordered ids come from the (folder, sort key, date) indexes,
rows by id from the primary key, folder counts are kept in the folders table.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tuimail.core.model import Envelope, FolderRole, Protocol
from tuimail.store import body_codec, codec
from tuimail.store.db import snapshot
from tuimail.store.folder_names import folder_path

if TYPE_CHECKING:
    from tuimail.mail.attachments import OmittedPart

# SQLite allows many more host parameters; smaller chunks keep statements cheap to prepare.
_CHUNK = 500


class SortOrder(enum.StrEnum):
    """Orders of a message list; ties are broken by date, then by id."""

    DATE = "date"
    SENDER = "sender"
    SUBJECT = "subject"
    SIZE = "size"


_SORT_COLUMN = {
    SortOrder.DATE: None,
    SortOrder.SENDER: "from_sort",
    SortOrder.SUBJECT: "subject_sort",
    SortOrder.SIZE: "size",
}


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account as the store knows it."""

    id: int
    name: str
    protocol: Protocol | None  # incoming protocol; None for a local account


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """A folder with its counts and sync state."""

    id: int
    account_id: int
    account: str
    name: str
    delimiter: str | None
    role: FolderRole
    total: int
    unread: int
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: int | None
    sync_resume: str | None
    last_sync: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    revision: int
    mailbox_id: str | None = None  # the server's MAILBOXID of the cached mailbox, when told
    # The name as the user sees it: without the server's personal namespace prefix, split at
    # the delimiter (see folder_path); () when not known, which shows `name` whole.
    path: tuple[str, ...] = ()
    # Whether the server lists it as subscribed; None: not known (a local or POP3 folder).
    subscribed: bool | None = None

    @property
    def display_name(self) -> str:
        """The name to show: the path joined with the server's delimiter ("Lists.dev" for
        "INBOX.Lists.dev" on a server whose personal namespace is "INBOX.")."""
        if not self.path:
            return self.name
        return (self.delimiter or "/").join(self.path)


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One row of a message list: the envelope, flags and where the message lives."""

    id: int
    folder_id: int
    account_id: int
    uid: int | None
    uidl: str | None
    envelope: Envelope
    flags: frozenset[str]
    internaldate: datetime | None
    sort_date: datetime
    thread_id: int
    body_local: bool
    revision: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since a revision. With `reload` set, tombstones that old were pruned:
    re-read everything. Ids may be of rows that changed several times; vanished ids are gone.
    """

    revision: int
    reload: bool
    messages: frozenset[int]
    messages_gone: frozenset[int]
    folders: frozenset[int]
    folders_gone: frozenset[int]
    accounts_gone: frozenset[int]
    outbox: frozenset[int]
    outbox_gone: frozenset[int]


def revision(conn: sqlite3.Connection) -> int:
    """The store's current revision."""
    return int(conn.execute("SELECT revision FROM store_state WHERE id = 1").fetchone()[0])


def accounts(conn: sqlite3.Connection) -> list[AccountInfo]:
    """All accounts, by name."""
    return [
        AccountInfo(int(row[0]), row[1], None if row[2] is None else Protocol(row[2]))
        for row in conn.execute("SELECT id, name, protocol FROM accounts ORDER BY name")
    ]


def account_id(conn: sqlite3.Connection, name: str) -> int | None:
    """The id of the account called `name`, if the store has it."""
    row = conn.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def smtp_utf8(conn: sqlite3.Connection, account_id: int, server: str) -> bool | None:
    """Whether the account's SMTP server `server` ("host:port") offered SMTPUTF8 when last
    connected; None when unknown (never connected, or the account used another server then)."""
    row = conn.execute(
        "SELECT smtp_utf8 FROM accounts WHERE id = ? AND smtp_server = ?", (account_id, server)
    ).fetchone()
    return None if row is None or row[0] is None else bool(row[0])


_FOLDER_COLUMNS = """
    f.id, f.account_id, a.name, f.name, f.delimiter, f.role, f.total, f.unread, f.uidvalidity,
    f.uidnext, f.highestmodseq, f.sync_resume, f.last_sync, f.last_error, f.last_error_at,
    f.revision, f.mailbox_id, a.folder_prefix, f.subscribed
"""


def folders(conn: sqlite3.Connection, account_id: int | None = None) -> list[FolderInfo]:
    """Folders with counts, of one account or of all; INBOX first, then by name."""
    where, params = (
        ("WHERE f.account_id = ?", (account_id,)) if account_id is not None else ("", ())
    )
    return [
        _folder(row)
        for row in conn.execute(
            f"SELECT {_FOLDER_COLUMNS} FROM folders AS f JOIN accounts AS a"  # noqa: S608
            f" ON a.id = f.account_id {where}"
            " ORDER BY a.name, (f.role = 'inbox' OR upper(f.name) = 'INBOX') DESC,"
            " f.name COLLATE NOCASE, f.name",
            params,
        )
    ]


def folder(conn: sqlite3.Connection, folder_id: int) -> FolderInfo | None:
    """One folder by id."""
    row = conn.execute(
        f"SELECT {_FOLDER_COLUMNS} FROM folders AS f JOIN accounts AS a"  # noqa: S608
        " ON a.id = f.account_id WHERE f.id = ?",
        (folder_id,),
    ).fetchone()
    return None if row is None else _folder(row)


def find_folder(conn: sqlite3.Connection, account_id: int, name: str) -> FolderInfo | None:
    """A folder of an account by name; INBOX matches in any case, as IMAP says."""
    if name.upper() == "INBOX":
        row = conn.execute(
            f"SELECT {_FOLDER_COLUMNS} FROM folders AS f JOIN accounts AS a"  # noqa: S608
            " ON a.id = f.account_id WHERE f.account_id = ? AND upper(f.name) = 'INBOX'"
            " ORDER BY f.name = 'INBOX' DESC LIMIT 1",
            (account_id,),
        ).fetchone()
    else:
        row = conn.execute(
            f"SELECT {_FOLDER_COLUMNS} FROM folders AS f JOIN accounts AS a"  # noqa: S608
            " ON a.id = f.account_id WHERE f.account_id = ? AND f.name = ?",
            (account_id, name),
        ).fetchone()
    return None if row is None else _folder(row)


def find_folder_as_named(conn: sqlite3.Connection, account_id: int, name: str) -> FolderInfo | None:
    """A folder of an account by a name the user gives: its full server name (as
    `find_folder`), else the name the app shows (`FolderInfo.display_name`: "Lists.dev" for
    "INBOX.Lists.dev" where the personal namespace is "INBOX."), else its place in the tree
    written with "/" ("Lists/dev"). A full name wins; a shown name must name one folder."""
    found = find_folder(conn, account_id, name)
    if found is not None:
        return found
    candidates = folders(conn, account_id)
    for matches in (
        [f for f in candidates if f.display_name == name],
        [f for f in candidates if f.path and "/".join(f.path) == name],
    ):
        if len(matches) == 1:
            return matches[0]
    return None


def folder_prefix(conn: sqlite3.Connection, account_id: int) -> str:
    """The account's personal namespace prefix as last seen on its server ("" when none, or
    not known yet)."""
    row = conn.execute("SELECT folder_prefix FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def holds_local_data(conn: sqlite3.Connection, folder_id: int) -> bool:
    """Whether a folder holds what exists only here: a message not on the server yet (no
    UID), or a pending user action. Such a folder is kept when the server no longer lists it."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE folder_id = ? AND uid IS NULL)"
        " OR EXISTS (SELECT 1 FROM pending_ops WHERE folder_id = ? AND state = 'pending')",
        (folder_id, folder_id),
    ).fetchone()
    return bool(row[0])


def marked_deleted(conn: sqlite3.Connection, account_id: int | None = None) -> dict[int, int]:
    """Folder id -> how many messages the server holds marked \\Deleted and not expunged, for
    the folders of servers without UIDPLUS that have some (see schema: marked_deleted)."""
    where, params = (
        ("WHERE f.account_id = ?", (account_id,)) if account_id is not None else ("", ())
    )
    return {
        int(folder_id): int(count)
        for folder_id, count in conn.execute(
            "SELECT m.folder_id, m.count FROM marked_deleted AS m"  # noqa: S608
            f" JOIN folders AS f ON f.id = m.folder_id {where}",
            params,
        )
    }


def message_ids(
    conn: sqlite3.Connection,
    folder_ids: int | Sequence[int],
    *,
    order: SortOrder = SortOrder.DATE,
    descending: bool = True,
) -> list[int]:
    """Ids of the messages in one folder (or several: a unified inbox), in list order.

    Newest first by default. For one folder the order comes straight from an index.
    """
    ids = [folder_ids] if isinstance(folder_ids, int) else list(folder_ids)
    if not ids:
        return []
    direction = "DESC" if descending else "ASC"
    column = _SORT_COLUMN[SortOrder(order)]
    keys = ([column] if column else []) + ["sort_date", "id"]
    order_by = ", ".join(f"{key} {direction}" for key in keys)
    where = "folder_id = ?" if len(ids) == 1 else f"folder_id IN ({','.join('?' * len(ids))})"
    # Only fixed column names and placeholders are interpolated.
    sql = f"SELECT id FROM messages WHERE {where} ORDER BY {order_by}"  # noqa: S608
    return [row[0] for row in conn.execute(sql, ids)]


_ROW_COLUMNS = """
    id, folder_id, account_id, uid, uidl, message_id, in_reply_to, refs, subject, from_addr,
    to_addr, cc_addr, bcc_addr, reply_to_addr, date, internaldate, sort_date, flags, size,
    has_attachments, thread_id, body_local, revision
"""


def rows(conn: sqlite3.Connection, ids: Sequence[int]) -> list[MessageRow]:
    """Rows for message ids, in the order given; ids no longer in the store are left out."""
    found: dict[int, MessageRow] = {}
    for chunk in id_chunks(ids):
        for row in conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM messages"  # noqa: S608 - placeholders only
            f" WHERE id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[row[0]] = _message_row(row)
    return [found[i] for i in ids if i in found]


def unread_among(conn: sqlite3.Connection, ids: Sequence[int]) -> set[int]:
    """The ids of `ids` whose messages are unread (not \\Seen)."""
    unread: set[int] = set()
    for chunk in id_chunks(ids):
        unread.update(
            found[0]
            for found in conn.execute(
                f"SELECT id FROM messages WHERE seen = 0 AND id IN ({','.join('?' * len(chunk))})",  # noqa: S608 - placeholders only
                chunk,
            )
        )
    return unread


def row(conn: sqlite3.Connection, message_id: int) -> MessageRow | None:
    """One message row by id."""
    found = rows(conn, [message_id])
    return found[0] if found else None


def body(conn: sqlite3.Connection, message_id: int) -> bytes | None:
    """The exact bytes of a message, or None when its body is not local."""
    found = conn.execute(
        "SELECT raw, codec, dict_id FROM bodies WHERE message_id = ?", (message_id,)
    ).fetchone()
    return None if found is None else body_codec.unpack(conn, *found)


def holds_messages(conn: sqlite3.Connection, folder_id: int, *, up_to: int) -> bool:
    """Whether the folder holds a message with an id up to `up_to`."""
    row = conn.execute(
        "SELECT 1 FROM messages WHERE folder_id = ? AND id <= ? LIMIT 1", (folder_id, up_to)
    ).fetchone()
    return row is not None


def highest_message_id(conn: sqlite3.Connection) -> int:
    """The highest message id in the store (0 when it holds none): messages stored later get
    higher ones."""
    row = conn.execute("SELECT max(id) FROM messages").fetchone()
    return int(row[0] or 0)


def folder_bodies(
    conn: sqlite3.Connection, folder_id: int, message_id: str | None, *, up_to: int | None = None
) -> Iterator[bytes]:
    """The exact bytes of the local messages of a folder whose Message-ID is `message_id`
    (those without one, for None), of ids at most `up_to` when given: what an import compares
    a new message with."""
    if message_id is None:
        query = (
            "SELECT b.raw, b.codec, b.dict_id FROM messages AS m"
            " JOIN bodies AS b ON b.message_id = m.id"
            " WHERE m.folder_id = ? AND m.message_id IS NULL"
        )
        args: tuple[object, ...] = (folder_id,)
    else:
        query = (
            "SELECT b.raw, b.codec, b.dict_id FROM messages AS m"
            " JOIN bodies AS b ON b.message_id = m.id"
            " JOIN folders AS f ON f.id = m.folder_id"
            " WHERE m.account_id = f.account_id AND m.message_id = ? AND m.folder_id = ?"
        )
        args = (message_id, folder_id)
    if up_to is not None:
        query += " AND m.id <= ?"
        args = (*args, up_to)
    for stored in conn.execute(query, args).fetchall():
        yield body_codec.unpack(conn, *stored)


@dataclass(frozen=True, slots=True)
class PartialBody:
    """A message's text without its attachments (see `write.store_partial_body`): `raw` is
    rebuilt, never the server's bytes; `omitted` lists the parts whose bodies it lacks."""

    raw: bytes
    omitted: tuple[OmittedPart, ...]


def partial_body(conn: sqlite3.Connection, message_id: int) -> PartialBody | None:
    """The partial body of a message, or None when there is none (no body, or the full one)."""
    from tuimail.mail.attachments import OmittedPart

    found = conn.execute(
        "SELECT raw, omitted FROM partial_bodies WHERE message_id = ?", (message_id,)
    ).fetchone()
    if found is None:
        return None
    omitted = []
    for item in json.loads(found[1] or "[]"):
        omitted.append(
            OmittedPart(
                section=str(item.get("section", "")),
                content_type=str(item.get("content_type", "")),
                filename=str(item.get("filename") or ""),
                size=int(item.get("size") or 0),
            )
        )
    return PartialBody(bytes(found[0]), tuple(omitted))


def uid_flags(conn: sqlite3.Connection, folder_id: int) -> dict[int, frozenset[str]]:
    """UID → flags of the server messages cached in a folder (for flag diffs and expunges)."""
    return {
        int(r[0]): codec.decode_flags(r[1])
        for r in conn.execute(
            "SELECT m.uid, m.flags FROM messages AS m JOIN folders AS f ON f.id = m.folder_id"
            " WHERE m.folder_id = ? AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
            " AND m.uid IS NOT NULL",
            (folder_id,),
        )
    }


def uid_flags_from(
    conn: sqlite3.Connection, folder_id: int, lowest: int
) -> dict[int, frozenset[str]]:
    """UID → flags of the server messages cached in a folder at or above UID `lowest`
    (current UIDVALIDITY): `uid_flags` for the top of the folder only."""
    return {
        int(r[0]): codec.decode_flags(r[1])
        for r in conn.execute(
            "SELECT m.uid, m.flags FROM messages AS m JOIN folders AS f ON f.id = m.folder_id"
            " WHERE m.folder_id = ? AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
            " AND m.uid >= ?",
            (folder_id, lowest),
        )
    }


def uids_newest_first(conn: sqlite3.Connection, folder_id: int) -> list[tuple[int, int]]:
    """(UID, id) of the server messages cached in a folder (current UIDVALIDITY), in list
    order: newest first."""
    return [
        (int(uid), int(message_id))
        for uid, message_id in conn.execute(
            "SELECT m.uid, m.id FROM messages AS m JOIN folders AS f ON f.id = m.folder_id"
            " WHERE m.folder_id = ? AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
            " AND m.uid IS NOT NULL ORDER BY m.sort_date DESC, m.id DESC",
            (folder_id,),
        )
    ]


@dataclass(frozen=True, slots=True)
class Identity:
    """What tells one server message from another: its UID, Message-ID and size as stored."""

    uid: int
    message_id: str | None
    size: int | None


def identity_sample(conn: sqlite3.Connection, folder_id: int, count: int) -> list[Identity]:
    """Up to `count` cached server messages of a folder (current UIDVALIDITY), spread over its
    UIDs: the lowest, the highest and evenly between. A sync asks the server what those UIDs
    hold now, to tell whether the folder is still the mailbox the cache was made from."""
    where = (
        " FROM messages AS m JOIN folders AS f ON f.id = m.folder_id"
        " WHERE m.folder_id = ? AND m.uidvalidity = coalesce(f.uidvalidity, 0)"
        " AND m.uid IS NOT NULL"
    )
    total = int(conn.execute(f"SELECT count(*){where}", (folder_id,)).fetchone()[0])
    if not total or count <= 0:
        return []
    if total <= count:
        offsets = list(range(total))
    else:
        step = (total - 1) / max(count - 1, 1)
        offsets = sorted({round(step * k) for k in range(count)})
    sample = []
    for offset in offsets:
        row = conn.execute(
            f"SELECT m.uid, m.message_id, m.size{where} ORDER BY m.uid LIMIT 1 OFFSET ?",
            (folder_id, offset),
        ).fetchone()
        if row is not None:
            sample.append(Identity(int(row[0]), row[1], row[2]))
    return sample


def message_id_by_uid(conn: sqlite3.Connection, folder_id: int, uid: int) -> int | None:
    """The id of the message with a UID in a folder (under its current UIDVALIDITY)."""
    found = conn.execute(
        "SELECT m.id FROM messages AS m JOIN folders AS f ON f.id = m.folder_id"
        " WHERE m.folder_id = ? AND m.uidvalidity = coalesce(f.uidvalidity, 0) AND m.uid = ?",
        (folder_id, uid),
    ).fetchone()
    return None if found is None else int(found[0])


def message_id_header(conn: sqlite3.Connection, message_id: int) -> str | None:
    """The Message-ID (without angle brackets) of a stored message; None when it has none or
    is no longer in the store."""
    found = conn.execute("SELECT message_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    return str(found[0]) if found is not None and found[0] else None


def placement(conn: sqlite3.Connection, message_id: int) -> tuple[int, int | None] | None:
    """(folder id, UID or None) of a stored message; None when it is no longer in the store."""
    found = conn.execute(
        "SELECT folder_id, uid FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    return None if found is None else (int(found[0]), found[1])


def ids_by_message_id(conn: sqlite3.Connection, account_id: int, message_id: str) -> list[int]:
    """Ids of an account's messages with a Message-ID (without angle brackets)."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM messages WHERE account_id = ? AND message_id = ? ORDER BY id",
            (account_id, message_id),
        )
    ]


def known_uidls(conn: sqlite3.Connection, account_id: int) -> dict[str, float]:
    """Every UIDL of a POP3 account ever stored, with when it was first seen (seconds since
    the epoch: a datetime for each of 10,000 UIDLs was a tenth of a fetch with nothing new)."""
    return dict(
        conn.execute("SELECT uidl, first_seen FROM pop3_uidls WHERE account_id = ?", (account_id,))
    )


def pop3_body(conn: sqlite3.Connection, account_id: int, uidl: str) -> bytes | None:
    """The exact bytes of the POP3 message stored under `uidl`, None when there is none (never
    stored, deleted locally, or its body is not kept)."""
    found = conn.execute(
        "SELECT b.raw, b.codec, b.dict_id FROM messages AS m"
        " JOIN bodies AS b ON b.message_id = m.id"
        " WHERE m.account_id = ? AND m.uidl = ?",
        (account_id, uidl),
    ).fetchone()
    return None if found is None else body_codec.unpack(conn, *found)


def changes_since(conn: sqlite3.Connection, since: int) -> Changes:
    """What changed or vanished after revision `since` (from one consistent snapshot)."""
    with snapshot(conn):
        current, floor = conn.execute(
            "SELECT revision, tombstone_floor FROM store_state WHERE id = 1"
        ).fetchone()
        gone: dict[str, set[int]] = {k: set() for k in ("account", "folder", "message", "outbox")}
        for kind, object_id in conn.execute(
            "SELECT kind, object_id FROM tombstones WHERE revision > ?", (since,)
        ):
            gone[kind].add(int(object_id))
        return Changes(
            revision=int(current),
            reload=since < floor,
            messages=_ids_after(conn, "messages", since),
            messages_gone=frozenset(gone["message"]),
            folders=_ids_after(conn, "folders", since),
            folders_gone=frozenset(gone["folder"]),
            accounts_gone=frozenset(gone["account"]),
            outbox=_ids_after(conn, "outbox", since),
            outbox_gone=frozenset(gone["outbox"]),
        )


def messages_changed(
    conn: sqlite3.Connection, since: int, folder_ids: Sequence[int]
) -> frozenset[int]:
    """The messages now in these folders that were written after revision `since` (new,
    changed, or moved in)."""
    marks = ",".join("?" * len(folder_ids))
    # marks is only placeholders; the ids are parameters.
    sql = f"SELECT id FROM messages WHERE revision > ? AND folder_id IN ({marks})"  # noqa: S608
    return frozenset(int(r[0]) for r in conn.execute(sql, (since, *folder_ids)))


def _ids_after(conn: sqlite3.Connection, table: str, since: int) -> frozenset[int]:
    # table is one of three fixed names from changes_since.
    sql = f"SELECT id FROM {table} WHERE revision > ?"  # noqa: S608
    return frozenset(int(r[0]) for r in conn.execute(sql, (since,)))


def id_chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    """`ids` without repeats, in lists short enough for one statement's placeholders."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


def _folder(r: tuple[Any, ...]) -> FolderInfo:
    return FolderInfo(
        id=int(r[0]),
        account_id=int(r[1]),
        account=r[2],
        name=r[3],
        delimiter=r[4],
        role=FolderRole(r[5]) if r[5] in FolderRole._value2member_map_ else FolderRole.NONE,
        total=int(r[6]),
        unread=int(r[7]),
        uidvalidity=r[8],
        uidnext=r[9],
        highestmodseq=r[10],
        sync_resume=r[11],
        last_sync=codec.from_epoch(r[12]),
        last_error=r[13],
        last_error_at=codec.from_epoch(r[14]),
        revision=int(r[15]),
        mailbox_id=r[16],
        path=folder_path(r[3], r[4], r[17] or ""),
        subscribed=None if r[18] is None else bool(r[18]),
    )


def _message_row(r: tuple[Any, ...]) -> MessageRow:
    envelope = Envelope(
        message_id=r[5],
        subject=r[8],
        from_=codec.decode_addresses(r[9]),
        to=codec.decode_addresses(r[10]),
        cc=codec.decode_addresses(r[11]),
        bcc=codec.decode_addresses(r[12]),
        reply_to=codec.decode_addresses(r[13]),
        date=codec.from_epoch(r[14]),
        in_reply_to=r[6],
        references=tuple(json.loads(r[7])),
        has_attachments=bool(r[19]),
        size=int(r[18]),
    )
    return MessageRow(
        id=int(r[0]),
        folder_id=int(r[1]),
        account_id=int(r[2]),
        uid=r[3],
        uidl=r[4],
        envelope=envelope,
        flags=codec.decode_flags(r[17]),
        internaldate=codec.from_epoch(r[15]),
        sort_date=codec.to_datetime(r[16]),
        thread_id=int(r[20]),
        body_local=bool(r[21]),
        revision=int(r[22]),
    )
