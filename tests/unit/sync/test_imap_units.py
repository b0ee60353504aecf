"""Pure parts of the IMAP engine: sequence sets, VANISHED parsing, folder roles, batching."""

from __future__ import annotations

import pytest

from tuimail.core.model import FolderRole
from tuimail.sync.imap.bodies import _size_batches
from tuimail.sync.imap.extensions import (
    ImapProtocolError,
    SequenceSet,
    parse_copyuid,
    parse_vanished,
    uid_set,
)
from tuimail.sync.imap.listing import assign_roles, folder_role, guess_role
from tuimail.sync.imap.news import is_change
from tuimail.sync.imap.resync import _batches
from tuimail.sync.imap.selection import parse_mailbox_id


def test_sequence_set_parses_merges_and_answers_membership() -> None:
    parsed = SequenceSet.parse(b"7,1:3,4,10:8")
    assert parsed.ranges == ((1, 4), (7, 10))
    assert 4 in parsed and 7 in parsed and 10 in parsed
    assert 5 not in parsed and 11 not in parsed and 0 not in parsed
    assert parsed.count() == 8
    assert parsed.to_imap() == b"1:4,7:10"
    assert list(SequenceSet.parse("2,4")) == [2, 4]


def test_a_huge_range_costs_two_numbers_not_billions() -> None:
    hostile = SequenceSet.parse(b"1:4294967295")
    assert hostile.ranges == ((1, 4294967295),)
    assert hostile.select([5, 10, 4294967295]) == {5, 10, 4294967295}


@pytest.mark.parametrize("text", [b"1:*", b"abc", b"0", b"4294967296", b"1,,2", b"12345678901"])
def test_malformed_sets_are_refused(text: bytes) -> None:
    with pytest.raises(ImapProtocolError):
        SequenceSet.parse(text)


def test_uid_set_is_compact() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10]) == b"1:3,5,9:10"
    assert uid_set([]) == b""


def test_vanished_earlier_and_plain_are_both_read() -> None:
    found = parse_vanished([b"(EARLIER) 41,43:45", b"50"])
    assert found.ranges == ((41, 41), (43, 45), (50, 50))
    with pytest.raises(ImapProtocolError):
        parse_vanished([b"(EARLIER) 1:x"])


def test_special_use_flags_give_roles() -> None:
    assert folder_role([b"\\HasNoChildren", b"\\Sent"]) is FolderRole.SENT
    assert folder_role((b"\\Trash",)) is FolderRole.TRASH
    assert folder_role([b"\\HasChildren"]) is FolderRole.NONE


@pytest.mark.parametrize(
    ("name", "delimiter", "role"),
    [
        ("Sent Items", "/", FolderRole.SENT),
        ("INBOX.Sent Messages", ".", FolderRole.SENT),
        ("Deleted Items", "/", FolderRole.TRASH),
        ("Spam", "/", FolderRole.JUNK),
        ("Drafts", None, FolderRole.DRAFTS),
        ("Archive", "/", FolderRole.ARCHIVE),
        ("inbox", "/", FolderRole.INBOX),
        ("Projects/Sent ideas", "/", FolderRole.NONE),
    ],
)
def test_roles_are_guessed_by_name(name: str, delimiter: str | None, role: FolderRole) -> None:
    assert guess_role(name, delimiter) is role


def test_flagged_roles_win_and_each_guessed_role_goes_to_one_folder() -> None:
    listing = [
        ("INBOX", "/", FolderRole.NONE),
        ("Sent", "/", FolderRole.NONE),  # a name match, but another folder carries \Sent
        ("Sent Mail", "/", FolderRole.SENT),
        ("Trash", "/", FolderRole.NONE),
        ("Old/Trash", "/", FolderRole.NONE),  # deeper: the shallow one gets the role
    ]
    roles = {f.name: f.role for f in assign_roles(listing)}
    assert roles == {
        "INBOX": FolderRole.INBOX,
        "Sent": FolderRole.NONE,
        "Sent Mail": FolderRole.SENT,
        "Trash": FolderRole.TRASH,
        "Old/Trash": FolderRole.NONE,
    }


def test_batches_start_with_a_small_page() -> None:
    chunks = [list(c) for c in _batches(list(range(12)), 3, 5)]
    assert chunks == [[0, 1, 2], [3, 4, 5, 6, 7], [8, 9, 10, 11]]
    assert list(_batches([], 3, 5)) == []


def test_body_batches_respect_count_and_bytes() -> None:
    rows = [(1, 10, 400), (2, 9, 400), (3, 8, 400), (4, 7, 5000), (5, 6, 1)]
    chunks = [[r[0] for r in c] for c in _size_batches(rows, 2, 1000)]
    assert chunks == [[1, 2], [3], [4], [5]]


def test_copyuid_pairs_uids_in_the_order_written() -> None:
    parsed = parse_copyuid(b"38505 304,319:320 3956:3958", limit=3)
    assert parsed.uidvalidity == 38505
    assert parsed.mapping == {304: 3956, 319: 3957, 320: 3958}
    assert parse_copyuid("7 3:1 10:12", limit=3).mapping == {3: 10, 2: 11, 1: 12}


@pytest.mark.parametrize(
    "text",
    [b"1 1:4294967295 1:4294967295", b"1 1:2 5", b"x 1 2", b"1 1", b"1 0 5", b"1 * 5"],
)
def test_hostile_or_malformed_copyuid_is_refused_without_expanding_it(text: bytes) -> None:
    with pytest.raises(ImapProtocolError):
        parse_copyuid(text, limit=2)


def test_idle_responses_that_mean_a_change() -> None:
    assert is_change((3, b"EXISTS"))
    assert is_change((2, b"EXPUNGE"))
    assert is_change((5, b"FETCH", (b"FLAGS", (b"\\Seen",))))
    assert is_change((b"VANISHED", 7))
    assert not is_change((b"OK", b"Still here"))
    assert not is_change((1, b"RECENT"))


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([b"(F2212ea3e-de4f-4e33-a4cc-9a1c7e64b3a1)"], "F2212ea3e-de4f-4e33-a4cc-9a1c7e64b3a1"),
        ([b"( Fabc_1 )"], "Fabc_1"),
        ([], None),
        ([b"Fabc"], None),  # not in parentheses
        ([b"(F a)"], None),  # two tokens
        ([b"(F/../x)"], None),  # not an objectid
        ([b"(" + b"a" * 256 + b")"], None),  # longer than RFC 8474 allows
        ([b"(Fa)", b"(Fb)"], None),  # two ids for one mailbox tell nothing
    ],
)
def test_mailboxid_is_read_only_when_it_is_one_well_formed_id(
    lines: list[bytes], expected: str | None
) -> None:
    assert parse_mailbox_id(lines) == expected
