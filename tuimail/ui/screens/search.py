"""The search prompt: one line of input; the main screen runs the query on the store."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class SearchPrompt(ModalScreen[str | None]):
    """Asks for a search; dismisses with the text, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SearchPrompt {
        align: center bottom;
    }
    SearchPrompt > Vertical {
        width: 100%;
        height: auto;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f'Search {self.scope} (words, "a phrase", from:, subject:, body:, word*)',
                markup=False,
            )
            yield Input(placeholder="search", id="query")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
