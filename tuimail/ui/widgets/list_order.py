"""The message list's order: its sort key and direction, the keys that change them (S cycles
the keys, I turns the order round) and the order in words for the title."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from tuimail.store import read
from tuimail.ui.widgets.list_row import order_words


class OrderChanged(Message):
    """The list's order (its sort key or direction, or conversations on or off) changed."""


if TYPE_CHECKING:
    from textual.widget import Widget as _Base
else:
    _Base = object  # a mixin of the list, not a widget of its own


class ListOrder(_Base):
    """The order part of the message list (widgets/message_list.py), which reloads itself."""

    order: read.SortOrder
    reverse: bool  # the other way round from the key's usual direction
    threaded: bool
    place: tuple[int, ...] | None

    def reload(self) -> None:
        """Read the shown place again (the list's)."""
        raise NotImplementedError

    @property
    def descending(self) -> bool:
        """Whether the list runs from the highest key down: dates newest first and sizes largest
        first, names from A to Z, unless turned round (`reverse`)."""
        usual = self.order in (read.SortOrder.DATE, read.SortOrder.SIZE)
        return usual != self.reverse

    @property
    def order_text(self) -> str:
        """The flat list's order in words ("by sender, A→Z")."""
        return order_words(self.order, self.descending)

    def action_sort(self) -> None:
        """Cycle the order: date, sender, subject, size, each in its usual direction."""
        orders = list(read.SortOrder)
        self.order = orders[(orders.index(self.order) + 1) % len(orders)]
        self.reverse = False
        self._order_changed()

    def action_sort_reverse(self) -> None:
        """Turn the order round: oldest first, Z to A, smallest first (and back)."""
        self.reverse = not self.reverse
        self._order_changed()

    def _order_changed(self) -> None:
        if self.threaded:  # conversations keep their order: this one is the flat list's
            self.notify(
                f"Conversations come by their newest message; t lists messages {self.order_text}.",
                markup=False,
            )
        if self.place is not None:
            self.reload()
        elif not self.threaded:  # a search's results are in the search's order
            self.notify(f"The folder is listed {self.order_text} after the search.", markup=False)
        self.post_message(OrderChanged())
