"""Send-later times as users type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tuimail.ui.when import WhenError, parse_when

NOW = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def test_relative_times() -> None:
    assert parse_when("+30m", NOW) == NOW + timedelta(minutes=30)
    assert parse_when("+ 2H", NOW) == NOW + timedelta(hours=2)
    assert parse_when("+1d", NOW) == NOW + timedelta(days=1)


def test_clock_time_is_the_next_such_time() -> None:
    local_now = NOW.astimezone()
    earlier = (local_now - timedelta(hours=1)).strftime("%H:%M")
    later = (local_now + timedelta(hours=1)).strftime("%H:%M")
    assert parse_when(later, NOW) - NOW < timedelta(hours=1, minutes=1)
    assert timedelta(hours=22) < parse_when(earlier, NOW) - NOW < timedelta(hours=24)


def test_full_date_and_errors() -> None:
    assert parse_when("2030-01-02 09:30", NOW).astimezone().strftime("%Y-%m-%d %H:%M") == (
        "2030-01-02 09:30"
    )
    with pytest.raises(WhenError, match="already passed"):
        parse_when("2020-01-01 00:00", NOW)
    with pytest.raises(WhenError, match=r"\+30m"):
        parse_when("soon", NOW)
