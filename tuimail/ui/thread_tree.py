"""A conversation drawn as a tree, the way mutt draws one: its root first, each reply under the
message it answers, with `├─>`, `└─>` and `│` lines before the subject.

The store groups messages into conversations when they arrive (`thread_id`); this module only
orders the few messages of one open conversation, from their Message-ID, In-Reply-To and
References, when the user opens it. Nothing here is run per key press over a whole folder.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tuimail.store import conversations, read
from tuimail.store.read import MessageRow

# Deeper replies are drawn at this depth (a "…" says levels were left out), so a long chain of
# replies keeps its subjects in view.
MAX_DEPTH = 8


def _parent_ids(root_id: int, rows: Sequence[MessageRow]) -> dict[int, int]:
    """Each message's parent among `rows`: the message its In-Reply-To names, else the nearest
    message its References name; the others (and the root) have none."""
    by_msgid: dict[str, int] = {}
    for row in rows:
        msgid = row.envelope.message_id
        if msgid and msgid not in by_msgid:
            by_msgid[msgid] = row.id
    parents: dict[int, int] = {}
    for row in rows:
        if row.id == root_id:
            continue
        env = row.envelope
        for ref in (env.in_reply_to, *reversed(env.references)):
            parent = by_msgid.get(ref) if ref else None
            if parent is not None and parent != row.id:
                parents[row.id] = parent
                break
    return parents


def tree_order(root_id: int, rows: Sequence[MessageRow]) -> list[tuple[int, str]]:
    """The messages of one conversation in tree order, each with the lines drawn before its
    subject ("" for the root). `root_id` comes first; a message whose parent is not among
    `rows` (not here, or a loop of references) hangs under the root. Siblings are in date order.
    """
    ordered = sorted(rows, key=lambda row: (row.sort_date, row.id))
    parents = _parent_ids(root_id, ordered)
    children: dict[int, list[int]] = {}
    for row in ordered:
        if row.id != root_id:
            # A message whose parent is not here answers the conversation: under the root.
            children.setdefault(parents.get(row.id, root_id), []).append(row.id)
    known = {row.id for row in ordered}
    out: list[tuple[int, str]] = []
    seen: set[int] = set()

    def walk(start: int, lasts: tuple[bool, ...]) -> None:
        # Depth first without recursion: a chain of thousands of replies is one long walk.
        stack: list[tuple[int, tuple[bool, ...]]] = [(start, lasts)]
        while stack:
            node, node_lasts = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            out.append((node, tree_prefix(node_lasts)))
            kids = [kid for kid in children.get(node, []) if kid not in seen]
            for position, kid in reversed(list(enumerate(kids))):
                stack.append((kid, (*node_lasts, position == len(kids) - 1)))

    if root_id in known:
        walk(root_id, ())
    # What the walk did not reach (a loop of references) follows, under the root.
    rest = [row.id for row in ordered if row.id not in seen]
    for position, node in enumerate(rest):
        if node not in seen:
            walk(node, (position == len(rest) - 1,))
    return out


def tree_prefix(lasts: tuple[bool, ...]) -> str:
    """The lines before a subject: one column per ancestor below the root (`│ ` while that
    ancestor has younger siblings below), then the message's own arrow (`└─>` for the last
    reply to its parent, else `├─>`). `lasts`: for each level, whether the message (or its
    ancestor at that level) is its parent's last reply."""
    if not lasts:
        return ""
    columns = ["  " if last else "│ " for last in lasts[:-1]]
    if len(columns) >= MAX_DEPTH:
        columns = ["…", *columns[-(MAX_DEPTH - 1) :]]
    return "".join(columns) + ("└─>" if lasts[-1] else "├─>")


def conversation_of(
    conn: sqlite3.Connection, row: MessageRow, folder_ids: Sequence[int], root: int | None
) -> list[int]:
    """The messages of `row`'s conversation in some folders, in tree order from `root` (None:
    its oldest message)."""
    members = conversations.thread_members(conn, row.thread_id, folder_ids) or [row.id]
    start = root if root in members else members[0]
    return [message_id for message_id, _ in tree_order(start, read.rows(conn, members))]
