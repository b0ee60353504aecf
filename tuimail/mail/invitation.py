"""Invitations: a message's calendar part (text/calendar, METHOD REQUEST, CANCEL or REPLY)
summed up for the message view: what, when (in the reader's time zone), where, who.

A minimal reader of RFC 5545 for those properties only: lines unfolded, parameters split with
their quoted values, TEXT escapes undone, components nested (an alarm's properties are not the
event's). Dates: UTC (`Z`), a TZID the system's time zone database knows (else shown as
written, with the TZID's name), floating local times, and all-day dates; RRULE is shown as
"repeats" with its frequency. Everything is bounded and the result sanitized; a part that is not
readable gives no summary, never an error. The `icalendar` package would read more, but brings
its own dependencies for what these few properties need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.message import Message
from email.parser import BytesParser
from zoneinfo import ZoneInfo

from tuimail.mail.decode import decode_bytes
from tuimail.mail.parse import _parsing_policy
from tuimail.mail.sanitize import sanitize_line

MAX_CALENDAR_BYTES = 256 * 1024  # a larger calendar part is not read
MAX_LINES = 5000
MAX_PARTS = 200  # MIME parts looked at
MAX_EVENTS = 3  # summed up per message
MAX_DEPTH = 8  # nested components
MAX_VALUE_CHARS = 500  # a value is cut here for the screen
MAX_NAMES = 8  # attendees named; the rest counted
_CALENDAR_TYPES = ("text/calendar", "application/ics")
_HINT = re.compile(rb"(?i)text/calendar|application/ics")
_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_DATE_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_FREQUENCIES = {
    "SECONDLY": "every second",
    "MINUTELY": "every minute",
    "HOURLY": "hourly",
    "DAILY": "daily",
    "WEEKLY": "weekly",
    "MONTHLY": "monthly",
    "YEARLY": "yearly",
}
_METHODS = {"REQUEST": "Invitation", "CANCEL": "Cancelled", "REPLY": "Reply to an invitation"}
_PARTSTAT = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentatively accepted",
    "DELEGATED": "delegated",
    "NEEDS-ACTION": "has not answered",
}


@dataclass
class _Property:
    name: str  # upper case
    params: dict[str, str]  # upper-case names; the first value of each
    value: str


@dataclass
class _Event:
    properties: dict[str, _Property] = field(default_factory=dict)  # the first of each name
    attendees: list[_Property] = field(default_factory=list)  # the first MAX_NAMES
    attendee_count: int = 0


def _unfold(text: str) -> list[str]:
    """Content lines: a line break followed by a space or tab continues the line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n[ \t]", "", text).split("\n")[:MAX_LINES]


def _content_line(line: str) -> _Property | None:
    """name *(";" param) ":" value; parameter values may be quoted (and hold ":" or ";")."""
    index = 0
    length = len(line)
    while index < length and line[index] not in ";:":
        index += 1
    name = line[:index]
    if not _NAME.match(name):
        return None
    params: dict[str, str] = {}
    while index < length and line[index] == ";":
        start = index + 1
        equals = line.find("=", start)
        if equals < 0:
            return None
        param = line[start:equals].upper()
        index = equals + 1
        values: list[str] = []
        while True:
            if index < length and line[index] == '"':
                close = line.find('"', index + 1)
                if close < 0:
                    return None
                values.append(line[index + 1 : close])
                index = close + 1
            else:
                start = index
                while index < length and line[index] not in ';:,"':
                    index += 1
                values.append(line[start:index])
            if index < length and line[index] == ",":
                index += 1
                continue
            break
        params.setdefault(param, values[0] if values else "")
    if index >= length or line[index] != ":":
        return None
    return _Property(name.upper(), params, line[index + 1 :])


def _text(value: str) -> str:
    """A TEXT value: escapes undone, sanitized to one line, cut."""
    value = re.sub(r"\\([\\;,nN])", lambda m: " " if m.group(1) in "nN" else m.group(1), value)
    value = sanitize_line(value).strip()
    return value[:MAX_VALUE_CHARS] + ("…" if len(value) > MAX_VALUE_CHARS else "")


def _events(text: str) -> tuple[str, list[_Event]]:
    """The calendar's METHOD and its events (the first MAX_EVENTS)."""
    method = ""
    events: list[_Event] = []
    stack: list[str] = []
    for line in _unfold(text):
        prop = _content_line(line)
        if prop is None:
            continue
        if prop.name == "BEGIN":
            if len(stack) >= MAX_DEPTH:
                return method, events
            stack.append(prop.value.strip().upper())
            if stack[-1] == "VEVENT" and len(events) < MAX_EVENTS:
                events.append(_Event())
            continue
        if prop.name == "END":
            if stack:
                stack.pop()
            continue
        if stack == ["VCALENDAR"] and prop.name == "METHOD":
            method = prop.value.strip().upper()
        elif stack[-1:] == ["VEVENT"] and events and len(stack) == 2:
            event = events[-1]
            if prop.name == "ATTENDEE":
                event.attendee_count += 1
                if len(event.attendees) < MAX_NAMES:
                    event.attendees.append(prop)
            else:
                event.properties.setdefault(prop.name, prop)
    return method, events


def _moment(prop: _Property | None, tz: tzinfo | None) -> tuple[datetime | date | None, str]:
    """A DTSTART/DTEND: a date (all-day), an aware datetime in `tz`, or a naive one shown as
    written; and a note ("(time zone X)") when its TZID is not known here."""
    if prop is None:
        return None, ""
    match = _DATE_TIME.match(prop.value.strip())
    if match is None:
        return None, ""
    year, month, day, hour, minute, second, utc = match.groups()
    try:
        if hour is None or prop.params.get("VALUE", "").upper() == "DATE":
            return date(int(year), int(month), int(day)), ""
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None, ""
    if utc:
        return moment.replace(tzinfo=UTC).astimezone(tz), ""
    tzid = prop.params.get("TZID", "").strip()
    if not tzid:  # floating: the same wall-clock time wherever the reader is
        return moment, ""
    try:
        zone = ZoneInfo(tzid)
    except Exception:  # unknown (a Windows name, a path, nonsense): shown as written
        return moment, f" ({sanitize_line(tzid)[:60]} time)"
    return moment.replace(tzinfo=zone).astimezone(tz), ""


def _duration(value: str) -> timedelta | None:
    match = re.fullmatch(
        r"\+?P(?:(\d{1,4})W)?(?:(\d{1,4})D)?(?:T(?:(\d{1,4})H)?(?:(\d{1,4})M)?)?", value.strip()
    )
    if match is None or not any(match.groups()):
        return None
    weeks, days, hours, minutes = (int(group or 0) for group in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


def _when(event: _Event, tz: tzinfo | None) -> str:
    start, note = _moment(event.properties.get("DTSTART"), tz)
    if start is None:
        return ""
    end, end_note = _moment(event.properties.get("DTEND"), tz)
    if end is None and (duration := event.properties.get("DURATION")) is not None:
        span = _duration(duration.value)
        end = start + span if span is not None else None
    if not isinstance(start, datetime):  # all day; DTEND is the day after the last one
        text = f"{start:%a %d %b %Y}, all day"
        if isinstance(end, date) and not isinstance(end, datetime):
            last = end - timedelta(days=1)
            if last > start:
                text = f"{start:%a %d %b %Y} to {last:%a %d %b %Y}, all day"
    else:
        text = f"{start:%a %d %b %Y %H:%M}"
        if isinstance(end, datetime) and (end.tzinfo is None) == (start.tzinfo is None):
            same_day = end.date() == start.date()
            text += f"–{end:%H:%M}" if same_day else f" to {end:%a %d %b %Y %H:%M}"
        text += note or end_note
    rule = event.properties.get("RRULE")
    if rule is not None:
        parts = dict(
            item.partition("=")[::2] for item in rule.value.upper().split(";") if "=" in item
        )
        text += ", repeats " + _FREQUENCIES.get(parts.get("FREQ", ""), "")
        text = text.rstrip()
    return text


def _person(prop: _Property) -> str:
    name = _text(prop.params.get("CN", ""))
    address = prop.value.strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    address = sanitize_line(address)[:200]
    return name or address or "someone"


def _summary(method: str, event: _Event, tz: tzinfo | None) -> str:
    props = event.properties
    status = props.get("STATUS")
    cancelled = status is not None and status.value.strip().upper() == "CANCELLED"
    title = _METHODS.get(method, "Calendar event")
    if cancelled and method != "REPLY":
        title = "Cancelled"
    lines = [f"[{title}]"]
    what = _text(props["SUMMARY"].value) if "SUMMARY" in props else ""
    lines.append(f"What:  {what or '(no title)'}")
    if when := _when(event, tz):
        lines.append(f"When:  {when}")
    if "LOCATION" in props and (where := _text(props["LOCATION"].value)):
        lines.append(f"Where: {where}")
    who: list[str] = []
    if "ORGANIZER" in props:
        who.append(f"{_person(props['ORGANIZER'])} (organizer)")
    attendees = event.attendees
    if method == "REPLY":
        for attendee in attendees[:MAX_NAMES]:
            answer = _PARTSTAT.get(attendee.params.get("PARTSTAT", "").upper(), "answered")
            who.append(f"{_person(attendee)} {answer}")
    elif attendees:
        count = event.attendee_count
        names = ", ".join(_person(a) for a in attendees)
        more = f" and {count - len(attendees)} more" if count > len(attendees) else ""
        who.append(f"{count} invited: {names}{more}")
    if who:
        lines.append(f"Who:   {'; '.join(who)}")
    return "\n".join(lines)


def _calendar_parts(raw: bytes) -> list[tuple[str, bytes]]:
    """The (Content-Type method parameter, decoded bytes) of every calendar part."""
    msg = BytesParser(policy=_parsing_policy()).parsebytes(raw)
    found: list[tuple[str, bytes]] = []
    for number, part in enumerate(msg.walk()):
        if number >= MAX_PARTS or len(found) >= MAX_EVENTS:
            break
        if part.is_multipart() or part.get_content_type() not in _CALENDAR_TYPES:
            continue
        payload = _payload(part)
        if payload is not None and len(payload) <= MAX_CALENDAR_BYTES:
            found.append((str(part.get_param("method") or ""), payload))
    return found


def _payload(part: Message) -> bytes | None:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return None
    return payload if isinstance(payload, bytes) else None


def invitation_summaries(raw: bytes, tz: tzinfo | None = None) -> list[str]:
    """A summary for each event of the message's calendar parts (at most MAX_EVENTS), with
    times in `tz` (None: the system's); sanitized plain text. [] when there is none, or none
    that can be read."""
    if _HINT.search(raw) is None:
        return []  # most messages: no second parse
    summaries: list[str] = []
    try:
        parts = _calendar_parts(raw)
    except Exception:  # the view's own parse coped with this message; never fail here
        return []
    for param_method, payload in parts:
        text, _problem = decode_bytes(payload, "utf-8")
        method, events = _events(text)
        method = method or param_method.strip().upper()
        summaries.extend(_summary(method, event, tz) for event in events)
    return summaries[:MAX_EVENTS]
