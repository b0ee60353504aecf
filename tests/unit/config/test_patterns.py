"""Which folders the account's `notify_folders` patterns name, and in which order."""

from __future__ import annotations

from tuimail.config.patterns import pattern_rank


def test_the_rank_is_the_first_pattern_that_matches_any_name() -> None:
    patterns = ("INBOX", "Lists/f", "Lists/*")
    assert pattern_rank(patterns, ("Lists/f",)) == 1
    assert pattern_rank(patterns, ("Lists/a",)) == 2
    assert pattern_rank(patterns, ("inbox",)) == 0, "INBOX in any case"
    # The full name on the server or the name shown: either matches.
    assert pattern_rank(("Lists.*",), ("INBOX.Lists.dev", "Lists.dev")) == 0
    assert pattern_rank(patterns, ("Archive", "")) is None
    assert pattern_rank((), ("INBOX",)) is None
