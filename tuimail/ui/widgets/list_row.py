"""One line of the message list: its columns and how each is drawn.

Marks, then a size column while the list is sorted by size, the date, a folder column in a
search of all mail, the correspondent (the sender; in Sent and Drafts the first recipient, "To"),
and the subject, with a conversation's tree lines before it. Text from messages is sanitized
here (through ui/format.py) and drawn as plain segments, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tuimail.core.model import ANSWERED, DELETED, FLAGGED, FORWARDED, SEEN, FolderRole
from tuimail.mail.sanitize import sanitize_line
from tuimail.store.read import FolderInfo, MessageRow, SortOrder
from tuimail.ui.format import sender_text

MARKS_WIDTH = 5
DATE_WIDTH = 11
SIZE_WIDTH = 6
FOLDER_WIDTH = 16
# Folders whose messages the user wrote: the list shows whom they went to.
OUTGOING_ROLES = frozenset({FolderRole.SENT, FolderRole.DRAFTS})


def compact_size(size: int) -> str:
    """A size in at most five cells, as mutt's index shows it: "512", "3.4K", "120K", "1.2M"."""
    value = float(size)
    if value < 1024:
        return str(size)
    for unit in ("K", "M", "G", "T"):
        value /= 1024
        if value < 1024 or unit == "T":
            break
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


def order_words(order: SortOrder, descending: bool) -> str:
    """A list's order in words for the title: "by date, newest first", "by sender, Z→A"."""
    if order in (SortOrder.SENDER, SortOrder.SUBJECT):
        way = "Z→A" if descending else "A→Z"
    elif order is SortOrder.SIZE:
        way = "largest first" if descending else "smallest first"
    else:
        way = "newest first" if descending else "oldest first"
    return f"by {order.value}, {way}"


def folder_label(folders: dict[int, FolderInfo], folder_id: int) -> str:
    """The folder column's text: the folder's name, with its account's when there are several
    accounts ("work/INBOX"), sanitized."""
    info = folders.get(folder_id)
    if info is None:
        return "?"
    several = len({other.account_id for other in folders.values()}) > 1
    return sanitize_line(f"{info.account}/{info.display_name}" if several else info.display_name)


def recipients_text(row: MessageRow) -> str:
    """Whom a message the user wrote went to: "To: first name", "+N" for the others."""
    env = row.envelope
    recipients = (*env.to, *env.cc, *env.bcc)
    if not recipients:
        return "To: (no recipient)"
    first = sanitize_line(recipients[0].name or recipients[0].email) or "(no recipient)"
    more = f" +{len(recipients) - 1}" if len(recipients) > 1 else ""
    return f"To: {first}{more}"


@dataclass(frozen=True, slots=True)
class RowLook:
    """What a line shows besides its message: the styles, and the state of its conversation."""

    base: Style
    unread: Style
    marked: Style
    cursor: Style
    marks: Style
    date: Style
    selected: bool
    is_marked: bool
    date_text: str
    thread_unread: bool = False  # a closed conversation with unread mail inside
    thread_flagged: bool = False
    fold: str = ""  # "▸ " or "▾ " before a conversation's subject, with its count after
    count: int = 0
    tree: str = ""  # the tree lines before an open conversation's reply
    size_column: bool = False
    folder: str | None = None  # the folder column's text, in a search of all mail
    outgoing: bool = False  # the folder holds the user's own messages: To, not From


def row_strip(row: MessageRow, look: RowLook, width: int) -> Strip:
    """The list line for `row`, exactly `width` cells wide."""
    unread = SEEN not in row.flags or look.thread_unread
    flagged = FLAGGED in row.flags or look.thread_flagged
    # Marked deleted on the server by another mail program, not yet expunged: on its way
    # out, so not shown as an ordinary message (struck through, and a ✗ mark).
    deleted = DELETED in row.flags
    style = look.base
    if unread:
        style += look.unread
    if look.is_marked:
        style += look.marked
    if deleted:
        style += Style(strike=True, dim=True)
    if look.selected:
        style += look.cursor
    marks_style = style + look.marks
    date_style = style + look.date
    marks = ("✗" if deleted else "●" if unread else " ") + ("★" if flagged else " ")
    # Replied to (↩) or, if not, forwarded (→): set once the answer has been sent.
    marks += "↩" if ANSWERED in row.flags else "→" if FORWARDED in row.flags else " "
    marks += "@" if row.envelope.has_attachments else " "
    marks += "✓" if look.is_marked else ""  # in the column's last cell, blank on other lines
    segments = [*_cell(marks, MARKS_WIDTH, marks_style)]
    used = MARKS_WIDTH + DATE_WIDTH + 2
    if look.size_column:
        segments += [*_cell(compact_size(row.envelope.size).rjust(5), SIZE_WIDTH, date_style)]
        used += SIZE_WIDTH
    segments += _cell(look.date_text, DATE_WIDTH, date_style)
    if look.folder is not None:
        segments += _cell(look.folder, FOLDER_WIDTH, date_style)
        used += FOLDER_WIDTH
    who = recipients_text(row) if look.outgoing else sender_text(row.envelope.from_)
    who_width = max(10, min(28, width // 4))
    subject = sanitize_line(row.envelope.subject) or "(no subject)"
    if look.fold:
        subject = f"{look.fold}{subject} ({look.count})"
    subject = look.tree + subject
    segments += [
        *_cell(who, who_width, style),
        Segment("  ", style),
        *_cell(subject, max(0, width - used - who_width), style),
    ]
    return Strip(segments).adjust_cell_length(width, style)


def _cell(text: str, width: int, style: Style) -> list[Segment]:
    """`text` cut or padded to exactly `width` cells (wide characters count as two)."""
    if width <= 0:
        return []
    cell = Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")
    cell.truncate(width, overflow="ellipsis", pad=True)
    return [Segment(cell.plain, style)]
