"""Address completion: the last entry of a field, by label or address, sanitized, quoted."""

from __future__ import annotations

import asyncio

from tuimail.store.addresses import KnownAddress
from tuimail.ui.address_suggester import AddressSuggester, address_label, complete


def known(name: str, email: str) -> KnownAddress:
    return KnownAddress(name=name, email=email, written_to=1, received_from=0, last_seen=0)


CANDIDATES = [
    known("Carol Smith", "carol@example.org"),
    known("", "cathy@example.org"),
    known("Smith, Dan", "dan@example.org"),
]


def test_the_last_entry_is_completed_by_name_or_address() -> None:
    assert complete("ca", CANDIDATES) == "Carol Smith <carol@example.org>"
    assert complete("cat", CANDIDATES) == "cathy@example.org"
    assert complete("carol@", CANDIDATES) == "carol@example.org"
    assert complete("x@y.org, CAR", CANDIDATES) == "x@y.org, Carol Smith <carol@example.org>"
    assert complete('"Smith', CANDIDATES) == '"Smith, Dan" <dan@example.org>'


def test_nothing_is_offered_for_an_empty_or_unknown_entry() -> None:
    assert complete("", CANDIDATES) is None
    assert complete("x@y.org, ", CANDIDATES) is None
    assert complete("zed", CANDIDATES) is None
    assert complete("cathy@example.org", CANDIDATES) is None, "already complete"


def test_labels_are_sanitized_and_quoted_when_needed() -> None:
    assert address_label(known("Ann", "ann@x.org")) == "Ann <ann@x.org>"
    assert address_label(known("ann@x.org", "ann@x.org")) == "ann@x.org"
    assert address_label(known('A "B" C', "a@x.org")) == '"A \\"B\\" C" <a@x.org>'
    hostile = address_label(known("Eve\x1b]0;owned\x07\u202e", "eve@x.org"))
    assert "\x1b" not in hostile and "\x07" not in hostile and "\u202e" not in hostile
    assert hostile.endswith("<eve@x.org>")


def test_the_suggester_loads_once_and_survives_a_failing_store() -> None:
    calls: list[int] = []

    def load() -> list[KnownAddress]:
        calls.append(1)
        return CANDIDATES

    async def run() -> tuple[str | None, str | None]:
        suggester = AddressSuggester(load)
        return await suggester.get_suggestion("ca"), await suggester.get_suggestion("da")

    assert asyncio.run(run()) == ("Carol Smith <carol@example.org>", "dan@example.org")
    assert calls == [1]

    def broken() -> list[KnownAddress]:
        raise OSError("the store is gone")

    assert asyncio.run(AddressSuggester(broken).get_suggestion("ca")) is None
