"""The command palette (ctrl+p): every action of the main screen, and every folder to go to.

Themes come from Textual's own "Change theme" command. Folder names are untrusted: they are
shown sanitized and as plain Text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from rich.text import Text
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.keys import format_key

from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.host import app_host
from tuimail.ui.widgets.folder_pane import FolderPane


class TuimailCommands(Provider):
    """Actions and folders of the main screen."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        from tuimail.ui.screens.main import MainScreen  # the palette opens over it

        screen = self.app.screen_stack[0] if self.app.screen_stack else None
        main = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), screen)
        if not isinstance(main, MainScreen):
            return
        # The keys in force: [keys] in the config replaces the defaults.
        keymap: Mapping[str, str] = app_host(self.app).config.keys
        for binding in MainScreen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action

                def run(action: str = action) -> object:
                    return main.run_action(action)

                keys = keymap.get(binding.id or "", binding.key)
                shown = ", ".join(format_key(key.strip()) for key in keys.split(","))
                yield binding.description, run, f"action ({shown})"
        pane = main.query_one(FolderPane)
        for binding in FolderPane.BINDINGS:  # on the folder highlighted in the pane
            if isinstance(binding, Binding) and binding.description:

                def on_folder(action: str = binding.action) -> object:
                    return pane.run_action(action)

                keys = keymap.get(binding.id or "", binding.key)
                shown = ", ".join(format_key(key.strip()) for key in keys.split(","))
                yield binding.description, on_folder, f"folder pane ({shown})"
        for folder in read.folders(main.conn):
            name = sanitize_line(f"{folder.account}/{folder.display_name}")

            def go(place: tuple[int, ...] = (folder.id,)) -> None:
                main.show_place(place)

            yield f"Go to {name}", go, f"{folder.total} messages, {folder.unread} unread"

    async def discover(self) -> Hits:
        for title, command, help_text in self._commands():
            yield DiscoveryHit(Text(title), command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, command, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, help=help_text)
