"""The threaded message list's conversations (`MessageList` with threads on): which are open,
the lines of an open one's replies with their tree lines, and what each conversation's line
stands for (its counts), read a page at a time as lines are shown: the list itself holds only
the messages that lead the conversations (a million messages are 600,000 of them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tuimail.store import conversations, read
from tuimail.ui.thread_tree import tree_order
from tuimail.ui.widgets.lru import LRU

HEAD_CACHE = 4000  # conversations' lines kept in memory
HEAD_PAGE = 200  # conversations' lines read at once around a shown one


class ThreadedLines:
    """The conversations of the place a threaded list shows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.open: set[int] = set()  # thread ids shown open
        self.heads: LRU[int, conversations.ThreadHead] = LRU(HEAD_CACHE)  # by the root's id
        self.members: dict[int, int] = {}  # an open conversation's replies -> its root
        self.tree: dict[int, str] = {}  # an open conversation's replies -> their tree lines

    def forget(self) -> None:
        """Drop what was read of the lines (the list is read again)."""
        self.heads.clear()
        self.members.clear()
        self.tree.clear()

    def ordered_ids(self, place: tuple[int, ...]) -> list[int]:
        """The list's lines: each conversation's root, newest conversation first, an open one's
        replies under it in tree order."""
        self.forget()
        roots = conversations.conversation_roots(self.conn, list(place))
        if not self.open:
            return roots
        opened: dict[int, conversations.ThreadHead] = {}  # by root
        for thread_id in self.open:
            root = conversations.conversation_root(self.conn, place, thread_id)
            if root is not None:
                opened.update(conversations.heads_of(self.conn, place, [root]))
        ids: list[int] = []
        for root in roots:
            ids.append(root)
            head = opened.get(root)
            if head is not None and head.count > 1:
                ids.extend(self._replies(head, place))
        return ids

    def head(
        self, place: tuple[int, ...], ids: Sequence[int], message_id: int, index: int | None
    ) -> conversations.ThreadHead | None:
        """The conversation whose line `message_id` is (None for an open one's reply); with the
        line's `index` in `ids`, the lines around it are read at once."""
        if message_id in self.members:
            return None
        head = self.heads.get_fresh(message_id)
        if head is None:
            page = [message_id]
            if index is not None:
                start = max(0, index - HEAD_PAGE // 2)
                page += [
                    i
                    for i in ids[start : start + HEAD_PAGE]
                    if i not in self.members and i not in self.heads
                ]
            for root, found in conversations.heads_of(self.conn, place, page).items():
                self.heads.put(root, found)
            head = self.heads.get_fresh(message_id)
        return head

    def _replies(self, head: conversations.ThreadHead, place: tuple[int, ...]) -> list[int]:
        """An open conversation's replies, in tree order under its root (the head)."""
        members = conversations.thread_members(self.conn, head.thread_id, list(place))
        ordered = tree_order(head.message_id, read.rows(self.conn, members))
        for member, lines in ordered[1:]:
            self.members[member] = head.message_id
            self.tree[member] = lines
        return [member for member, _ in ordered[1:]]
