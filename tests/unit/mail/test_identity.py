"""Which identity answers a message (To, Cc, Delivered-To, X-Original-To; any case; +tags),
and signatures at the end of a body, switched only while unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuimail.mail.identity import (
    SignatureError,
    pick_identity,
    read_signature,
    received_addresses,
    signature_block,
    swap_signature,
    with_signature,
)

MINE = ["me@home.example", "alice@work.example", "lists@home.example"]


def _raw(*fields: str) -> bytes:
    return ("\r\n".join([*fields, "Subject: x", "", "body", ""])).encode()


def test_received_addresses_are_to_then_cc_then_delivered_to_then_x_original_to() -> None:
    raw = _raw(
        "X-Original-To: d@example.org",
        "Delivered-To: c@example.org",
        "Cc: B <b@example.org>",
        "To: A <a@example.org>,\r\n Other <o@example.org>",
    )
    assert received_addresses(raw) == [
        "a@example.org",
        "o@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
    ]


def test_the_first_of_my_addresses_in_to_wins_in_any_case() -> None:
    raw = _raw("To: Friend <friend@example.org>, Alice <ALICE@Work.Example>", "Cc: me@home.example")
    assert pick_identity(received_addresses(raw), MINE) == 1


def test_cc_counts_before_delivered_to() -> None:
    raw = _raw("Delivered-To: me@home.example", "To: list@example.org", "Cc: lists@home.example")
    assert pick_identity(received_addresses(raw), MINE) == 2


def test_delivered_to_names_the_identity_of_a_list_message() -> None:
    raw = _raw("To: dev@lists.example.org", "Delivered-To: lists@home.example")
    assert pick_identity(received_addresses(raw), MINE) == 2


def test_a_plus_tag_counts_as_the_address_without_it_only_when_nothing_matches_exactly() -> None:
    assert pick_identity(["me+shop@home.example"], MINE) == 0
    assert pick_identity(["me+shop@home.example", "alice@work.example"], MINE) == 1
    assert pick_identity(["me+shop@other.example"], MINE) is None


def test_none_of_mine_gives_none() -> None:
    assert pick_identity(received_addresses(_raw("To: x@example.org")), MINE) is None


def test_a_signature_goes_after_the_separator_line_and_a_blank_line() -> None:
    block = signature_block("Alice\nExample Org\n")
    assert block == "-- \nAlice\nExample Org\n"
    assert with_signature("Hello\n", block) == "Hello\n\n-- \nAlice\nExample Org\n"
    assert with_signature("", block) == "\n\n-- \nAlice\nExample Org\n"
    assert signature_block("-- \nAlice") == "-- \nAlice\n"  # its own separator is not doubled
    assert signature_block("  \n") == ""


def test_switching_replaces_an_unchanged_signature_and_keeps_an_edited_one() -> None:
    old, new = signature_block("Alice"), signature_block("Support")
    body = with_signature("Hi", old)
    assert swap_signature(body, old, new) == "Hi\n\n-- \nSupport\n"
    assert swap_signature(body, old, "") == "Hi\n"
    assert swap_signature("Hi", "", new) == "Hi\n\n-- \nSupport\n"
    assert swap_signature(body.replace("Alice", "Alice B."), old, new) is None
    assert swap_signature(body.rstrip("\n"), old, new) == "Hi\n\n-- \nSupport\n"


def test_a_signature_file_is_read_each_time_and_a_missing_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sig"
    path.write_bytes(b"One\r\nTwo\r\n")
    assert read_signature("ignored", path) == "One\nTwo\n"
    path.unlink()
    with pytest.raises(SignatureError, match=str(path)):
        read_signature("", path)
    assert read_signature("Text", None) == "Text"
