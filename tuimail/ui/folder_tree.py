"""An account's folders as the tree the user sees (the folder pane, the move and copy picker).

Each folder's `path` (store/folder_names.py) is its name without the server's personal namespace
prefix, split at the delimiter: `INBOX.Lists.dev` on Cyrus is Lists > dev. A level above a folder
that is not a folder itself (a `\\Noselect` name on the server, or one it does not list) is shown
once, as a node that cannot be chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuimail.store.read import FolderInfo


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One line of the tree: its depth (0 at the top), its label (the last part of the path)
    and its folder (None for a level that is not a folder)."""

    depth: int
    label: str
    folder: FolderInfo | None


def folder_tree(folders: Sequence[FolderInfo]) -> list[TreeEntry]:
    """One account's folders in tree order: INBOX (and what is under it) first, then by path,
    ignoring case, each folder after the levels above it."""

    def path(folder: FolderInfo) -> tuple[str, ...]:
        return folder.path or (folder.name,)

    ordered = sorted(
        folders,
        key=lambda f: (path(f)[0].upper() != "INBOX", [part.casefold() for part in path(f)]),
    )
    entries: list[TreeEntry] = []
    shown: set[tuple[str, ...]] = set()
    for folder in ordered:
        parts = path(folder)
        for depth in range(len(parts) - 1):
            level = parts[: depth + 1]
            if level not in shown:
                shown.add(level)
                entries.append(TreeEntry(depth, level[-1], None))
        shown.add(parts)
        entries.append(TreeEntry(len(parts) - 1, parts[-1], folder))
    return entries
