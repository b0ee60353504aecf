"""Property tests: the parser and renderer never raise, whatever the bytes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuimail.core.model import Address, Draft
from tuimail.mail.compose import compose
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import ParsedMessage, parse_message
from tuimail.mail.render import render_html, render_message, search_text
from tuimail.mail.sanitize import sanitize, sanitize_line

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CORPUS_MESSAGES = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
TERMINAL_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Fragments that steer a parser into its less travelled paths.
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"\r\n--",
    b"--\r\n",
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"=?x-unknown?q?",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%E2%82;\r\n",
    b"charset=",
    b'"',
    b"<",
    b">",
    b"\\",
    b"\x1b[",
    b"\x1b]",
    b"\xc2\x9b",
    b"\xff",
    b"\x00",
    b"=\r\n",
    b"==",
    b";",
    b":",
    b" ",
    b"\t",
]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_parsed(raw: bytes, parsed: ParsedMessage) -> None:
    """The invariants every parse result keeps."""
    env = parsed.envelope
    assert env.size == len(raw)
    assert env.date is None or env.date.tzinfo is not None
    strings = [env.subject, env.message_id or "", env.in_reply_to or "", *env.references]
    for address in (*env.from_, *env.to, *env.cc, *env.bcc, *env.reply_to):
        strings += [address.name, address.email]
    strings += [part.text for part in parsed.text_parts]
    strings += [a.filename for a in parsed.attachments] + list(parsed.problems)
    for text in strings:
        text.encode("utf-8")  # no lone surrogates: storable and printable
    assert [a.index for a in parsed.attachments] == list(range(len(parsed.attachments)))
    assert all(a.size >= 0 for a in parsed.attachments)
    rendered = render_message(parsed, raw)
    assert not TERMINAL_CONTROL.search(rendered)
    assert not TERMINAL_CONTROL.search(search_text(parsed))
    assert parse_envelope(raw).size == len(raw)


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check_parsed(raw, parse_message(raw))


@st.composite
def mutated_corpus_message(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_MESSAGES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "duplicate", "truncate"]))
        if action == "insert":
            data[position:position] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        elif action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "duplicate":
            end = min(len(data), position + draw(st.integers(1, 200)))
            data[position:position] = data[position:end] * draw(st.integers(1, 5))
        elif action == "truncate":
            del data[position:]
    return bytes(data)


@SETTINGS
@given(mutated_corpus_message())
def test_mutated_corpus_messages(raw: bytes) -> None:
    check_parsed(raw, parse_message(raw))


@SETTINGS
@given(st.text(max_size=500))
def test_sanitize_leaves_no_control_and_is_idempotent(text: str) -> None:
    clean = sanitize(text)
    assert not TERMINAL_CONTROL.search(clean)
    assert sanitize(clean) == clean
    line = sanitize_line(text)
    assert "\n" not in line and "\t" not in line
    assert not TERMINAL_CONTROL.search(line)


@SETTINGS
@given(st.text(alphabet=st.sampled_from("<>&#;x1b[]/ab=\"' \n\x1b\x07\x9b"), max_size=300))
def test_render_html_never_raises(markup: str) -> None:
    assert not TERMINAL_CONTROL.search(render_html(markup))


WORD = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S"], exclude_characters='"\\'),
    min_size=1,
    max_size=12,
)
PHRASE = st.lists(WORD, min_size=1, max_size=8).map(" ".join)


@SETTINGS
@given(subject=PHRASE, name=PHRASE, body=st.text(max_size=300))
def test_compose_then_parse_round_trip(subject: str, name: str, body: str) -> None:
    draft = Draft(
        from_=Address(name, "sender@example.org"),
        to=(Address("", "to@example.com"),),
        subject=subject,
        body=body,
    )
    date = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    parsed = parse_message(compose(draft, message_id="id@example.org", date=date))
    assert parsed.envelope.subject == subject
    assert parsed.envelope.from_ == (Address(name, "sender@example.org"),)
    assert parsed.envelope.date == date
    assert parsed.envelope.message_id == "id@example.org"
