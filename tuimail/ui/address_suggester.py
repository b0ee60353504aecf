"""Address completion for the composer's To/Cc/Bcc fields.

The field holds comma-separated addresses; only the part after the last comma is completed.
Textual shows a suggestion as the rest of what was typed (right arrow accepts it), so a
candidate is offered when its label (``Name <address>``) or its address starts with that part,
ignoring case. The candidates come from `tuimail.store.addresses`, loaded once in a thread
(its own store connection) the first time the user types in an address field; then from the
configured vCard books (`tuimail.mail.formats.addressbook`, read in a thread, cached by mtime),
then from the
`address_book_command`, asked off the UI thread when nothing else matches. Each address is
offered once: the store's ranking wins, then the books, then the command. A book or command
that fails is reported once (the app's notification) and left out; completion goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from textual.dom import DOMNode
from textual.suggester import Suggester

from tuimail.mail.formats.addressbook import (
    BOOKS,
    AddressBookError,
    BookLoad,
    Contact,
    run_address_book_command,
)
from tuimail.mail.sanitize import sanitize_line
from tuimail.store.addresses import KnownAddress, known_addresses
from tuimail.store.db import StoreError, open_store

log = logging.getLogger(__name__)

# A display name with one of these must be quoted to stay one address (RFC 5322 specials).
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


class Candidate(Protocol):
    """What completion needs of an address: a store address or an address book contact."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BookCommand:
    """The `address_book_command` and how to read its output."""

    command: str
    skip_first_line: bool = False
    timeout: float | None = None  # None: tuimail.mail.formats.addressbook.COMMAND_TIMEOUT


def address_label(address: Candidate) -> str:
    """``Name <address>`` (the name quoted when it needs it), or the bare address; sanitized."""
    email = sanitize_line(address.email)
    name = sanitize_line(address.name).strip()
    if not name or name.casefold() == email.casefold():
        return email
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def complete(value: str, candidates: Sequence[Candidate]) -> str | None:
    """The whole field with its last address completed from the first matching candidate."""
    typed = typed_fragment(value)
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


def typed_fragment(value: str) -> str:
    """The address being typed: what follows the field's last comma, without leading blanks."""
    return value.rpartition(",")[2].lstrip()


def merged(*sources: Sequence[Candidate]) -> list[Candidate]:
    """The sources in order, each address once (the first source's entry wins)."""
    seen: set[str] = set()
    result: list[Candidate] = []
    for source in sources:
        for candidate in source:
            key = candidate.email.casefold()
            if key not in seen:
                seen.add(key)
                result.append(candidate)
    return result


def load_from_store(data_dir: Path) -> list[KnownAddress]:
    """The store's ranked addresses, on a connection of this thread's own."""
    conn = open_store(data_dir)
    try:
        return known_addresses(conn)
    finally:
        conn.close()


class AddressSuggester(Suggester):
    """Suggests known addresses for the last entry of an address field.

    `books` and `command` default to the app's `[compose]` settings, found through the widget
    that first asks for a suggestion; `report` (default: the app's notification) is told, once
    each, what could not be used.
    """

    def __init__(
        self,
        load: Callable[[], list[KnownAddress]],
        *,
        books: Sequence[Path] | None = None,
        command: BookCommand | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        # The field's whole value is the key; matching is done here, without case.
        super().__init__(use_cache=False, case_sensitive=True)
        self._load = load
        self._books = books
        self._command = command
        self._report = report
        self._configured = books is not None
        self._candidates: list[Candidate] | None = None
        self._loading: asyncio.Task[list[KnownAddress]] | None = None
        self._books_loading: asyncio.Task[BookLoad] | None = None
        # The command's answers by the text it was asked about; a failed command is not asked
        # again by this composer (one report, not one per keystroke).
        self._answers: dict[str, asyncio.Future[list[Contact]]] = {}
        self._command_failed = False

    async def _get_suggestion(self, requester: DOMNode, value: str) -> None:
        self._configure_from(requester)
        await super()._get_suggestion(requester, value)

    def _configure_from(self, requester: DOMNode) -> None:
        """Take the book settings and the way to report problems from the requester's app."""
        if self._configured:
            return
        self._configured = True
        try:
            app = requester.app
        except Exception:  # no active app (a suggester used outside one): store only
            return
        compose = getattr(getattr(app, "config", None), "compose", None)
        if compose is not None:
            self._books = tuple(compose.address_books)
            if compose.address_book_command and self._command is None:
                self._command = BookCommand(
                    compose.address_book_command, compose.address_book_skip_first_line
                )
        if self._report is None:

            def report(text: str) -> None:
                app.notify(text, title="Address book", severity="warning", markup=False)

            self._report = report

    def _tell(self, text: str) -> None:
        log.warning("%s", text)
        if self._report is not None:
            self._report(sanitize_line(text))

    async def candidates(self) -> list[Candidate]:
        """The store's and the books' candidates, loaded on first use in threads (a store
        error means none from the store; a book that cannot be read is reported)."""
        if self._candidates is None:
            if self._loading is None:
                self._loading = asyncio.ensure_future(asyncio.to_thread(self._load))
            if self._books_loading is None and self._books:
                self._books_loading = asyncio.ensure_future(
                    asyncio.to_thread(BOOKS.load, list(self._books))
                )
            try:
                stored: list[KnownAddress] = await self._loading
            except (StoreError, sqlite3.Error, OSError) as exc:
                log.warning("address completion is off: %s", exc)
                stored = []
            contacts: tuple[Contact, ...] = ()
            if self._books_loading is not None:
                books = await self._books_loading
                contacts = books.contacts
                if books.problems and self._candidates is None:
                    self._tell("; ".join(books.problems[:3]))
            if self._candidates is None:
                self._candidates = merged(stored, contacts)
        return self._candidates

    async def command_candidates(self, typed: str) -> list[Contact]:
        """The command's answer for `typed`, asked in a thread. The answer (or the question
        still running) for the start of `typed` is reused: longer text only narrows it, so a
        fast typist starts one command per address, not one per key."""
        if self._command is None:
            return []
        for asked, answer in self._answers.items():
            if typed.casefold().startswith(asked.casefold()):
                return await answer
        if self._command_failed:
            return []
        self._answers[typed] = asyncio.ensure_future(self._ask(self._command, typed))
        return await self._answers[typed]

    async def _ask(self, command: BookCommand, typed: str) -> list[Contact]:
        kwargs = {} if command.timeout is None else {"timeout": command.timeout}
        try:
            return await asyncio.to_thread(
                run_address_book_command,
                command.command,
                typed,
                skip_first_line=command.skip_first_line,
                **kwargs,
            )
        except AddressBookError as exc:
            if not self._command_failed:
                self._command_failed = True
                self._tell(str(exc))
            return []

    async def get_suggestion(self, value: str) -> str | None:
        """The field's value with its last address completed, or None."""
        known = await self.candidates()
        found = complete(value, known)
        if found is not None:
            return found
        typed = typed_fragment(value)
        if not typed:
            return None
        return complete(value, merged(known, await self.command_candidates(typed)))
