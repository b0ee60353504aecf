"""Reading the time a user types for "send later": `+30m`, `+2h`, `+1d`, `HH:MM`, or
`YYYY-MM-DD HH:MM` (local time)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^\+\s*(\d{1,4})\s*([mhd])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class WhenError(ValueError):
    """The text is not a time tuimail understands; the message says what is."""


def parse_when(text: str, now: datetime) -> datetime:
    """The moment `text` names, after the timezone-aware `now`. Raises WhenError."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative[1]), relative[2].lower()
        return now + timedelta(**{_UNITS[unit]: amount})
    local_now = now.astimezone()
    for pattern in ("%Y-%m-%d %H:%M", "%H:%M"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if pattern == "%H:%M":
            moment = local_now.replace(
                hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0
            )
            if moment <= local_now:
                moment += timedelta(days=1)  # 09:00 in the evening means tomorrow morning
        else:
            moment = parsed.replace(tzinfo=local_now.tzinfo)
        if moment <= now:
            raise WhenError(f"{text} has already passed")
        return moment
    raise WhenError(f"{text!r}: write +30m, +2h, +1d, 09:00 or 2026-12-24 09:00")
