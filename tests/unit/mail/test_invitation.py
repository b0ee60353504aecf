"""Invitations (text/calendar parts) summed up: what, when in the reader's time zone, where,
who; hostile and broken calendars give a safe summary or none, never an error."""

from __future__ import annotations

from datetime import UTC
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from tuimail.mail.invitation import MAX_CALENDAR_BYTES, invitation_summaries
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message

BERLIN = ZoneInfo("Europe/Berlin")


def _message(*lines: str, method: str = "REQUEST", attach: bool = False) -> bytes:
    calendar = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR", ""])
    msg = EmailMessage()
    msg["From"] = "o@example.org"
    msg["Subject"] = "invitation"
    msg.set_content("See the invitation.")
    if attach:
        msg.add_attachment(calendar.encode(), maintype="text", subtype="calendar", filename="i.ics")
    else:
        msg.add_alternative(calendar, subtype="calendar", params={"method": method})
    return msg.as_bytes()


def _event(*lines: str) -> list[str]:
    return ["BEGIN:VEVENT", *lines, "END:VEVENT"]


def test_a_request_is_summed_up_in_the_readers_time_zone() -> None:
    raw = _message(
        "METHOD:REQUEST",
        *_event(
            "SUMMARY:Planning\\, part 2",
            "DTSTART:20261209T130000Z",
            "DTEND:20261209T143000Z",
            "LOCATION:Room 1\\; east wing",
            'ORGANIZER;CN="Berg, Søren":mailto:soren@example.org',
            "ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:ana@example.org",
            "ATTENDEE:mailto:bob@example.org",
        ),
    )
    assert invitation_summaries(raw, BERLIN) == [
        "[Invitation]\n"
        "What:  Planning, part 2\n"
        "When:  Wed 09 Dec 2026 14:00–15:30\n"
        "Where: Room 1; east wing\n"
        "Who:   Berg, Søren (organizer); 2 invited: Ana, bob@example.org"
    ]
    # In the view's text, before the body.
    text = render_message(parse_message(raw), raw)
    assert text.index("What:  Planning") < text.index("See the invitation.")


def test_a_tzid_all_day_and_repeating_events() -> None:
    raw = _message(
        *_event(
            "SUMMARY:Standup",
            "DTSTART;TZID=America/New_York:20261209T090000",
            "DURATION:PT15M",
            "RRULE:FREQ=DAILY;COUNT=10",
        ),
        method="REQUEST",
    )
    assert "When:  Wed 09 Dec 2026 14:00–14:15, repeats daily" in invitation_summaries(raw, UTC)[0]
    all_day = _message(
        "METHOD:REQUEST",
        *_event("SUMMARY:Offsite", "DTSTART;VALUE=DATE:20261210", "DTEND;VALUE=DATE:20261212"),
    )
    assert (
        "When:  Thu 10 Dec 2026 to Fri 11 Dec 2026, all day"
        in invitation_summaries(all_day, UTC)[0]
    )
    one_day = _message("METHOD:REQUEST", *_event("DTSTART;VALUE=DATE:20261210"))
    assert "When:  Thu 10 Dec 2026, all day" in invitation_summaries(one_day, UTC)[0]


def test_an_unknown_time_zone_is_shown_as_written() -> None:
    raw = _message(
        "METHOD:REQUEST",
        *_event("DTSTART;TZID=W. Europe Standard Time:20261209T100000", "SUMMARY:x"),
    )
    assert (
        "When:  Wed 09 Dec 2026 10:00 (W. Europe Standard Time time)"
        in (invitation_summaries(raw, UTC)[0])
    )


def test_cancel_and_reply() -> None:
    cancel = _message("METHOD:CANCEL", *_event("SUMMARY:Gone", "STATUS:CANCELLED"))
    assert invitation_summaries(cancel, UTC)[0].startswith("[Cancelled]\nWhat:  Gone")
    reply = _message(
        "METHOD:REPLY",
        *_event("SUMMARY:Planning", "ATTENDEE;PARTSTAT=DECLINED;CN=Ana:mailto:ana@example.org"),
    )
    summary = invitation_summaries(reply, UTC)[0]
    assert summary.startswith("[Reply to an invitation]")
    assert "Who:   Ana declined" in summary


def test_an_attached_ics_and_folded_lines() -> None:
    raw = _message(
        "METHOD:REQUEST",
        *_event("SUMMARY:A very long title that the sender's program\r\n  folded in two"),
        attach=True,
    )
    assert (
        "What:  A very long title that the sender's program folded in two"
        in (invitation_summaries(raw, UTC)[0])
    )


def test_an_alarms_properties_are_not_the_events() -> None:
    raw = _message(
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        "BEGIN:VALARM",
        "SUMMARY:Alarm text",
        "END:VALARM",
        "SUMMARY:The event",
        "END:VEVENT",
    )
    assert "What:  The event" in invitation_summaries(raw, UTC)[0]


def test_hostile_calendars() -> None:
    escapes = "\x1b[31mred\x1b]0;title\x07\u202eevil\\nsecond line"
    raw = _message(
        "METHOD:REQUEST",
        *_event(
            f"SUMMARY:{escapes}",
            f"LOCATION:{'x' * 5000}",
            'ORGANIZER;CN="unclosed:mailto:a@example.org',
            "DTSTART:20261399T250000Z",  # no such date
            *[f"ATTENDEE;CN=P{n}:mailto:p{n}@example.org" for n in range(3000)],
        ),
    )
    summary = invitation_summaries(raw, UTC)[0]
    assert "\x1b" not in summary and "\u202e" not in summary and "\x07" not in summary
    assert "What:  redevil second line" in summary
    assert "When" not in summary  # an impossible date is left out
    assert "organizer" not in summary  # a broken line is left out
    assert "3000 invited: P0, P1" in summary and "and 2992 more" in summary
    assert max(len(line) for line in summary.splitlines()) < 700
    # Over the size limit, nested too deep, or not a calendar at all: no summary.
    huge = _message("METHOD:REQUEST", *_event("SUMMARY:" + "y" * MAX_CALENDAR_BYTES))
    assert invitation_summaries(huge, UTC) == []
    deep = _message(*["BEGIN:X"] * 50, *_event("SUMMARY:deep"))
    assert invitation_summaries(deep, UTC) == []
    assert invitation_summaries(b"Subject: text/calendar\r\n\r\nno part\r\n", UTC) == []
    many = _message("METHOD:REQUEST", *[line for n in range(50) for line in _event(f"SUMMARY:{n}")])
    assert len(invitation_summaries(many, UTC)) == 3
