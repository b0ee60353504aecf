"""The search line: where the user types a search, in the status bar's row while it is open.

It says what is searched ("Search demo/INBOX: ") and posts `Submitted` with the words when
enter is pressed; the screen runs the search, and opens and closes the line (`open`, `close`).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static

HINT = '(words, "a phrase", from:, subject:, body:, word*)'


class SearchLine(Horizontal):
    """A label saying what is searched and the input (id "search-line" in tuimail.tcss)."""

    class Submitted(Message):
        """Enter in the search line: search for `query` (stripped; "" when nothing typed)."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scope = ""  # what is searched, in words ("all mail", "demo/INBOX")
        self.everywhere = False  # every folder (else the place shown)

    def compose(self) -> ComposeResult:
        yield Static(id="search-label")
        yield Input(id="search-bar")

    @property
    def is_open(self) -> bool:
        """Whether the line is shown."""
        return self.display

    def open(self, scope: str, *, everywhere: bool) -> Input:
        """Show the line, empty, for a search of `scope`; the input to focus is returned."""
        self.scope = scope
        self.everywhere = everywhere
        self.query_one("#search-label", Static).update(Text(f"Search {scope}: ", style="bold"))
        bar = self.query_one("#search-bar", Input)
        bar.placeholder = HINT
        bar.value = ""
        self.display = True
        return bar

    def close(self) -> None:
        """Hide the line (what was typed is gone with the next `open`)."""
        self.display = False

    @on(Input.Submitted, "#search-bar")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(event.value.strip()))
