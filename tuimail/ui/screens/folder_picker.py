"""Choose a folder of one account (the target of a move or a copy), typing to narrow the list.

The folders show as the tree of the folder pane (the server's personal namespace prefix left
out); typed words narrow it to a flat list of the matching folders' paths.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tuimail.mail.sanitize import sanitize_line
from tuimail.store.read import FolderInfo
from tuimail.ui.folder_tree import folder_tree


def matching(folders: Sequence[FolderInfo], typed: str) -> list[FolderInfo]:
    """The folders whose name contains every typed word, ignoring case; names that start with
    the first word come first, then the others in their order."""
    words = typed.casefold().split()
    if not words:
        return list(folders)
    found = [f for f in folders if all(w in f.display_name.casefold() for w in words)]
    return sorted(found, key=lambda f: not f.display_name.casefold().startswith(words[0]))


class FolderPicker(ModalScreen[int | None]):
    """Dismisses with the chosen folder's id, or None on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Next folder", show=False),
        Binding("up", "move(-1)", "Previous folder", show=False),
    ]
    DEFAULT_CSS = """
    FolderPicker {
        align: center middle;
    }
    FolderPicker > Vertical {
        width: 60%;
        min-width: 40;
        max-width: 80;
        height: auto;
        max-height: 80%;
        background: $panel;
        border: round $primary;
        padding: 0 1;
    }
    FolderPicker OptionList {
        height: auto;
        max-height: 20;
    }
    """

    def __init__(self, title: str, folders: Sequence[FolderInfo]) -> None:
        super().__init__()
        self.picker_title = title
        self.folders = list(folders)
        self.shown: list[FolderInfo] = list(folders)
        # What each line of the list is: a folder, or None for a level of the tree that is not.
        self.rows: list[FolderInfo | None] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.picker_title, markup=False)
            yield Input(placeholder="type to narrow, enter to choose", id="filter")
            # Not "#folders": the folder pane's rule (a quarter of the screen) would size it.
            yield OptionList(*self._options(), id="picker-folders")

    def _options(self, typed: str = "") -> list[Option]:
        # Folder names come from the server: plain text only, never markup.
        if typed.strip():
            self.rows = list(self.shown)
            return [Option(Text(sanitize_line(f.display_name)), id=str(f.id)) for f in self.shown]
        entries = folder_tree(self.shown)
        self.rows = [entry.folder for entry in entries]
        return [
            Option(
                Text(
                    "  " * entry.depth + sanitize_line(entry.label),
                    style="" if entry.folder else "dim",
                ),
                id=str(entry.folder.id) if entry.folder else None,
                disabled=entry.folder is None,
            )
            for entry in entries
        ]

    def _first_folder(self, listing: OptionList) -> None:
        for index, row in enumerate(self.rows):
            if row is not None:
                listing.highlighted = index
                return

    def on_mount(self) -> None:
        self._first_folder(self.query_one(OptionList))
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        self.shown = matching(self.folders, event.value)
        listing = self.query_one(OptionList)
        listing.clear_options()
        listing.add_options(self._options(event.value))
        self._first_folder(listing)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        listing = self.query_one(OptionList)
        index = listing.highlighted
        chosen = self.rows[index] if index is not None and 0 <= index < len(self.rows) else None
        if chosen is None:
            self.notify("No folder matches.", severity="warning", markup=False)
            return
        self.dismiss(chosen.id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(int(event.option.id))

    def action_move(self, step: int) -> None:
        """Highlight the next (or previous) folder, passing over the tree's other levels."""
        listing = self.query_one(OptionList)
        index = listing.highlighted if listing.highlighted is not None else -step
        index += step
        while 0 <= index < len(self.rows):
            if self.rows[index] is not None:
                listing.highlighted = index
                return
            index += step

    def action_cancel(self) -> None:
        self.dismiss(None)
