"""The message view's body: one `Text`, so it can be selected and copied like any text. HTML
parts are laid out at the widget's width (`ui.html_body`) and laid out again when it changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual import events
from textual.timer import Timer
from textual.visual import VisualType
from textual.widgets import Static

from tuimail.mail.html_model import HtmlDocument
from tuimail.ui.html_body import pieces_text

FALLBACK_WIDTH = 80  # columns, before the widget has been laid out once
RESIZE_SETTLE = 0.1  # seconds without a resize before the HTML is laid out again


class BodyView(Static):
    """A Static whose content may be pieces of a message (plain text and HTML documents)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pieces: list[str | HtmlDocument] = []
        self._variables: dict[str, str] = {}
        self._width = 0  # the width the HTML was laid out at (0: nothing laid out)
        self._settle: Timer | None = None
        self._shown = False  # whether the pieces are what the widget shows

    def show_pieces(
        self, pieces: Sequence[str | HtmlDocument], variables: Mapping[str, str]
    ) -> None:
        """Show the sanitized pieces of a message's body, HTML laid out at this width; nothing
        is done when they show already (an update lays out the view again and repaints it)."""
        pieces, variables = list(pieces), dict(variables)
        html = any(isinstance(piece, HtmlDocument) for piece in pieces)
        if (
            self._shown
            and variables == self._variables
            and _same_pieces(pieces, self._pieces)
            and (not html or self._width == (self.content_size.width or FALLBACK_WIDTH))
        ):
            return
        self._pieces, self._variables = pieces, variables
        self._lay_out()

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        """Show `content` instead (a notice): nothing is laid out again on a resize."""
        self._pieces, self._width, self._shown = [], 0, False
        super().update(content, layout=layout)

    def on_resize(self, event: events.Resize) -> None:
        # Once the size settles: a resize passes through widths no one sees (a scroll bar
        # coming or going), and laying out a long message costs up to a second.
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(RESIZE_SETTLE, self._lay_out_if_resized)

    def _lay_out_if_resized(self) -> None:
        self._settle = None
        if self._width and self.content_size.width not in (0, self._width):
            self._lay_out()

    @property
    def laid_out_width(self) -> int:
        """The width the HTML is laid out at (0: nothing to lay out)."""
        return self._width

    def _lay_out(self) -> None:
        width = self.content_size.width or FALLBACK_WIDTH
        html = any(isinstance(piece, HtmlDocument) for piece in self._pieces)
        text = pieces_text(self._pieces, self._variables, self.app.console, width)
        super().update(text)
        self._width = width if html else 0  # plain text is wrapped by the widget itself
        self._shown = True


def _same_pieces(new: Sequence[str | HtmlDocument], shown: Sequence[str | HtmlDocument]) -> bool:
    """Whether `new` are the pieces shown: the same texts, and the very same HTML documents (a
    message's are kept while it is shown again)."""
    return len(new) == len(shown) and all(
        a == b if isinstance(a, str) else a is b for a, b in zip(new, shown, strict=True)
    )
