"""Choose a folder of one account (the target of a move or a copy), typing to narrow the list."""

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


def matching(folders: Sequence[FolderInfo], typed: str) -> list[FolderInfo]:
    """The folders whose name contains every typed word, ignoring case; names that start with
    the first word come first, then the others in their order."""
    words = typed.casefold().split()
    if not words:
        return list(folders)
    found = [f for f in folders if all(w in f.name.casefold() for w in words)]
    return sorted(found, key=lambda f: not f.name.casefold().startswith(words[0]))


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

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.picker_title, markup=False)
            yield Input(placeholder="type to narrow, enter to choose", id="filter")
            yield OptionList(*self._options(), id="folders")

    def _options(self) -> list[Option]:
        # Folder names come from the server: plain text only, never markup.
        return [Option(Text(sanitize_line(f.name)), id=str(f.id)) for f in self.shown]

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        if self.shown:
            listing.highlighted = 0
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        self.shown = matching(self.folders, event.value)
        listing = self.query_one(OptionList)
        listing.clear_options()
        listing.add_options(self._options())
        if self.shown:
            listing.highlighted = 0

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        listing = self.query_one(OptionList)
        index = listing.highlighted
        if index is None or not 0 <= index < len(self.shown):
            self.notify("No folder matches.", severity="warning", markup=False)
            return
        self.dismiss(self.shown[index].id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(int(event.option.id))

    def action_move(self, step: int) -> None:
        listing = self.query_one(OptionList)
        if not self.shown:
            return
        current = listing.highlighted if listing.highlighted is not None else 0
        listing.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_cancel(self) -> None:
        self.dismiss(None)
