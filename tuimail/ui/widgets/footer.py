"""The key bar at the bottom of the screens: Textual's Footer, composed again only when the keys
it shows change.

Textual's Footer composes its keys again (a dozen widgets mounted and styled: about 10 ms)
whenever the screen's bindings may have changed, which is every focus change, twice. Moving
between the message list and the message view (Enter, Escape, Tab) does not change the keys
shown, and that work came right after the frame that shows the opened message, holding the
interpreter while that frame waited to be written to the terminal.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's Footer, which skips composing the same keys again."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._composed_for: Hashable | None = None  # the keys the footer was composed with

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Compose the keys again when the ones to show changed (Textual calls this on every
        change of the screen's bindings, focus changes included)."""
        shown = self._shown_keys(screen)
        if shown == self._composed_for:
            return
        super().bindings_changed(screen)
        # As Textual's Footer: it composes only for its own screen, and while the app has the
        # terminal's focus (it is told again when the focus comes back).
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._composed_for = shown

    def _shown_keys(self, screen: Screen[object]) -> Hashable:
        """What the footer's keys are composed from: the bindings it shows, whether each is
        enabled, its tooltip and how its key is displayed."""
        app = screen.app
        active = screen.active_bindings
        palette = active.get(app.COMMAND_PALETTE_BINDING)
        return (
            tuple(
                (binding, enabled, tooltip, app.get_key_display(binding))
                for _, binding, enabled, tooltip in active.values()
                if binding.show
            ),
            None if palette is None else palette[1:],
            self.show_command_palette,
            app.ENABLE_COMMAND_PALETTE,
        )
