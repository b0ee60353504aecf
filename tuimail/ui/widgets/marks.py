"""The messages marked in the message list, to act on them together (read, flag, move, copy,
delete, forward): a set of message ids, never of lines, so that a change in the background (new
mail above, another client's deletes) moves lines but never what is marked; messages that leave
the list lose their mark.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence


class Marks:
    """Marked message ids in the order marked; the last one marked starts a range."""

    def __init__(self) -> None:
        self._ids: dict[int, None] = {}  # an ordered set
        self.anchor: int | None = None  # the message marked last (by `v`, `V`)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._ids))

    def add(self, message_ids: Iterable[int]) -> None:
        """Mark these messages."""
        for message_id in message_ids:
            self._ids[message_id] = None

    def remove(self, message_ids: Iterable[int]) -> None:
        """Unmark these messages."""
        for message_id in message_ids:
            self._ids.pop(message_id, None)
        if self.anchor is not None and self.anchor not in self._ids:
            self.anchor = None

    def clear(self) -> None:
        """Unmark every message."""
        self._ids.clear()
        self.anchor = None

    def keep_only(self, still_there: Collection[int]) -> bool:
        """Drop the marks of messages not in `still_there`; True when any was dropped."""
        gone = [message_id for message_id in self._ids if message_id not in still_there]
        self.remove(gone)
        return bool(gone)

    def ordered(self, listed: Sequence[int]) -> list[int]:
        """The marked ids in the list's order (`listed`), then any not listed (inside a closed
        conversation) in the order marked."""
        shown = [message_id for message_id in listed if message_id in self._ids]
        seen = set(shown)
        return shown + [message_id for message_id in self._ids if message_id not in seen]
