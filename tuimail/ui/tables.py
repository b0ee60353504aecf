"""Helpers for the DataTable lists (outbox, drafts) whose row keys are store ids."""

from __future__ import annotations

from textual.widgets import DataTable


def selected_id(table: DataTable[object]) -> int | None:
    """The store id of the row under the cursor, or None when the table is empty."""
    if not table.row_count:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if key is None else int(key)
