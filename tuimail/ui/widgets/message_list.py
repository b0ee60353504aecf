"""The message list: a line-API ScrollView over a folder's ordered message ids.

Opening a folder reads only its ordered ids (one indexed query); rows are read from the store a
page at a time, only for the lines being painted, and each painted line is kept in a small LRU
cache of Strips. So a 100,000-message folder opens and scrolls as fast as a small one. Untrusted
text is drawn as plain segments after `mail.sanitize` (through ui/format.py), never as markup.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tuimail.store import conversations, read
from tuimail.store import marked as store_marked
from tuimail.store.conversations import ThreadHead
from tuimail.ui.format import short_date
from tuimail.ui.thread_tree import conversation_of
from tuimail.ui.widgets.conversation import ConversationWanted
from tuimail.ui.widgets.list_order import ListOrder, OrderChanged
from tuimail.ui.widgets.list_row import OUTGOING_ROLES, RowLook, folder_label, row_strip
from tuimail.ui.widgets.list_threads import ThreadedLines
from tuimail.ui.widgets.lru import LRU
from tuimail.ui.widgets.marks import Marks

PAGE_ROWS = 200  # rows read from the store at once around a painted line
ROW_CACHE = 4000  # rows kept in memory
STRIP_CACHE = 1000  # painted lines kept


class MessageList(ListOrder, ScrollView, can_focus=True):
    """The messages of one folder, newest first, with a cursor."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="down"),
        Binding("pageup", "page_up", "Page up", show=False, id="page-up"),
        Binding("pagedown,space", "page_down", "Page down", show=False, id="page-down"),
        Binding("home,g", "first", "First", show=False, id="first"),
        Binding("end,G", "last", "Last", show=False, id="last"),
        Binding("enter", "select", "Open", show=False, id="open"),
        Binding("S", "sort", "Sort by date / sender / subject / size", show=False, id="sort"),
        Binding("I", "sort_reverse", "Sort the other way round", show=False, id="sort-reverse"),
        Binding("t", "toggle_threads", "Threads on / off", show=False, id="threads"),
        Binding("z", "toggle_thread", "Open / close a thread", show=False, id="thread-fold"),
        Binding("T", "conversation", "Read the whole conversation", show=False, id="conversation"),
        Binding("v", "mark", "Mark / unmark, then the next message", show=False, id="mark"),
        Binding(
            "V", "mark_range", "Mark from the last marked to this one", show=False, id="mark-range"
        ),
        Binding("asterisk", "mark_all", "Mark every message listed", show=False, id="mark-all"),
        Binding("U", "unmark_all", "Unmark every message", show=False, id="unmark-all"),
    ]
    COMPONENT_CLASSES = {
        "message-list--cursor",
        "message-list--unread",
        "message-list--date",
        "message-list--marks",
        "message-list--marked",
    }
    DEFAULT_CSS = """
    MessageList {
        overflow-x: hidden;
    }
    MessageList > .message-list--cursor {
        background: $selection 50%;
    }
    MessageList:focus > .message-list--cursor {
        background: $selection;
    }
    MessageList > .message-list--unread {
        color: $unread;
        text-style: bold;
    }
    MessageList > .message-list--date {
        color: $secondary;
    }
    MessageList > .message-list--marks {
        color: $flagged;
    }
    MessageList > .message-list--marked {
        background: $marked;
    }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor moved to a message."""

        def __init__(self, message_id: int) -> None:
            super().__init__()
            self.message_id = message_id

    class Displaced(Message):
        """The highlighted message left the list, or its line now stands for another message,
        through a change the user did not make: nothing is highlighted until the cursor moves."""

    class MarksChanged(Message):
        """The marked messages changed: `count` are marked now."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    class Selected(Message):
        """The user opened the message under the cursor (enter); posted to the screen itself."""

        def __init__(self, message_id: int) -> None:
            super().__init__()
            self.message_id = message_id

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], datetime],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.conn = conn
        self.clock = clock
        self.ids: list[int] = []
        # Nothing highlighted (the message under the cursor went away in the background).
        self._displaced = False
        self._displaced_told = False  # Displaced was posted for this displaced state
        self._quiet = False  # set while a background update keeps the cursor (see _replace)
        # The folders shown (None: a search result list) and their order.
        self.place: tuple[int, ...] | None = None
        self.order = read.SortOrder.DATE
        self.reverse = False  # the order the other way round from its usual direction (I)
        # Threaded view: one line per conversation (its root), opened with z; the
        # conversations come newest first (by their newest message).
        self.threaded = False
        self._threads = ThreadedLines(conn)
        # The folders by id (their names and roles, for the folder and "To" columns).
        self._folders: dict[int, read.FolderInfo] = {}
        self.folder_column = False  # a search of all mail: which folder each message is in
        self._rows: LRU[int, read.MessageRow] = LRU(ROW_CACHE)
        self._strips: LRU[tuple[int, int, bool], Strip] = LRU(STRIP_CACHE)
        # Marked messages, by id (never by line: a change in the background moves lines, not
        # marks), in the order marked; the last one marked is where a range starts.
        self.marks = Marks()
        # The styles lines are painted with (see _line_styles), and whether they may have
        # changed since they were read.
        self._painted_styles: tuple[Style, Style, Style, Style] | None = None
        self._restyled = True

    # --- data ---------------------------------------------------------------------------------

    def load(self, place: tuple[int, ...], order: read.SortOrder | None = None) -> None:
        """Show the messages of the folders in `place` (one folder, or every inbox for the
        unified inbox), in `order` (default: the current one). Another place opens at its top;
        the same place again (another order) keeps the cursor on the same message."""
        if order is not None:
            self.order = order
        self.folder_column = False
        self._folders = {info.id: info for info in read.folders(self.conn)}
        if place == self.place:
            self._replace(lambda: self._ordered_ids(place), background=False)
            return
        self.place = place
        self.ids = self._ordered_ids(place)
        self._start_over()

    def _start_over(self) -> None:
        """A new list: the cursor on its first line, scrolled to the top."""
        self.displaced = False
        self._rows.clear()
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(self.ids))
        self.scroll_to(y=0, animate=False)
        self.cursor = 0
        self._prune_marks()
        self.refresh()

    def _replace(
        self,
        read_ids: Callable[[], list[int]],
        *,
        background: bool,
        changed: Collection[int] | None = None,
    ) -> None:
        """Show the ids `read_ids` returns instead of the current ones, keeping the user's place.

        The cursor stays on the same message, and that message on the same screen line: rows
        added or removed above it do not move what the user looks at; except while the top of
        the list is in view: it stays in view (the highlighted message moving down with its
        row), so that new mail shows where it arrives. When that message is no
        longer listed: after the user's own delete or move the cursor goes to the message that
        took its place (as they expect); after a change the user did not make (`background`:
        new mail, another client, the server) the list is *displaced*: nothing is highlighted
        and no key acts on a message until the user moves the cursor, so a key pressed at that
        moment never hits a message the user did not see highlighted. In the threaded view a
        conversation whose first message left is displaced too: its line now stands for a
        message the user has not seen.

        `changed`: the only messages whose rows may have changed (the others' rows read before
        are kept); None: any.
        """
        keep = self.current_message_id
        keep_thread = None
        if keep is not None and self.threaded:
            row = self.row_at(self.cursor)
            keep_thread = row.thread_id if row is not None else None
        old_index, old_top = self.cursor, round(self.scroll_offset.y)
        self.ids = read_ids()
        if changed is None:
            self._rows.clear()
        else:
            for message_id in changed:
                self._rows.pop(message_id, None)
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(self.ids))
        displaced = self.displaced
        if keep is not None and keep in self.ids:
            index = self.ids.index(keep)
        else:
            index = min(old_index, max(len(self.ids) - 1, 0))
            root = None
            if keep_thread is not None and self.place is not None:
                root = conversations.conversation_root(self.conn, self.place, keep_thread)
            if root is not None and root in self.ids:
                index = self.ids.index(root)
            displaced = displaced or (keep is not None and background)
        # An emptied list stays displaced: a folder rebuilt from the server is emptied and
        # filled in two steps, and what fills it was never highlighted by the user. The user is
        # told once there are messages not to act on (an empty list has nothing to pick).
        self.displaced = displaced
        tell = displaced and bool(self.ids) and not self._displaced_told
        top = max(0, old_top + index - old_index)
        if old_top == 0 and index < self._page():
            # With the top of the list in view, the user sees what arrives there (new mail,
            # newest first), as in mutt or Thunderbird; the highlighted message moves down with
            # its row and stays highlighted. Scrolled down, its line stays put.
            top = 0
        self.scroll_to(y=top, animate=False)
        # The same message kept through a change the user did not make is not announced again:
        # the screen shows it again itself when the message changed (a sync commits many
        # batches, and each would re-render the message view).
        self._quiet = background and keep is not None and self.ids[index : index + 1] == [keep]
        try:
            self.cursor = index
        finally:
            self._quiet = False
        self._prune_marks()
        self.refresh()
        if tell:
            self._displaced_told = True
            self.post_message(self.Displaced())

    def _ordered_ids(self, place: tuple[int, ...]) -> list[int]:
        if self.threaded:
            return self._threads.ordered_ids(place)
        self._threads.forget()
        return read.message_ids(
            self.conn, list(place), order=self.order, descending=self.descending
        )

    def _head(self, message_id: int, index: int | None = None) -> ThreadHead | None:
        """The conversation a line of the threaded list stands for when `message_id` leads it
        (None otherwise, and in the plain list); read a page at a time around `index`."""
        if not self.threaded or self.place is None:
            return None
        return self._threads.head(self.place, self.ids, message_id, index)

    def action_toggle_threads(self) -> None:
        """Switch between one line per message and one line per conversation."""
        self.threaded = not self.threaded
        self._threads.open.clear()
        if self.place is not None:
            self.load(self.place)
        self.post_message(OrderChanged())

    def action_toggle_thread(self) -> None:
        """Open the conversation under the cursor, or close the one it is in."""
        message_id = self.current_message_id
        if not self.threaded or message_id is None or self.place is None:
            return
        head_id = self._threads.members.get(message_id, message_id)
        head = self._head(head_id, self.cursor)
        if head is None or head.count < 2:
            return
        if head.thread_id in self._threads.open:
            self._threads.open.discard(head.thread_id)
        else:
            self._threads.open.add(head.thread_id)
        self.ids = self._ordered_ids(self.place)
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(self.ids))
        self.cursor = self.ids.index(head_id)

    def on_click(self, event: events.Click) -> None:
        """A click highlights the message under it; a double click opens it."""
        index = round(self.scroll_offset.y) + event.y
        if not 0 <= index < len(self.ids):
            return
        self.focus()
        self._settle()
        self.cursor = index
        if event.chain >= 2:
            self.action_select()

    def reload(self) -> None:
        """Read the shown place again after the user changed it (see `_replace`)."""
        place = self.place
        if place is not None:
            self._replace(lambda: self._ordered_ids(place), background=False)

    def update_from_store(
        self, ids: list[int] | None = None, *, changed: Collection[int] | None = None
    ) -> None:
        """Read the shown place again after a change the user did not make (new mail, flags
        from the server); for a search result list, show its new `ids` (the query run again).
        The cursor stays on the same message, or the list is displaced (see `_replace`; with
        `changed`, only those messages' rows are read again)."""
        self._folders = {info.id: info for info in read.folders(self.conn)}  # new, renamed
        place = self.place
        if place is not None:
            self._replace(lambda: self._ordered_ids(place), background=True, changed=changed)
        elif ids is not None:
            self._replace(lambda: list(ids), background=True, changed=changed)

    def select_id(self, message_id: int) -> None:
        """Put the cursor on a message (when listed): the user asked for it (undo)."""
        if message_id in self.ids:
            self.displaced = False
            self._strips.clear()
            self.cursor = self.ids.index(message_id)

    def show_ids(self, ids: list[int], *, folders: bool = False) -> None:
        """Show an arbitrary list of messages (search results), in the order given; with
        `folders`, a column names each one's folder."""
        self.place = None
        self.folder_column = folders
        self._folders = {info.id: info for info in read.folders(self.conn)}
        self._threads.forget()
        self.ids = list(ids)
        self._start_over()

    def remove_ids(self, removed: set[int]) -> None:
        """Take messages out of a search result list after the user moved or deleted them (the
        cursor goes to the message that took the place of the one it was on)."""
        self._replace(lambda: [i for i in self.ids if i not in removed], background=False)

    def forget_rows(self) -> None:
        """Drop cached rows and painted lines (after the user changed messages in the store)."""
        if self.threaded and self.place is not None:
            self.reload()  # a conversation's unread and flagged counts changed too
            return
        self._rows.clear()
        self._strips.clear()
        self.refresh()

    def forget_row(self, message_id: int) -> None:
        """Drop one message's cached row and painted line (after the user changed its flags:
        opening an unread message marks it read); in the threaded view its conversation's line
        changes too, and the list is read again as by `forget_rows`."""
        if self.threaded:
            self.forget_rows()
            return
        self._rows.pop(message_id, None)
        ids = self.ids
        for key in [key for key in self._strips if key[0] < len(ids) and ids[key[0]] == message_id]:
            del self._strips[key]
        self.refresh()

    def can_redraw_rows(self) -> bool:
        """Whether changed rows can be redrawn in place (`redraw_rows`): their flags and body
        never move them in this order. A conversation's line depends on its other messages,
        and a downloaded body may change a message's size."""
        return not self.threaded and self.order is not read.SortOrder.SIZE

    def redraw_rows(self, message_ids: Collection[int]) -> None:
        """Read these listed messages again and repaint (a change the user did not make that
        left every message where it was: flags, a body downloaded)."""
        for message_id in message_ids:
            self._rows.pop(message_id, None)
        self._strips.clear()
        self.refresh()

    @property
    def current_message_id(self) -> int | None:
        """The id of the highlighted message: None for an empty list, and while the list is
        displaced (nothing is highlighted then, see `_replace`)."""
        if not self.displaced and 0 <= self.cursor < len(self.ids):
            return self.ids[self.cursor]
        return None

    def row_at(self, index: int) -> read.MessageRow | None:
        """The store row shown at list position `index` (read a page at a time)."""
        if not 0 <= index < len(self.ids):
            return None
        message_id = self.ids[index]
        row = self._rows.get_fresh(message_id)
        if row is None:
            start = max(0, index - PAGE_ROWS // 2)
            page = [i for i in self.ids[start : start + PAGE_ROWS] if i not in self._rows]
            for fetched in read.rows(self.conn, page):
                self._rows.put(fetched.id, fetched)
            row = self._rows.get_fresh(message_id)
        return row

    # --- marks: messages marked to act on together ----------------------------------------------

    def marked_ids(self) -> list[int]:
        """The marked messages, in the list's order."""
        return self.marks.ordered(self.ids)

    def _marks_changed(self) -> None:
        self._strips.clear()
        self.refresh()
        self.post_message(self.MarksChanged(len(self.marks)))

    def _prune_marks(self) -> None:
        """Drop the marks of messages the list no longer shows (gone from the store, moved
        out of the folders shown, no longer found by the search shown)."""
        if not self.marks:
            return
        if self.place is None:
            shown: set[int] = set(self.ids)
        else:
            shown = store_marked.present(self.conn, list(self.marks), self.place)
        if self.marks.keep_only(shown):
            self._marks_changed()

    def _line_messages(self, index: int) -> list[int]:
        """The messages the line at `index` stands for: a closed conversation, all of its."""
        message_id = self.ids[index]
        head = self._head(message_id, index)
        if head is None or head.count < 2 or head.thread_id in self._threads.open or not self.place:
            return [message_id]
        members = conversations.thread_members(self.conn, head.thread_id, list(self.place))
        return members or [message_id]

    def _highlighted_line(self) -> int | None:
        """The cursor's line, or None while nothing is highlighted (the user is told)."""
        if self.current_message_id is None:
            if self.displaced:
                self.post_message(self.Displaced())
            return None
        return self.cursor

    def action_mark(self) -> None:
        """Mark the highlighted message (a closed conversation: all of it), or unmark it, and
        go to the next one."""
        index = self._highlighted_line()
        if index is None:
            return
        message_id = self.ids[index]
        if message_id in self.marks:
            self.marks.remove(self._line_messages(index))
        else:
            self.marks.add(self._line_messages(index))
            self.marks.anchor = message_id
        self._marks_changed()
        self.cursor += 1

    def action_mark_range(self) -> None:
        """Mark every message from the one marked last to the highlighted one."""
        index = self._highlighted_line()
        if index is None:
            return
        anchor = self.marks.anchor
        if anchor is None or anchor not in self.ids:
            self.notify("Mark a message first (v): this key marks from it to here.", markup=False)
            return
        start, end = sorted((self.ids.index(anchor), index))
        for line in range(start, end + 1):
            self.marks.add(self._line_messages(line))
        self.marks.anchor = self.ids[index]
        self._marks_changed()

    def action_mark_all(self) -> None:
        """Mark every message listed: the folder's (all of every conversation), or every
        message the search shown found."""
        if self.place is not None:
            self.marks.add(read.message_ids(self.conn, list(self.place)))
        else:
            self.marks.add(self.ids)
        self._marks_changed()

    def action_unmark_all(self) -> None:
        """Unmark every message."""
        if self.marks:
            self.marks.clear()
            self._marks_changed()

    # --- painting -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.size.width
        base = self._line_styles()[0]
        if index >= len(self.ids):
            return Strip.blank(width, base)
        selected = index == self.cursor and not self.displaced
        key = (index, width, selected)
        strip = self._strips.get_fresh(key)
        if strip is None:
            strip = self._paint(index, width, selected)
            self._strips.put(key, strip)
        return strip

    def _paint(self, index: int, width: int, selected: bool) -> Strip:
        base, unread_style, marks_style, date_style = self._line_styles()
        row = self.row_at(index)
        if row is None:  # deleted since the ids were read; the next StoreUpdated reloads
            return Strip.blank(width, base)
        head = self._head(row.id, index)
        closed = head is not None and head.thread_id not in self._threads.open
        part = self.get_component_rich_style
        folder = self._folders.get(row.folder_id)
        look = RowLook(
            base=base,
            unread=unread_style,
            marked=part("message-list--marked", partial=True),
            cursor=part("message-list--cursor", partial=True),
            marks=marks_style,
            date=date_style,
            selected=selected,
            is_marked=row.id in self.marks,
            date_text=short_date(row.envelope.date or row.sort_date, self.clock()),
            # A closed conversation stands for all its messages: unread or flagged mail inside
            # it must show on its line.
            thread_unread=closed and head is not None and head.unread > 0,
            thread_flagged=closed and head is not None and head.flagged > 0,
            fold=("▸ " if closed else "▾ ") if head is not None and head.count > 1 else "",
            count=head.count if head is not None else 0,
            tree=self._threads.tree.get(row.id, ""),
            size_column=self.order is read.SortOrder.SIZE and not self.threaded,
            folder=folder_label(self._folders, row.folder_id) if self.folder_column else None,
            outgoing=folder is not None and folder.role in OUTGOING_ROLES,
        )
        return row_strip(row, look, width)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyled = True  # read again before the next line is painted

    def _line_styles(self) -> tuple[Style, Style, Style, Style]:
        """The styles the lines are painted with: the list's own, and those of unread mail,
        the marks and the date. Read once after each change of styles, not per line: the
        list's own style is computed from all its ancestors'.

        Focus moving to or from the list changes the cursor's line only: after a change of
        styles the other painted lines are kept unless these styles changed too (a theme)."""
        if self._restyled or self._painted_styles is None:
            self._restyled = False
            unread, marks, date = (
                self.get_component_rich_style(name, partial=True)
                for name in ("message-list--unread", "message-list--marks", "message-list--date")
            )
            styles = (self.rich_style, unread, marks, date)
            if styles != self._painted_styles:
                self._strips.clear()
            else:
                for key in [key for key in self._strips if key[2]]:
                    del self._strips[key]
            self._painted_styles = styles
        return self._painted_styles

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.ids))
        self._strips.clear()

    # --- cursor -------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        if not self.ids:
            return
        clamped = max(0, min(new, len(self.ids) - 1))
        if clamped != new:
            self.cursor = clamped
            return
        top = round(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()
        if not self.displaced and not self._quiet:
            self.post_message(self.Highlighted(self.ids[new]))

    @property
    def displaced(self) -> bool:
        """Nothing is highlighted: the message under the cursor went away in the background, and
        no key acts on a message until the user moves the cursor (see `_replace`)."""
        return self._displaced

    @displaced.setter
    def displaced(self, value: bool) -> None:
        self._displaced = value
        if not value:
            self._displaced_told = False

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _settle(self) -> bool:
        """A cursor key ends a displaced state; True when it did (the cursor's line is then the
        first one the user picks: the message that took the place of the one that left)."""
        if not self.displaced:
            return False
        self.displaced = False
        self._strips.clear()
        return True

    def action_cursor_up(self) -> None:
        self._settle()
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 0 if self._settle() else 1

    def action_page_up(self) -> None:
        self._settle()
        self.scroll_to(y=max(0, round(self.scroll_offset.y) - self._page()), animate=False)
        self.cursor -= self._page()

    def action_page_down(self) -> None:
        self._settle()
        self.scroll_to(y=round(self.scroll_offset.y) + self._page(), animate=False)
        self.cursor += self._page()

    def action_first(self) -> None:
        self._settle()
        self.cursor = 0

    def action_last(self) -> None:
        self._settle()
        self.cursor = len(self.ids) - 1

    def action_conversation(self) -> None:
        """Read the highlighted message's whole conversation in the message view (a closed one
        opens in the list too, so that its cursor follows the reading)."""
        index = self._highlighted_line()
        row = self.row_at(index) if index is not None else None
        if row is None:
            return
        head = self._head(self._threads.members.get(row.id, row.id))
        if head is not None and head.count > 1 and head.thread_id not in self._threads.open:
            self.action_toggle_thread()
        folders = list(self.place) if self.place else [row.folder_id]
        root = head.message_id if head is not None else None
        self.post_message(ConversationWanted(conversation_of(self.conn, row, folders, root)))

    def action_select(self) -> None:
        message_id = self.current_message_id
        head = self._head(message_id, self.cursor) if message_id is not None else None
        if head is not None and head.count > 1 and head.thread_id not in self._threads.open:
            self.action_conversation()  # a closed conversation opens whole
        elif message_id is not None:
            # Straight to the screen, which opens it: bubbling up through the containers takes
            # a turn of the event loop per level, and meanwhile the screen would paint the
            # cursor's move (after `j` + Enter) alone, and the message only a frame or two later.
            self.screen.post_message(self.Selected(message_id))
        elif self.displaced:
            self.post_message(self.Displaced())
