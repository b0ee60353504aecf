"""Full-text search over subject, addresses and body text (SQLite FTS5).

User input never reaches FTS5 as syntax: every term becomes a quoted string, so no input can
produce a query syntax error. What the user can write:

    word            messages containing the word (all terms must match)
    "two words"     the phrase
    word*           words starting with "word"
    from:alice      a term in one field: from: (any address), subject:, body:

Accents and letters such as ł, ø, ß need not be typed: the index and the query are folded
alike (mail/fold.py), so `zazolc` finds "Zażółć".

A word in most messages has hundreds of thousands of matches, and ordering them all by date
takes seconds at a million messages. `first_page` finds the newest few of such a search at
once, walking the messages' date index and asking the full-text index about each candidate;
the caller shows them while `search` orders the rest.
"""

from __future__ import annotations

import heapq
import itertools
import re
import sqlite3
import unicodedata
from collections.abc import Generator, Sequence

from tuimail.mail.fold import fold, has_undecomposed_letters

# Up to this many matches `search` orders them all in well under the 100 ms a search may take;
# with more, `first_page` finds the first page first.
MANY_MATCHES = 5000
FIRST_PAGE = 200  # messages in a first page: more than a screen shows
# A search of one folder that matches at least this share of its newest messages lists every
# match by walking the folder's date index (see `search`).
DENSE_SHARE = 0.25
# Candidates asked about in the first statement: the first answer already tells sparse matches
# from dense ones. Each later statement asks about twice as many, up to _MOST_CHUNK.
_FIRST_CHUNK = 64
_MOST_CHUNK = 4096
# Candidates whose ids lie close together (as the date order gives them in most stores: mail is
# stored as it comes) are asked about as a range of ids, which FTS5 reads in one pass; the others
# one by one, each looked up from the top of the index. Measured at 20,000 messages, 2,048
# neighbouring candidates: a phrase 0.3 ms as a range, 25 ms one by one; `from:` 0.04 ms, 14 ms.
_RANGE_GAP = 32  # ids further apart than this are not in one range
_MOST_RANGES = 32  # ranges in one statement; the ids of the shortest others go one by one
# What the walk of `first_page` costs per candidate against what ordering every match costs
# per match (the page's alternative, see there), in the same unit: a candidate asked about one
# by one costs about five times a match ordered (measured at 200,000 messages: `from:` with
# 1.4% matching took 1.7 s to walk 10,000 candidates, 4 ms to order its matches); one asked
# about in a range costs about a quarter of one (reading it from the date index, mostly).
_LISTED_COST = 20
_RANGED_COST = 1
_ORDER_COST = 4

_TERM = re.compile(r'(?:(?P<field>[A-Za-z]+):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))')

# Field prefixes the user may write, and the FTS5 column each one searches.
_FIELDS = {
    "subject": "subject",
    "from": "addresses",
    "to": "addresses",
    "cc": "addresses",
    "address": "addresses",
    "body": "body",
}


def fts_query(user_input: str) -> str | None:
    """The FTS5 MATCH expression for what a user typed; None when there is nothing to search."""
    # FTS5 reads the query as a C string: a NUL would cut it short. No control is a search term.
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in user_input)
    parts: list[str] = []
    for match in _TERM.finditer(cleaned):
        field = (match["field"] or "").lower()
        if match["phrase"] is not None:
            text, prefix = match["phrase"], False
        else:
            text = match["word"]
            if not field and text.endswith(":") and text[:-1].lower() in _FIELDS:
                continue  # a field with nothing to look for
            prefix = text.endswith("*")
            text = text.rstrip("*")
        if field and field not in _FIELDS:
            # "re:" or "http://x" are words, not fields.
            text = f"{match['field']}:{text}"
            field = ""
        if not any(ch.isalnum() for ch in text):
            # Punctuation alone gives the tokenizer nothing to match.
            continue
        quoted = _phrase(text, prefix)
        parts.append(f"{_FIELDS[field]} : {quoted}" if field else quoted)
    # Every term must match: AND written out (FTS5 takes juxtaposed phrases as AND, but not a
    # phrase beside a bracketed OR).
    return " AND ".join(parts) if parts else None


def _phrase(text: str, prefix: bool) -> str:
    """A quoted FTS5 phrase for `text`, folded as the index is (mail/fold.py); where folding
    changes it, the typed form too, for entries an older tuimail wrote (store/reindex.py)."""
    star = "*" if prefix else ""
    quoted = '"' + fold(text).replace('"', '""') + '"' + star
    if not has_undecomposed_letters(text):
        return quoted  # an older entry's tokens are the folded ones too
    return f'({quoted} OR "' + text.replace('"', '""') + '"' + star + ")"


def search(
    conn: sqlite3.Connection,
    query: str,
    *,
    folder_ids: int | Sequence[int] | None = None,
    account_id: int | None = None,
    limit: int | None = None,
) -> list[int]:
    """Ids of the messages matching `query`, newest first; scoped to folders, an account, or all."""
    expression = fts_query(query)
    if expression is None:
        return []
    where = ["messages_fts MATCH ?"]
    params: list[object] = [expression]
    if folder_ids is not None:
        ids = [folder_ids] if isinstance(folder_ids, int) else list(folder_ids)
        if not ids:
            return []
        where.append(f"m.folder_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if account_id is not None:
        where.append("m.account_id = ?")
        params.append(account_id)
    folder = params[1] if folder_ids is not None and len(params) == 2 else None  # one folder
    if limit is None and isinstance(folder, int) and _dense(conn, expression, folder):
        # Most of one folder matches (a common word): its date index walked in order, each
        # message looked up among the matches, instead of every match looked up in the
        # messages and all of them sorted (a million messages, a word in nine of ten: 0.6 s
        # instead of 1.0, and 25 MB less).
        sql = (
            "SELECT id FROM messages INDEXED BY messages_by_date WHERE folder_id = ?"
            " AND id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
            " ORDER BY sort_date DESC, id DESC"
        )
        return [int(row[0]) for row in conn.execute(sql, (folder, expression))]
    # CROSS JOIN makes the full-text matches drive the loop: left to itself, the planner may walk
    # a whole folder and probe the index once per message (seconds at 100k messages). Only
    # fixed conditions with placeholders are joined into the statement.
    sql = (
        "SELECT m.id FROM messages_fts CROSS JOIN messages AS m"  # noqa: S608
        " ON m.id = messages_fts.rowid"
        f" WHERE {' AND '.join(where)} ORDER BY m.sort_date DESC, m.id DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [int(row[0]) for row in conn.execute(sql, params)]


def has_many_matches(conn: sqlite3.Connection, query: str) -> bool:
    """Whether `query` matches more than MANY_MATCHES messages (anywhere in the store): counted
    no further than that."""
    expression = fts_query(query)
    if expression is None:
        return False
    # A match past the first MANY_MATCHES: stepping over them is all it costs.
    beyond = conn.execute(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1 OFFSET ?",
        (expression, MANY_MATCHES),
    ).fetchone()
    return beyond is not None


def first_page(
    conn: sqlite3.Connection,
    query: str,
    *,
    folder_ids: int | Sequence[int] | None = None,
    size: int | None = None,
) -> list[int]:
    """The first `size` (default FIRST_PAGE) ids `search` gives for `query` in `folder_ids`
    (None: all mail), found without ordering every match where they are dense: the messages
    newest first from the date index of each folder (merged), each asked whether it matches.
    Where the walk shows them sparse (a word common in the store, rare in these folders, or a
    phrase of common words), SQLite orders the matches for the first page alone instead."""
    size = FIRST_PAGE if size is None else size
    expression = fts_query(query)
    if expression is None:
        return []
    # The folders and how many messages each holds (kept by the store).
    if folder_ids is None:
        folders = conn.execute("SELECT id, total FROM folders").fetchall()
    else:
        asked = [folder_ids] if isinstance(folder_ids, int) else list(folder_ids)
        folders = [
            (folder, total)
            for folder in asked
            for (total,) in conn.execute("SELECT total FROM folders WHERE id = ?", (folder,))
        ]
    walks = [_newest_first(conn, int(folder)) for folder, _ in folders]
    candidates = (message_id for _, message_id in heapq.merge(*walks, reverse=True))
    in_scope = sum(int(total) for _, total in folders)
    found: list[int] = []
    walked = cost = 0
    chunk_size = _FIRST_CHUNK
    try:
        while len(found) < size:
            chunk = list(itertools.islice(candidates, chunk_size))
            if not chunk:
                return found  # every message searched
            walked += len(chunk)
            _, listed = _split(chunk)
            cost += _LISTED_COST * len(listed) + _RANGED_COST * (len(chunk) - len(listed))
            matching = _matching(conn, expression, chunk)
            found.extend(i for i in chunk if i in matching)
            lacking = size - len(found)
            # Go on walking while that costs less than ordering every match (both guessed
            # from the share of matches so far, none found counting as one; the walk ends at
            # the last message at the latest).
            share = max(len(found), 1) / walked
            more = min(lacking / share, in_scope - walked)
            if lacking > 0 and more * cost / walked > share * in_scope * _ORDER_COST:
                return search(conn, query, folder_ids=folder_ids, limit=size)
            chunk_size = min(2 * chunk_size, _MOST_CHUNK)
        return found[:size]
    finally:
        for walk in walks:
            walk.close()  # its statement ends now, not when collected


def _dense(conn: sqlite3.Connection, expression: str, folder_id: int) -> bool:
    """Whether at least DENSE_SHARE of the folder's newest messages (a _FIRST_CHUNK of them)
    match: a sample that tells which way of listing every match is quicker."""
    newest = [
        int(row[0])
        for row in conn.execute(
            "SELECT id FROM messages WHERE folder_id = ? ORDER BY sort_date DESC, id DESC LIMIT ?",
            (folder_id, _FIRST_CHUNK),
        )
    ]
    return len(newest) == _FIRST_CHUNK and (
        len(_matching(conn, expression, newest)) >= _FIRST_CHUNK * DENSE_SHARE
    )


def _newest_first(conn: sqlite3.Connection, folder_id: int) -> Generator[tuple[int, int]]:
    """(sort_date, id) of a folder's messages, newest first, read from its date index as the
    merge asks for them (the order `search` gives: date, then id)."""
    yield from conn.execute(
        "SELECT sort_date, id FROM messages WHERE folder_id = ? ORDER BY sort_date DESC, id DESC",
        (folder_id,),
    )


def _matching(conn: sqlite3.Connection, expression: str, ids: list[int]) -> set[int]:
    """Which of `ids` match the MATCH `expression`: runs of close ids asked about as ranges,
    the others one by one (see _RANGE_GAP), all in one statement."""
    ranges, listed = _split(ids)
    parts: list[str] = []
    params: list[object] = []
    for low, high in ranges:
        parts.append(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ?"
        )
        params.extend((expression, low, high))
    if listed:
        parts.append(
            "SELECT rowid FROM messages_fts"  # noqa: S608 - placeholders only
            f" WHERE messages_fts MATCH ? AND rowid IN ({','.join('?' * len(listed))})"
        )
        params.extend((expression, *listed))
    wanted = set(ids)  # a range holds other messages too
    return {int(row[0]) for row in conn.execute(" UNION ALL ".join(parts), params)} & wanted


def _split(ids: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """`ids` as (ranges, the ids asked about one by one): runs of ids no more than _RANGE_GAP
    apart are ranges, at most _MOST_RANGES of them (the longest runs)."""
    ordered = sorted(ids)
    runs: list[list[int]] = []
    for message_id in ordered:
        if runs and message_id - runs[-1][-1] <= _RANGE_GAP:
            runs[-1].append(message_id)
        else:
            runs.append([message_id])
    longest = sorted((run for run in runs if len(run) > 1), key=len, reverse=True)
    ranged = longest[:_MOST_RANGES]
    listed = [i for run in runs if len(run) == 1 for i in run]
    listed.extend(i for run in longest[_MOST_RANGES:] for i in run)
    return [(run[0], run[-1]) for run in ranged], sorted(listed)
