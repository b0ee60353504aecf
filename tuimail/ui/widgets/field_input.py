"""A one-line field for forms that are typed into (the composer's To, Cc, Bcc and Subject).

Textual's Input selects all its text when it gets the focus, so the next key replaces a field
that was already filled in (a reply's To, a subject), and it has no undo. This one keeps the
text and puts the cursor at its end on focus, and undoes (ctrl+z) and redoes (ctrl+y) like the
body's TextArea: a run of typed characters is one step, ended by a space or any other edit.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.events import Focus, Mount
from textual.widgets import Input

UNDO_LIMIT = 200  # steps kept per field


class FieldInput(Input):
    """An Input that keeps its text on focus and has undo/redo."""

    BINDINGS = [
        Binding("ctrl+z,super+z", "undo", "Undo", show=False),
        Binding("ctrl+y,super+y,ctrl+shift+z", "redo", "Redo", show=False),
    ]

    def __init__(self, value: str | None = None, **kwargs: Any) -> None:
        # Set first: Input's constructor sets the value, which calls watch_value.
        self._undo: list[str] = []
        self._redo: list[str] = []
        self._typing = False  # the last change typed one character: the next one may join it
        self._restoring = False
        kwargs.setdefault("select_on_focus", False)
        super().__init__(value, **kwargs)

    # Textual calls the handlers of every class in the MRO (this one's first): no super() calls.
    def _on_mount(self, event: Mount) -> None:
        # The text it was given is where undo stops.
        self._undo.clear()
        self._redo.clear()

    def _on_focus(self, event: Focus) -> None:
        if not event.from_app_focus:
            self.cursor_position = len(self.value)

    def watch_value(self, old: str, new: str) -> None:
        """Record the text before each change (synchronously, so no key can come between)."""
        if self._restoring or old == new:
            return
        typed = len(new) == len(old) + 1 and self._one_insertion(old, new)
        added = self._inserted_char(old, new) if typed else ""
        if not (typed and self._typing and not added.isspace()):
            self._undo.append(old)
            del self._undo[:-UNDO_LIMIT]
        self._typing = typed and not added.isspace()
        self._redo.clear()

    @staticmethod
    def _one_insertion(old: str, new: str) -> bool:
        at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
        return new[:at] + new[at + 1 :] == old

    @staticmethod
    def _inserted_char(old: str, new: str) -> str:
        at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
        return new[at]

    def _restore(self, text: str) -> None:
        """Put `text` back, the cursor at the end of what changed (as editors do)."""
        current = self.value
        prefix = 0
        while prefix < min(len(text), len(current)) and text[prefix] == current[prefix]:
            prefix += 1
        suffix = 0
        while (
            suffix < min(len(text), len(current)) - prefix
            and text[-1 - suffix] == current[-1 - suffix]
        ):
            suffix += 1
        self._restoring = True
        try:
            self.value = text
        finally:
            self._restoring = False
        self.cursor_position = len(text) - suffix
        self._typing = False

    def action_undo(self) -> None:
        """Undo the last edit (a typed word counts as one)."""
        if self._undo:
            self._redo.append(self.value)
            self._restore(self._undo.pop())

    def action_redo(self) -> None:
        """Redo what undo took back."""
        if self._redo:
            self._undo.append(self.value)
            self._restore(self._redo.pop())
