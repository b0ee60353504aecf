"""Choose one of a message's links, to open it in the browser (the message view's links key).

The links are the ones found in the shown body's text (`mail.pager.find_links`), already
sanitized; they show as plain text, numbered, and the digits 1 to 9 choose at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.browser import open_link


class LinkPicker(ModalScreen[str | None]):
    """Dismisses with the chosen link, or None on escape."""

    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel"),
        Binding("j", "move(1)", "Next link", show=False),
        Binding("k", "move(-1)", "Previous link", show=False),
        *(Binding(str(number), f"choose({number - 1})", show=False) for number in range(1, 10)),
    ]
    DEFAULT_CSS = """
    LinkPicker {
        align: center middle;
    }
    LinkPicker > Vertical {
        width: 80%;
        min-width: 40;
        max-width: 120;
        height: auto;
        max-height: 80%;
        background: $panel;
        border: round $primary;
        padding: 0 1;
    }
    LinkPicker OptionList {
        height: auto;
        max-height: 20;
    }
    """

    def __init__(self, links: Sequence[str]) -> None:
        super().__init__()
        self.links = list(links)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Open which link in the browser? ({len(self.links)}; enter opens, escape cancels)",
                markup=False,
            )
            # Links come from the message: plain text only, never markup.
            yield OptionList(
                *(
                    Option(Text(f"{number:>2}  {link}", no_wrap=True, overflow="ellipsis"))
                    for number, link in enumerate(self.links, 1)
                ),
                id="picker-links",
            )

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.highlighted = 0
        listing.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose(event.option_index)

    def action_choose(self, index: int) -> None:
        if 0 <= index < len(self.links):
            self.dismiss(self.links[index])

    def action_move(self, step: int) -> None:
        listing = self.query_one(OptionList)
        current = listing.highlighted if listing.highlighted is not None else 0
        listing.highlighted = max(0, min(len(self.links) - 1, current + step))

    def action_cancel(self) -> None:
        self.dismiss(None)


def choose_and_open(screen: Screen[None], links: Sequence[str]) -> None:
    """Offer `links` (a message's) and open the chosen one in the browser, without waiting."""
    if not links:
        screen.notify("No links in this message.", markup=False)
        return
    app = screen.app

    def failed(words: str) -> None:  # from the thread that waits for the browser
        with contextlib.suppress(RuntimeError):  # the app has ended meanwhile
            app.call_from_thread(app.notify, sanitize_line(words), severity="error", markup=False)

    def chosen(link: str | None) -> None:
        if link is None:
            return
        problem = open_link(link, on_failure=failed)
        if problem is not None:
            screen.notify(sanitize_line(problem), severity="error", markup=False)
        else:
            screen.notify(f"Opened in the browser: {sanitize_line(link)}", markup=False)

    app.push_screen(LinkPicker(links), chosen)
