"""The message view's pager: the keys that read a message the way mutt's and aerc's pagers do.

`Pager` is the scrolling pane the message view (widgets/message_view.py) is made of. It owns
the keys used while the view has the focus: lines and pages, top and bottom, the next and the
previous message (carried out by the screen, whose list cursor follows), the full header
section on or off, long quotes folded or shown (`mail.pager.fold_quotes`), and the body's
links (the screen offers them in screens/link_picker.py, to open in the browser). Its text is
wrapped at `[ui] wrap_width` columns, or the pane's width when that is narrower.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key

from tuimail.mail.html_model import HtmlDocument
from tuimail.mail.pager import find_links, fold_quotes, header_fields
from tuimail.ui.host import app_host

DEFAULT_WRAP_WIDTH = 90


class Pager(VerticalScroll):
    """A scrolling pane read with pager keys; the message view shows a message in it."""

    BINDINGS = [
        Binding("j,down", "line(1)", "Line down", show=False, id="view-line-down"),
        Binding("k,up", "line(-1)", "Line up", show=False, id="view-line-up"),
        Binding("space,pagedown", "page(1)", "Page down", show=False, id="view-page-down"),
        Binding("b,pageup", "page(-1)", "Page up", show=False, id="view-page-up"),
        Binding("g,home", "top", "Top of the message", show=False, id="view-top"),
        Binding("G,end", "bottom", "End of the message", show=False, id="view-bottom"),
        Binding("J", "screen.next_message(1)", "Next message", show=False, id="view-next"),
        Binding("K", "screen.next_message(-1)", "Previous message", show=False, id="view-previous"),
        Binding("h", "toggle_headers", "Full headers on / off", show=False, id="view-headers"),
        Binding("T", "toggle_quotes", "Show / fold long quotes", show=False, id="view-quotes"),
        Binding("L", "screen.open_link", "Open a link in the browser", show=False, id="view-links"),
        Binding("q", "screen.to_list", "Back to the list", show=False, id="view-close"),
        # The list's thread keys: said to be the list's rather than silently doing nothing.
        Binding("t,z", "list_only", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.full_headers = False  # the whole header section instead of From, To, Date...
        self.quotes_shown = False  # long quotes unfolded (again folded for the next message)
        self.links: list[str] = []  # the shown body's links, for the links key

    def on_mount(self) -> None:
        # Wrapped at the configured width, or the pane's when narrower: a wide terminal never
        # reflows a paragraph into one 170-column line.
        width = app_host(self.app).config.ui.wrap_width
        for child in self.children:
            child.styles.max_width = width

    def _key_of(self, binding_id: str, default: str) -> str:
        """The first key of a binding, as the config has it, for words on the screen."""
        keys = app_host(self.app).config.keys.get(binding_id, default)
        return format_key(keys.split(",")[0].strip())

    # --- what the message view asks of its pager ----------------------------------------------

    def new_page(self) -> None:
        """Another message is shown: its long quotes start folded, its links are its own."""
        self.quotes_shown = False
        self.links = []

    def page_text(self, body: str) -> str:
        """A (sanitized) plain body as the pager shows it: its links noted, long quotes folded
        unless shown (the conversation reader's messages)."""
        self.links = find_links(body)
        if self.quotes_shown:
            return body
        return fold_quotes(body, self._key_of("view-quotes", "T"))

    def page_pieces(self, pieces: Sequence[str | HtmlDocument]) -> list[str | HtmlDocument]:
        """A body's pieces (plain text, HTML documents) as the pager shows them: the links of
        all of them noted (an HTML part's numbered links with the ones in its text), long quotes
        of the plain parts folded unless shown."""
        key = self._key_of("view-quotes", "T")
        links: list[str] = []
        shown: list[str | HtmlDocument] = []
        for piece in pieces:
            if isinstance(piece, str):
                links.extend(find_links(piece))
                shown.append(piece if self.quotes_shown else fold_quotes(piece, key))
            else:  # its plain text lists its numbered links
                links.extend(find_links(piece.plain_text()))
                shown.append(piece)
        self.links = find_links("\n".join(links))
        return shown

    def full_header_text(self, raw: bytes) -> Text:
        """Every field of the message's header section, names in bold."""
        text = Text()
        for name, value in header_fields(raw):
            text.append(f"{name}: ", style="bold")
            text.append(value + "\n")
        text.rstrip()
        return text

    def repaint(self) -> None:
        """Show the same message again (after a pager setting changed); the view does it."""

    # --- keys ------------------------------------------------------------------------------------

    def action_line(self, step: int) -> None:
        self.scroll_relative(y=step, animate=False)

    def action_page(self, step: int) -> None:
        if step > 0:
            self.scroll_page_down(animate=False)
        else:
            self.scroll_page_up(animate=False)

    def action_top(self) -> None:
        self.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.scroll_end(animate=False)

    def action_toggle_headers(self) -> None:
        self.full_headers = not self.full_headers
        self.repaint()

    def action_toggle_quotes(self) -> None:
        self.quotes_shown = not self.quotes_shown
        self.repaint()

    def action_list_only(self) -> None:
        threads = self._key_of("threads", "t")
        fold = self._key_of("thread-fold", "z")
        back = self._key_of("back", "escape")
        self.notify(
            f"{threads} (threads on / off) and {fold} (open / close a thread) work in the "
            f"message list: {back} goes back to it.",
            markup=False,
        )
