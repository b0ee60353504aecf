"""Address completion for the composer's To/Cc/Bcc fields.

The field holds comma-separated addresses; only the part after the last comma is completed.
Textual shows a suggestion as the rest of what was typed (right arrow accepts it), so a
candidate is offered when its label (``Name <address>``) or its address starts with that part,
ignoring case. The candidates come from `tuimail.store.addresses`, loaded once in a thread
(its own store connection) the first time the user types in an address field.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from textual.suggester import Suggester

from tuimail.mail.sanitize import sanitize_line
from tuimail.store.addresses import KnownAddress, known_addresses
from tuimail.store.db import StoreError, open_store

log = logging.getLogger(__name__)

# A display name with one of these must be quoted to stay one address (RFC 5322 specials).
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def address_label(address: KnownAddress) -> str:
    """``Name <address>`` (the name quoted when it needs it), or the bare address; sanitized."""
    email = sanitize_line(address.email)
    name = sanitize_line(address.name).strip()
    if not name or name.casefold() == email.casefold():
        return email
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def complete(value: str, candidates: Sequence[KnownAddress]) -> str | None:
    """The whole field with its last address completed from the first matching candidate."""
    fragment = value.rpartition(",")[2]
    typed = fragment.lstrip()
    if not typed:
        return None
    prefix = value[: len(value) - len(typed)]
    wanted = typed.casefold()
    for candidate in candidates:
        label = address_label(candidate)
        for text in (label, sanitize_line(candidate.email)):
            if text.casefold().startswith(wanted) and len(text) > len(typed):
                return prefix + text
    return None


def load_from_store(data_dir: Path) -> list[KnownAddress]:
    """The store's ranked addresses, on a connection of this thread's own."""
    conn = open_store(data_dir)
    try:
        return known_addresses(conn)
    finally:
        conn.close()


class AddressSuggester(Suggester):
    """Suggests known addresses for the last entry of an address field."""

    def __init__(self, load: Callable[[], list[KnownAddress]]) -> None:
        # The field's whole value is the key; matching is done here, without case.
        super().__init__(use_cache=False, case_sensitive=True)
        self._load = load
        self._candidates: list[KnownAddress] | None = None
        self._loading: asyncio.Task[list[KnownAddress]] | None = None

    async def candidates(self) -> list[KnownAddress]:
        """The candidates, loaded on first use (in a thread; a store error means none)."""
        if self._candidates is None:
            if self._loading is None:
                self._loading = asyncio.ensure_future(asyncio.to_thread(self._load))
            try:
                self._candidates = await self._loading
            except (StoreError, sqlite3.Error, OSError) as exc:
                log.warning("address completion is off: %s", exc)
                self._candidates = []
        return self._candidates

    async def get_suggestion(self, value: str) -> str | None:
        """The field's value with its last address completed, or None."""
        return complete(value, await self.candidates())
