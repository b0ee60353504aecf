"""The help screen: every key binding of the main screen, the message list and the app, then
those of the message view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_rows(
    *sources: list[BindingType], keymap: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(keys, description) for every binding that has a description, in order, without repeats;
    `keymap` (binding id -> keys, from the config) replaces the defaults."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for bindings in sources:
        for binding in bindings:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            key_string = (keymap or {}).get(binding.id or "", binding.key)
            keys = ", ".join(format_key(key.strip()) for key in key_string.split(","))
            if keys in seen:
                continue
            seen.add(keys)
            rows.append((keys, binding.description))
    return rows


class HelpScreen(ModalScreen[None]):
    """Lists the keys; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 64;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        rows: list[tuple[str, str]],
        sections: Sequence[tuple[str, list[tuple[str, str]]]] = (),
    ) -> None:
        super().__init__()
        self.rows = rows
        self.sections = list(sections)  # (title, rows) shown after the rows, in order

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Keys", classes="title")
            yield Static(_table(self.rows))
            for title, rows in self.sections:
                yield Static(f"\n{title}", classes="title", markup=False)
                yield Static(_table(rows))


def _table(rows: list[tuple[str, str]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for keys, description in rows:
        table.add_row(keys, description)
    return table
