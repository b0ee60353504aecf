"""The question a composer with text in it asks when it is closed: keep as a draft, discard,
or go on writing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class CloseChoice(ModalScreen[str]):
    """Closing a composer with text in it: keep as a draft (k), discard (d) or go on (escape)."""

    BINDINGS = [
        Binding("k,enter", "choose('keep')", "Keep as draft"),
        Binding("d", "choose('discard')", "Discard"),
        Binding("escape,c", "choose('cancel')", "Go on writing"),
    ]
    DEFAULT_CSS = """
    CloseChoice {
        align: center middle;
    }
    CloseChoice > Vertical {
        width: 64;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 1 2;
    }
    CloseChoice Horizontal {
        height: auto;
        margin-top: 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Close this message?", markup=False)
            with Horizontal():
                yield Button("Keep as draft (k)", id="keep", variant="primary")
                yield Button("Discard (d)", id="discard", variant="warning")
                yield Button("Go on writing (esc)", id="cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")
