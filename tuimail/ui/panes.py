"""The main screen's pane layout: which panes show and how big they are, for the running app.

The folder pane's default width follows the terminal (tuimail.tcss: about a quarter of it, 16 to
28 columns); once the user widens or narrows it, it has a width in columns. The message list
takes a share of the right-hand side's height and the message view the rest. Every step is
bounded so that no pane shrinks below a usable size, from 80x24 up.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.widget import Widget

FOLDER_WIDTH_STEP = 4
FOLDER_WIDTH_MIN = 12  # "  INBOX 123" and a border still fit
FOLDER_WIDTH_MAX_SHARE = 0.4  # the message list keeps at least 60% of the screen's width
LIST_PERCENT_DEFAULT = 45
LIST_PERCENT_STEP = 10
LIST_PERCENT_MIN = 15  # with the list's min-height in tuimail.tcss: a few rows stay
LIST_PERCENT_MAX = 85

# The main screen's keys for its panes (their ids are configurable actions, see config.KEY_ACTIONS).
PANE_BINDINGS = [
    Binding("ctrl+b", "toggle_folders", "Folder pane on / off", show=False, id="folders-pane"),
    Binding("backslash", "toggle_view", "Message view on / off", show=False, id="view-pane"),
    Binding("left_square_bracket", "resize_folders(-1)", "Narrower folder pane", show=False,
            id="folders-narrower"),
    Binding("right_square_bracket", "resize_folders(1)", "Wider folder pane", show=False,
            id="folders-wider"),
    Binding("minus", "resize_view(-1)", "Smaller message view, longer list", show=False,
            id="view-smaller"),
    Binding("plus,equals_sign", "resize_view(1)", "Larger message view, shorter list", show=False,
            id="view-larger"),
]  # fmt: skip


@dataclass
class PaneLayout:
    """What the main screen shows: folder pane and message view on or off, and their sizes."""

    folders: bool = True
    view: bool = True
    folder_width: int | None = None  # None: the stylesheet's width, which follows the terminal
    list_percent: int = LIST_PERCENT_DEFAULT  # the message list's share of the right side

    def resize_folders(self, steps: int, current: int, screen_width: int) -> None:
        """Widen (steps > 0) or narrow the folder pane from its `current` width in columns."""
        widest = max(FOLDER_WIDTH_MIN, int(screen_width * FOLDER_WIDTH_MAX_SHARE))
        wanted = current + steps * FOLDER_WIDTH_STEP
        self.folder_width = min(max(wanted, FOLDER_WIDTH_MIN), widest)

    def resize_view(self, steps: int) -> None:
        """Give the message view more (steps > 0) or less of the right side's height."""
        wanted = self.list_percent - steps * LIST_PERCENT_STEP
        self.list_percent = min(max(wanted, LIST_PERCENT_MIN), LIST_PERCENT_MAX)

    def apply(self, folders: Widget, messages: Widget, view: Widget) -> None:
        """Set the widgets' display and inline sizes from this layout."""
        folders.display = self.folders
        view.display = self.view
        if self.folder_width is not None:
            folders.styles.width = self.folder_width
            # The stylesheet's bounds are for the default width; keep only a sane ceiling.
            folders.styles.min_width = FOLDER_WIDTH_MIN
            folders.styles.max_width = f"{round(FOLDER_WIDTH_MAX_SHARE * 100)}%"
        # Shares as fractions, so that both panes' min-heights hold at any terminal height.
        messages.styles.height = f"{self.list_percent}fr" if self.view else "1fr"
        view.styles.height = f"{100 - self.list_percent}fr"
