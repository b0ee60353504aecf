"""The output of a command a message was piped to (`|`): shown while it runs (escape or `c`
stops it), then its output and exit status, scrollable.

The output is the command's, not tuimail's: it is shown as plain, sanitized text
(`PipeOutcome.text`), never as markup; the status line above it is built by tuimail.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.pipe import PipeJob, PipeOutcome


class PipeOutputScreen(Screen[None]):
    """What a piped command printed; escape or q closes it (stopping a command still running)."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("c", "cancel", "Stop the command"),
        Binding("j,down", "scroll(1)", "Line down", show=False),
        Binding("k,up", "scroll(-1)", "Line up", show=False),
        Binding("space,pagedown", "page(1)", "Page down", show=False),
        Binding("b,pageup", "page(-1)", "Page up", show=False),
    ]
    DEFAULT_CSS = """
    PipeOutputScreen #pipe-status {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    PipeOutputScreen #pipe-output {
        padding: 0 1;
    }
    """

    def __init__(self, command: str, job: PipeJob) -> None:
        super().__init__()
        self.command = command  # as the user typed it
        self.job = job
        self.outcome: PipeOutcome | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="pipe-status")
        with VerticalScroll(id="pipe-scroll"):
            yield Static(id="pipe-output")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"| {sanitize_line(self.command)}"
        self._status(f"Running, with {self.job.label} on its input… (c or escape stops it)")

    def _status(self, words: str) -> None:
        text = Text.assemble(("| ", "bold"), sanitize_line(self.command), "\n", words)
        self.query_one("#pipe-status", Static).update(text)

    def finished(self, outcome: PipeOutcome) -> None:
        """The command ended: show its output and how it ended."""
        self.outcome = outcome
        if not self.is_mounted:
            return
        self._status(outcome.summary(self.job.timeout))
        shown = outcome.text()
        self.query_one("#pipe-output", Static).update(
            Text(shown) if shown else Text("(no output)", style="italic")
        )

    def action_cancel(self) -> None:
        """Stop the command (its output so far is shown)."""
        if self.outcome is None:
            self.job.cancel.set()
            self._status("Stopping the command…")

    def action_close(self) -> None:
        self.job.cancel.set()  # a command still running is stopped; one that ended: nothing
        self.dismiss()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#pipe-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_page(self, pages: int) -> None:
        scroll = self.query_one("#pipe-scroll", VerticalScroll)
        scroll.scroll_relative(y=pages * max(1, scroll.size.height - 1), animate=False)
