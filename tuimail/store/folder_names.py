"""Folder names as the user sees them: a server's full folder name without its personal
namespace prefix, split into the levels of the folder tree."""

from __future__ import annotations

MAX_FOLDER_DEPTH = 16  # levels of the folder tree; deeper ones stay in the last level's name


def folder_path(name: str, delimiter: str | None, prefix: str = "") -> tuple[str, ...]:
    """A folder's place in the tree the user sees: its full server name without the personal
    namespace `prefix` (e.g. "INBOX." on Cyrus and Courier), split at `delimiter`. INBOX stays
    INBOX; a name outside the prefix (another namespace) keeps all of it.

    >>> folder_path("INBOX.Lists.dev", ".", "INBOX.")
    ('Lists', 'dev')
    """
    if name.upper() == "INBOX":
        return (name,)
    rest = name
    if prefix:
        head = name[: len(prefix)]
        # INBOX is case-insensitive (RFC 3501), so is an "INBOX." prefix's first part.
        same = (
            head.upper() == prefix.upper()
            if prefix.upper().startswith("INBOX")
            else (head == prefix)
        )
        if same and len(name) > len(prefix):
            rest = name[len(prefix) :]
    if not delimiter:
        return (rest,)
    parts = tuple(rest.split(delimiter))
    if not all(parts):
        return (rest,)
    if len(parts) > MAX_FOLDER_DEPTH:  # a server's name, not a reason for thousands of levels
        deepest = MAX_FOLDER_DEPTH - 1
        return (*parts[:deepest], delimiter.join(parts[deepest:]))
    return parts
