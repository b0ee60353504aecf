"""The status bar: one short entry per account (idle, fetching n/m, error with the reason)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.messages import AccountState

_STYLES = {AccountState.IDLE: "dim", AccountState.BUSY: "bold", AccountState.ERROR: "bold red"}


class StatusBar(Static):
    """Shows the latest state of every account that has a worker."""

    def __init__(self) -> None:
        super().__init__("", id="status-bar")
        self._entries: dict[str, tuple[AccountState, str]] = {}
        self._counts = ""
        self._marked = ""
        self._problem = ""
        self._line = Text()  # what is shown

    def set_counts(self, pending_actions: int, outbox_waiting: int) -> None:
        """Show how many user actions wait for a server and how many messages wait to leave."""
        parts = []
        if pending_actions:
            parts.append(f"{pending_actions} pending")
        if outbox_waiting:
            parts.append(f"outbox {outbox_waiting}")
        self._counts = " · ".join(parts)
        self._redraw()

    def set_marked(self, count: int) -> None:
        """Show how many messages are marked in the list (none: nothing is shown)."""
        self._marked = f"{count} marked" if count else ""
        self._redraw()

    def set_problem(self, text: str) -> None:
        """Show a problem of the whole app first (e.g. "disk full: read-only"); "" clears it."""
        self._problem = text
        self._redraw()

    def set_account(self, account: str, state: AccountState, text: str) -> None:
        """Replace the entry for `account` and redraw."""
        self._entries[account] = (state, text)
        self._redraw()

    def _redraw(self) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        if self._problem:
            line.append(self._problem, style="bold red")
        if self._marked:
            if line:
                line.append("  │  ", style="dim")
            line.append(self._marked, style="bold reverse")
        if self._counts:
            if line:
                line.append("  │  ", style="dim")
            line.append(self._counts, style="bold")
        for name, (entry_state, entry_text) in sorted(self._entries.items()):
            if line:
                line.append("  │  ", style="dim")
            line.append(f"{sanitize_line(name)}: ", style="bold")
            line.append(sanitize_line(entry_text), style=_STYLES[entry_state])
        if line == self._line:
            return  # a store update sets the same counts again
        self._line = line
        # One row, the screen's width (tuimail.tcss): a new text never changes the layout, so
        # a sync's progress repaints this row only, not the whole screen.
        self.update(line, layout=False)

    def entry(self, account: str) -> tuple[AccountState, str] | None:
        """The current entry of an account (for tests and the sync-health view)."""
        return self._entries.get(account)
