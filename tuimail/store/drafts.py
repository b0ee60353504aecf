"""Drafts: messages being composed, kept locally and copied to the IMAP Drafts folder.

The `drafts` table is the local truth (see schema.py). The composer saves a draft's fields every
few seconds (`save`: cheap, no bytes built); the drafts worker (sync/imap/drafts.py) builds the
bytes, APPENDs them to the server and records where the copy is (`begin_upload`,
`record_upload`), and removes the server copies of discarded drafts before deleting their rows
(`removals_due`, `purge`).

A draft's life:

    save ──▶ upload_needed=1 ──worker──▶ upload_needed=0, server copy recorded
      ▲             │                          │
      └── save ─────┴──────────────────────────┘
    discard ──▶ discarded=1 ──worker removes the server copies──▶ row deleted
                (no server copy ever: the row is deleted at once)

`server_folder_id` is set before the first APPEND, so a draft discarded while its upload is in
flight keeps its row until the worker has looked for a copy on the server.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import Address, Draft, PartBody
from tuimail.mail.attachments import carried_attachment
from tuimail.mail.compose import CarriedAttachment, ComposedMessage, ComposeError, compose_message
from tuimail.store import codec, outbox, outbox_originals, read
from tuimail.store.db import StoreError, transaction

_COLUMNS = (
    "id, account_id, message_id, fields, raw IS NOT NULL, server_folder_id, server_uidvalidity,"
    " server_uid, upload_needed, discarded, created, updated, revision"
)


@dataclass(frozen=True, slots=True)
class ServerCopy:
    """Where a draft's server copy is: folder, its UIDVALIDITY and the UID (None: unknown)."""

    folder_id: int
    uidvalidity: int | None = None
    uid: int | None = None


@dataclass(frozen=True, slots=True)
class StoredDraft:
    """A draft row, its fields decoded (`fields_json` is the column as stored)."""

    id: int
    account_id: int
    message_id: str  # without angle brackets
    draft: Draft
    fields_json: str
    has_raw: bool
    server: ServerCopy | None
    upload_needed: bool
    discarded: bool
    created: datetime
    updated: datetime
    revision: int


# --- Draft <-> fields


def _addresses(value: Any) -> tuple[Address, ...]:
    return tuple(Address(str(name), str(email)) for name, email in value or ())


def draft_fields(draft: Draft) -> dict[str, Any]:
    """A draft as the JSON object the `fields` column holds."""
    return {
        "from": [draft.from_.name, draft.from_.email],
        "to": [[a.name, a.email] for a in draft.to],
        "cc": [[a.name, a.email] for a in draft.cc],
        "bcc": [[a.name, a.email] for a in draft.bcc],
        "subject": draft.subject,
        "body": draft.body,
        "attachments": list(draft.attachments),
        "attached_messages": list(draft.attached_messages),
        "stored_parts": list(draft.stored_parts),
        "forwarded_attachments": [list(pair) for pair in draft.forwarded_attachments],
        "in_reply_to": draft.in_reply_to,
        "references": list(draft.references),
        "extra_headers": [list(pair) for pair in draft.extra_headers],
        "originals": [list(pair) for pair in draft.originals],
    }


def draft_from_fields(fields: dict[str, Any]) -> Draft:
    """The Draft a `fields` object stands for (the inverse of `draft_fields`)."""
    sender = fields.get("from") or ("", "")
    return Draft(
        from_=Address(str(sender[0]), str(sender[1])),
        to=_addresses(fields.get("to")),
        cc=_addresses(fields.get("cc")),
        bcc=_addresses(fields.get("bcc")),
        subject=str(fields.get("subject") or ""),
        body=str(fields.get("body") or ""),
        attachments=tuple(str(p) for p in fields.get("attachments") or ()),
        attached_messages=tuple(int(i) for i in fields.get("attached_messages") or ()),
        stored_parts=tuple(int(i) for i in fields.get("stored_parts") or ()),
        forwarded_attachments=tuple(
            (int(m), int(i)) for m, i in fields.get("forwarded_attachments") or ()
        ),
        in_reply_to=fields.get("in_reply_to") or None,
        references=tuple(str(r) for r in fields.get("references") or ()),
        extra_headers=tuple((str(n), str(v)) for n, v in fields.get("extra_headers") or ()),
        originals=_originals(fields),
    )


def _originals(fields: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    """The (message id, flag) pairs of a draft's fields, malformed ones left out; a draft saved
    before a forward could have several holds one pair under "original"."""
    pairs = fields.get("originals")
    if pairs is None:
        pairs = [fields.get("original")]
    found: list[tuple[int, str]] = []
    for value in pairs if isinstance(pairs, list) else ():
        if isinstance(value, list | tuple) and len(value) == 2:
            message_id, flag = value
            if isinstance(message_id, int) and isinstance(flag, str):
                found.append((message_id, flag))
    return tuple(found)


def _encode(draft: Draft) -> str:
    return json.dumps(draft_fields(draft), ensure_ascii=False, sort_keys=True)


def _row(r: tuple[Any, ...]) -> StoredDraft:
    server = ServerCopy(r[5], r[6], r[7]) if r[5] is not None else None
    return StoredDraft(
        id=r[0],
        account_id=r[1],
        message_id=r[2],
        draft=draft_from_fields(json.loads(r[3])),
        fields_json=r[3],
        has_raw=bool(r[4]),
        server=server,
        upload_needed=bool(r[8]),
        discarded=bool(r[9]),
        created=codec.to_datetime(r[10]),
        updated=codec.to_datetime(r[11]),
        revision=r[12],
    )


# --- what the composer and the drafts view do


def save(
    conn: sqlite3.Connection,
    account_id: int,
    draft: Draft,
    *,
    message_id: str,
    draft_id: int | None = None,
    server: ServerCopy | None = None,
    now: datetime | None = None,
) -> int:
    """Save a draft (a new row when `draft_id` is None); returns its id. One transaction.

    The fields are stored, the bytes of an earlier save dropped (the drafts worker builds them
    again) and the draft marked for upload. `server` (new rows only) is a copy on the server
    that this draft replaces: an IMAP draft opened for editing. Saving a discarded or deleted
    draft raises StoreError.
    """
    message_id = message_id.strip().strip("<>")
    if not message_id:
        raise ValueError("a draft needs its Message-ID")
    fields = _encode(draft)
    stamp = codec.now_epoch(now)
    with transaction(conn) as revision:
        if draft_id is None:
            return int(
                conn.execute(
                    "INSERT INTO drafts (account_id, message_id, fields, server_folder_id,"
                    " server_uidvalidity, server_uid, upload_needed, created, updated, revision)"
                    " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) RETURNING id",
                    (
                        account_id,
                        message_id,
                        fields,
                        server.folder_id if server else None,
                        server.uidvalidity if server else None,
                        server.uid if server else None,
                        stamp,
                        stamp,
                        revision,
                    ),
                ).fetchall()[0][0]
            )
        updated = conn.execute(
            "UPDATE drafts SET fields = ?, raw = NULL, upload_needed = 1, updated = ?,"
            " revision = ? WHERE id = ? AND discarded = 0",
            (fields, stamp, revision, draft_id),
        ).rowcount
        if not updated:
            raise StoreError("this draft was sent or discarded meanwhile; it cannot be saved")
        # Parts the user dropped from the draft go (the fields no longer name them).
        kept = list(draft.stored_parts)
        conn.execute(
            "DELETE FROM draft_parts WHERE draft_id = ?"  # noqa: S608
            f" AND id NOT IN ({','.join('?' * len(kept))})",
            (draft_id, *kept),
        )
        return draft_id


def take_back(
    conn: sqlite3.Connection,
    item_id: int,
    draft: Draft,
    parts: Sequence[PartBody],
    *,
    now: datetime | None = None,
) -> StoredDraft:
    """Undo send: remove outbox item `item_id` and make its message a draft, with `parts` (its
    attachments, as bytes) kept in the store, in ONE transaction: whatever happens, the message
    is either still queued or a draft. `draft` is the message's fields (without stored parts);
    the draft keeps the item's Message-ID and the message it answers or forwards. Raises
    StoreError (IllegalTransition) when the item is gone or no longer queued, failed or unknown
    (being sent, or sent).
    """
    with transaction(conn):
        item = outbox.get(conn, item_id)
        if item is None:
            raise StoreError(f"outbox item {item_id} does not exist")
        # Read before the item goes (its rows go with it): sending the draft later still marks
        # the originals answered or forwarded.
        draft = replace(
            draft, originals=outbox_originals.originals(conn, item_id) or draft.originals
        )
        outbox.cancel(conn, item_id, want_bytes=False)
        crashpoint("outbox.taken_back")
        draft_id = save(
            conn,
            item.account_id,
            replace(draft, stored_parts=()),
            message_id=item.message_id,
            now=now,
        )
        part_ids = tuple(
            int(
                conn.execute(
                    "INSERT INTO draft_parts (draft_id, filename, content_type, data)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (draft_id, part.filename, part.content_type, part.data),
                ).fetchall()[0][0]
            )
            for part in parts
        )
        if part_ids:
            save(
                conn,
                item.account_id,
                replace(draft, stored_parts=part_ids),
                message_id=item.message_id,
                draft_id=draft_id,
                now=now,
            )
        found = get(conn, draft_id)
        assert found is not None
        return found


def part_names(conn: sqlite3.Connection, part_ids: Sequence[int]) -> list[str]:
    """The file names of stored parts, in the order asked ("" for a part that is gone)."""
    names = dict(
        conn.execute(
            f"SELECT id, filename FROM draft_parts WHERE id IN ({','.join('?' * len(part_ids))})",  # noqa: S608
            tuple(part_ids),
        ).fetchall()
    )
    return [str(names.get(i, "")) for i in part_ids]


def stored_part_bodies(conn: sqlite3.Connection, draft: Draft) -> list[PartBody]:
    """The attachments a draft keeps in the store, in order, with their bytes.

    Raises ComposeError when one is no longer stored.
    """
    found: list[PartBody] = []
    for part_id in draft.stored_parts:
        row = conn.execute(
            "SELECT filename, content_type, data FROM draft_parts WHERE id = ?", (part_id,)
        ).fetchone()
        if row is None:
            raise ComposeError("an attachment of this draft is no longer stored; attach it again")
        found.append(PartBody(str(row[0]), str(row[1]), bytes(row[2])))
    return found


def _select(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> list[StoredDraft]:
    # `where` is always a literal of this module; values go in as parameters.
    sql = f"SELECT {_COLUMNS} FROM drafts WHERE {where}"  # noqa: S608
    return [_row(r) for r in conn.execute(sql, args)]


def get(conn: sqlite3.Connection, draft_id: int) -> StoredDraft | None:
    """One draft (discarded ones too), or None when its row is gone."""
    found = _select(conn, "id = ?", (draft_id,))
    return found[0] if found else None


def find_by_message_id(
    conn: sqlite3.Connection, account_id: int, message_id: str
) -> StoredDraft | None:
    """The account's live (not discarded) draft with this Message-ID, if any."""
    found = _select(
        conn,
        "account_id = ? AND message_id = ? AND discarded = 0 ORDER BY id LIMIT 1",
        (account_id, message_id.strip().strip("<>")),
    )
    return found[0] if found else None


def live(conn: sqlite3.Connection, account_id: int | None = None) -> list[StoredDraft]:
    """Drafts not discarded, of one account or all, the most recently changed first."""
    where = "discarded = 0" + (" AND account_id = ?" if account_id is not None else "")
    args: tuple[Any, ...] = (account_id,) if account_id is not None else ()
    return _select(conn, where + " ORDER BY updated DESC, id DESC", args)


def count(conn: sqlite3.Connection) -> int:
    """How many drafts are not discarded (the folder pane's count)."""
    return int(conn.execute("SELECT count(*) FROM drafts WHERE discarded = 0").fetchone()[0])


def discard(conn: sqlite3.Connection, draft_id: int, *, now: datetime | None = None) -> None:
    """The user discarded (or sent) the draft: a draft that never had a server copy is deleted
    at once; one that has (or may have) one stays, discarded, until the worker removed it."""
    stamp = codec.now_epoch(now)
    with transaction(conn) as revision:
        conn.execute("DELETE FROM drafts WHERE id = ? AND server_folder_id IS NULL", (draft_id,))
        conn.execute(
            "UPDATE drafts SET discarded = 1, upload_needed = 0, updated = ?, revision = ?"
            " WHERE id = ?",
            (stamp, revision, draft_id),
        )


# --- what the drafts worker does


def uploads_due(conn: sqlite3.Connection, account_id: int) -> list[StoredDraft]:
    """The account's drafts whose local copy is newer than the server's, oldest change first."""
    return _select(
        conn,
        "account_id = ? AND discarded = 0 AND upload_needed = 1 ORDER BY updated, id",
        (account_id,),
    )


def removals_due(conn: sqlite3.Connection, account_id: int) -> list[StoredDraft]:
    """The account's discarded drafts whose server copies may still exist."""
    return _select(conn, "account_id = ? AND discarded = 1 ORDER BY id", (account_id,))


def raw_of(conn: sqlite3.Connection, draft_id: int) -> bytes | None:
    """The bytes of the last upload (None until built)."""
    found = conn.execute("SELECT raw FROM drafts WHERE id = ?", (draft_id,)).fetchone()
    return None if found is None or found[0] is None else bytes(found[0])


def begin_upload(
    conn: sqlite3.Connection, draft_id: int, folder_id: int, *, fields_json: str, raw: bytes
) -> bool:
    """Before the APPEND: keep the bytes about to be uploaded (when the fields are still those
    they were built from) and make sure the row names a server folder, so that a discard from
    now on waits for the worker. False when the draft was discarded or deleted meanwhile."""
    with transaction(conn) as revision:
        conn.execute(
            "UPDATE drafts SET raw = ?, revision = ? WHERE id = ? AND fields = ?",
            (raw, revision, draft_id, fields_json),
        )
        return bool(
            conn.execute(
                "UPDATE drafts SET server_folder_id = coalesce(server_folder_id, ?),"
                " revision = ? WHERE id = ? AND discarded = 0",
                (folder_id, revision, draft_id),
            ).rowcount
        )


def record_upload(
    conn: sqlite3.Connection,
    draft_id: int,
    copy: ServerCopy,
    *,
    fields_json: str,
) -> None:
    """After the APPEND (and the removal of older copies): the copy now on the server. The draft
    stays marked for upload when it was saved again meanwhile (its fields changed)."""
    with transaction(conn) as revision:
        conn.execute(
            "UPDATE drafts SET server_folder_id = ?, server_uidvalidity = ?, server_uid = ?,"
            " upload_needed = CASE WHEN fields = ? THEN 0 ELSE upload_needed END,"
            " revision = ? WHERE id = ?",
            (copy.folder_id, copy.uidvalidity, copy.uid, fields_json, revision, draft_id),
        )


def purge(conn: sqlite3.Connection, draft_id: int) -> None:
    """Delete a discarded draft's row (its server copies are gone)."""
    with transaction(conn):
        conn.execute("DELETE FROM drafts WHERE id = ? AND discarded = 1", (draft_id,))


def attached_message_bytes(conn: sqlite3.Connection, draft: Draft) -> list[bytes]:
    """The exact bytes of the stored messages a draft forwards as attachments, in order.

    Raises ComposeError when one is not in the local store (not downloaded, or deleted).
    """
    found: list[bytes] = []
    for message_id in draft.attached_messages:
        raw = read.body(conn, message_id)
        if raw is None:
            raise ComposeError(
                "a forwarded message is not in the local store (not downloaded, or deleted); "
                "drop it or forward it again"
            )
        found.append(raw)
    return found


def forwarded_attachments(conn: sqlite3.Connection, draft: Draft) -> list[CarriedAttachment]:
    """The attachments of stored messages that a draft carries (an inline forward), in order:
    their bytes, names and types as the originals have them.

    Raises ComposeError when an original is not whole in the local store (not downloaded, or
    deleted) or no longer has that attachment.
    """
    found: list[CarriedAttachment] = []
    originals: dict[int, bytes | None] = {}
    for message_id, index in draft.forwarded_attachments:
        if message_id not in originals:
            originals[message_id] = read.body(conn, message_id)
        raw = originals[message_id]
        carried = carried_attachment(raw, index) if raw is not None else None
        if carried is None:
            raise ComposeError(
                "an attachment of the forwarded message is not in the local store (not "
                "downloaded, or deleted); drop it (ctrl+b) or forward the message again"
            )
        found.append(carried)
    return found


def compose_draft(
    conn: sqlite3.Connection, draft: Draft, *, message_id: str | None = None
) -> ComposedMessage:
    """A draft composed with what it takes from the store: the messages it forwards whole, the
    attachments it keeps as bytes (taken back from the outbox) and those it carries from a
    forwarded message. Raises ComposeError (see `compose_message`)."""
    return compose_message(
        draft,
        message_id=message_id,
        messages=attached_message_bytes(conn, draft),
        parts=stored_part_bodies(conn, draft),
        carried=forwarded_attachments(conn, draft),
    )
