"""Completing the full-text index behind the storing of mail, and bringing older entries up to
the current form, a committed batch at a time: `INDEX_VERSION` is the form new entries are
written in (`messages.index_version` says each message's), and `reindex_some` completes or
rewrites the entries of messages in another. The text each entry was made from is kept
(store/index_entries.py).

Version 0 (`BODY_NOT_INDEXED`): the subject and addresses only; the body is stored but not yet
parsed (ingest's `defer_index`: a sync, a download or an import is done once the bodies are
durable). Its body is parsed here, outside the write transaction (in worker processes when the
caller passes such a `parse`), and the entry completed; `has_attachments` takes the parse's
answer. A crash in between loses nothing: the message stays at version 0 and is indexed by
the next run.

Version 1: subject, addresses and body text as they are (the tokenizer drops accents it can
decompose). Version 2: the same text folded (mail/fold.py: ł, ø, ß... as plain letters), so
`zazolc` finds "Zażółć". The entry's own text is folded again: no message is parsed.
While some entries are older, a search looks for the folded and the typed form of each word
(store/search.py), so nothing that was found before goes missing meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tuimail.core.crashpoint import crashpoint
from tuimail.mail.fold import fold
from tuimail.store import body_codec, index_entries
from tuimail.store.db import transaction
from tuimail.store.index_entries import BODY_NOT_INDEXED as BODY_NOT_INDEXED
from tuimail.store.index_entries import INDEX_VERSION as INDEX_VERSION
from tuimail.store.index_entries import behind as behind
from tuimail.store.index_entries import pending as pending
from tuimail.store.ingest import BodyIndex, index_body

BATCH = 500  # entries completed or rewritten per committed transaction, at most
BATCH_BYTES = 1024 * 1024  # bodies read for one batch, at most (one more may pass it)
# The statements say `index_version < 2` as the partial index messages_to_reindex (schema 12)
# is made: a literal, not a parameter, or SQLite cannot use that index and reads every message.
assert INDEX_VERSION == 2, "a new form needs a new partial index"

# What parses the bodies of a batch: `index_body` of each, in order.
Parse = Callable[[Sequence[bytes]], list[BodyIndex]]


def parse_inline(raws: Sequence[bytes]) -> list[BodyIndex]:
    """`index_body` of each message, in this thread."""
    return [index_body(raw) for raw in raws]


@dataclass(slots=True)
class Batch:
    """Messages whose entries are to be completed or rewritten, in id order: (id, form) each,
    and the stored bodies of those still to be parsed."""

    rows: list[tuple[int, int]]
    raws: dict[int, bytes] = field(default_factory=dict)

    @property
    def last(self) -> int:
        """The highest message id of the batch (the next batch starts after it)."""
        return self.rows[-1][0]


def take(conn: sqlite3.Connection, *, after: int = 0, limit: int = BATCH) -> Batch | None:
    """The next up to `limit` messages after id `after` whose entries are not in the current
    form, with the bodies to parse (at most about BATCH_BYTES of them); None: there are none."""
    rows = conn.execute(
        "SELECT id, index_version FROM messages WHERE index_version < 2 AND id > ?"
        " ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    if not rows:
        return None
    batch = Batch(rows)
    size = 0
    for position, (message_id, version) in enumerate(rows):
        if size >= BATCH_BYTES:  # the rest waits for the next batch: memory stays bounded
            del batch.rows[position:]
            break
        if version != BODY_NOT_INDEXED:
            continue
        found = conn.execute(
            "SELECT raw, codec, dict_id FROM bodies WHERE message_id = ?", (message_id,)
        ).fetchone()
        if found is not None:
            batch.raws[message_id] = body_codec.unpack(conn, *found)
            size += len(batch.raws[message_id])
    return batch


def apply(conn: sqlite3.Connection, batch: Batch, parsed: dict[int, BodyIndex]) -> int:
    """Complete or rewrite the entries of `batch` in one transaction, the bodies parsed as
    `parsed` says (by message id); how many messages it held."""
    with transaction(conn) as revision:
        for message_id, _ in batch.rows:
            # Read again under the lock: the message may have gone or changed meanwhile.
            now = conn.execute(
                "SELECT index_version FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if now is None or now[0] >= INDEX_VERSION:
                continue
            entry = index_entries.texts(conn, message_id)
            if now[0] == BODY_NOT_INDEXED:
                index = parsed.get(message_id)
                if index is not None and entry is not None:
                    # Subject and addresses folded too: the entry may be of form 1 before.
                    subject, addresses, _ = entry
                    folded = (fold(subject), fold(addresses), fold(index.body_text))
                    index_entries.replace(conn, message_id, folded)
                    conn.execute(
                        "UPDATE messages SET has_attachments = ?, revision = ? WHERE id = ?",
                        (int(index.has_attachments), revision, message_id),
                    )
            elif entry is not None:
                subject, addresses, body = entry
                index_entries.replace(
                    conn, message_id, (fold(subject), fold(addresses), fold(body))
                )
            conn.execute(
                "UPDATE messages SET index_version = ? WHERE id = ?", (INDEX_VERSION, message_id)
            )
    crashpoint("index.batch_committed")
    return len(batch.rows)


def reindex_some(
    conn: sqlite3.Connection, *, limit: int = BATCH, parse: Parse = parse_inline
) -> int:
    """Complete or rewrite up to `limit` entries not in the current form, in one transaction;
    how many (0: the index is current). Bodies are parsed by `parse` before the transaction."""
    batch = take(conn, limit=limit)
    if batch is None:
        return 0
    parsed = dict(zip(batch.raws, parse(list(batch.raws.values())), strict=True))
    batch.raws.clear()  # only the text is needed from here: memory stays near one batch's
    return apply(conn, batch, parsed)


def reindex_all(conn: sqlite3.Connection, *, parse: Parse = parse_inline) -> int:
    """`reindex_some` until the index is current; how many entries were completed or brought up
    to date."""
    done = 0
    while count := reindex_some(conn, parse=parse):
        done += count
    return done
