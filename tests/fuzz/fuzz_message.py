"""Fuzz target: any bytes as a message, through parse -> render -> sanitize.

Each input goes through `parse_message` and `parse_envelope`, `render_message` (the plain and
the HTML body paths, and the raw view of a message over a limit), `search_text`, and the same
bytes decoded as HTML through `render_html`; every header field of the envelope goes through
`sanitize_line`. Checked: nothing raises, and no text meant for the screen holds a control
character, an escape sequence, a bidi control or a lone surrogate.

Run with atheris: ``python -m tests.fuzz.fuzz_message [libFuzzer options] [corpus dirs]``
(see docs/testing.md, "Fuzzing"); tests/corpus/*.eml are good seeds.
"""

from __future__ import annotations

import re
import sys

from tuimail.mail.decode import decode_bytes
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import parse_message
from tuimail.mail.render import attachment_line, render_html, render_message, search_text
from tuimail.mail.sanitize import sanitize, sanitize_line

# C0 (but TAB and LF), DEL, C1, bidi controls, line/paragraph separators, lone surrogates.
TERMINAL_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\u2028\u2029\ud800-\udfff]"
)


def _shown(text: str, where: str) -> None:
    match = TERMINAL_CONTROL.search(text)
    assert match is None, f"{where}: {match.group()!r} at {match.start()} reaches the screen"


def test_one_input(data: bytes) -> None:
    """The fuzz entry point: no exception, and nothing unsafe reaches the screen."""
    parsed = parse_message(data)
    envelope = parsed.envelope
    assert envelope.size == len(data)
    assert parse_envelope(data).size == len(data)
    _shown(render_message(parsed, data), "message view")
    _shown(search_text(parsed), "search text")
    fields = [envelope.subject, envelope.message_id or "", *envelope.references]
    for address in (*envelope.from_, *envelope.to, *envelope.cc, *envelope.reply_to):
        fields += [address.name, address.email]
    for field in fields:
        line = sanitize_line(field)
        _shown(line, "header field")
        assert "\n" not in line and "\t" not in line
    for attachment in parsed.attachments:
        _shown(attachment_line(attachment), "attachment line")
    for problem in parsed.problems:
        _shown(sanitize_line(problem), "problem note")
    text, _ = decode_bytes(data[:65536])
    _shown(render_html(text), "HTML view")
    _shown(sanitize(text), "sanitized text")


if __name__ == "__main__":
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # warnings about malformed input are expected here
    atheris.instrument_all()  # coverage feedback for everything imported above
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
