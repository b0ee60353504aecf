"""Concrete results for every message of the test corpus (tests/corpus/)."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tuimail.core.model import Address
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import ParsedMessage, parse_message
from tuimail.mail.render import render_message, search_text

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CET = timezone(timedelta(hours=1))
CORPUS_DATE = datetime(2024, 3, 5, 14, 30, tzinfo=CET)
# Anything a terminal would interpret: C0 except TAB/LF, DEL, C1, ESC, bidi controls.
TERMINAL_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def load(name: str) -> tuple[bytes, ParsedMessage]:
    raw = (CORPUS / name).read_bytes()
    return raw, parse_message(raw)


def corpus_files() -> list[str]:
    return sorted(path.name for path in CORPUS.glob("*.eml"))


def test_corpus_files_match_their_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.build_all()
    assert sorted(generated) == corpus_files()
    for name, data in generated.items():
        assert (CORPUS / name).read_bytes() == data, f"{name} differs: run make_corpus.py"


def test_every_corpus_file_is_described_in_the_readme() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\| `([^`]+\.eml)` \|", readme, re.MULTILINE))
    assert described == set(corpus_files())


@pytest.mark.parametrize("name", corpus_files())
def test_every_message_parses_and_renders_to_terminal_safe_text(name: str) -> None:
    raw, parsed = load(name)
    assert parsed.envelope.size == len(raw)
    rendered = render_message(parsed, raw)
    assert not TERMINAL_CONTROL.search(rendered)
    assert not TERMINAL_CONTROL.search(search_text(parsed))
    # The header-only path agrees with the full parse on everything it can know.
    envelope = parse_envelope(raw)
    assert envelope.subject == parsed.envelope.subject
    assert envelope.from_ == parsed.envelope.from_
    assert envelope.message_id == parsed.envelope.message_id
    assert envelope.date == parsed.envelope.date


def test_plain_threaded_reply() -> None:
    raw, parsed = load("plain-threaded.eml")
    env = parsed.envelope
    assert env.subject == "Re: Quarterly report"
    assert env.from_ == (Address("Example, Alice", "alice@example.org"),)
    assert env.to == (
        Address("Bob Example", "bob@example.com"),
        Address("", "carol@example.net"),
        Address("Dave", "dave@example.net"),
    )
    assert env.cc == (Address("", "eve@example.org"),)
    assert env.reply_to == (Address("Lists", "list@lists.example.org"),)
    assert env.date == CORPUS_DATE
    assert env.message_id == "plain-threaded.1@example.org"
    assert env.in_reply_to == "parent.2@example.com"
    assert env.references == ("root.0@example.org", "parent.2@example.com")
    assert not env.has_attachments
    assert parsed.problems == ()
    assert render_message(parsed, raw) == (
        "Hi Bob,\n\nThe report is attached to the wiki.\n\n-- \nAlice"
    )


@pytest.mark.parametrize("name", ["alternative.eml", "alternative-html-first.eml"])
def test_alternative_keeps_both_parts_plain_first(name: str) -> None:
    raw, parsed = load(name)
    assert [part.content_type for part in parsed.text_parts] == ["text/plain", "text/html"]
    assert parsed.text_parts[0].group == parsed.text_parts[1].group
    assert "<b>newsletter</b>" in parsed.text_parts[1].text
    assert render_message(parsed, raw) == "Plain version of the newsletter."
    assert search_text(parsed) == "Plain version of the newsletter."
    assert not parsed.envelope.has_attachments


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw, parsed = load("alternative-empty-plain.eml")
    assert render_message(parsed, raw) == "Only the HTML part has text."
    assert "Only the HTML part has text." in search_text(parsed)


def test_related_images_only_named_ones_are_attachments() -> None:
    raw, parsed = load("alternative-related.eml")
    assert [a.filename for a in parsed.attachments] == ["logo.png"]
    assert parsed.attachments[0].content_type == "image/png"
    assert parsed.attachments[0].size == 67
    assert parsed.envelope.has_attachments
    assert render_message(parsed, raw) == (
        "See the chart below.\n\n[attachment] logo.png (67 bytes)"
    )


def test_mixed_attachments_names_types_and_sizes() -> None:
    raw, parsed = load("mixed-attachments.eml")
    assert [(a.index, a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        (0, "Grüße €.pdf", "application/pdf", 1033),
        (1, "写真_2024.png", "image/png", 67),
        (
            2,
            "Angebot für Müller.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            22,
        ),
        (3, "notes.txt", "text/plain", 12),
        (4, "", "application/octet-stream", 10),
    ]
    assert parsed.envelope.has_attachments
    rendered = render_message(parsed, raw)
    assert rendered.startswith("Files attached.\n\n--- a/x\n+++ b/x\n")
    assert "secret notes" not in rendered  # an attachment, not a body part
    assert rendered.endswith(
        "[attachment] Grüße €.pdf (1.0 KB)\n"
        "[attachment] 写真_2024.png (67 bytes)\n"
        "[attachment] Angebot für Müller.docx (22 bytes)\n"
        "[attachment] notes.txt (12 bytes)\n"
        "[attachment] unnamed application/octet-stream (10 bytes)"
    )


def test_html_only_is_converted_without_remote_content() -> None:
    raw, parsed = load("html-only.eml")
    assert [part.content_type for part in parsed.text_parts] == ["text/html"]
    rendered = render_message(parsed, raw)
    assert "Café prices\xa0down 20€ & more." in rendered
    assert "[Shop logo]" in rendered
    assert "[image]" in rendered  # the alt-less photo; the 1x1 pixel is dropped
    assert rendered.count("[image]") == 1
    assert "tracker.example" not in rendered and "cdn.example" not in rendered
    assert "Visit our shop[1]." in rendered  # no Markdown: the link numbered in the text
    assert "\n[1] https://shop.example/sale" in rendered
    assert "1. First" in rendered and "2. Second" in rendered
    assert "1. not a list, - not a bullet" in rendered  # no Markdown backslashes
    for hidden in ("Title must not show", "script must not show", "color: red"):
        assert hidden not in rendered


def test_utf8_with_latin1_bytes() -> None:
    _raw, parsed = load("charset-utf8-latin1.eml")
    assert parsed.text_parts[0].text == ("Café naïve über — valid UTF-8 line\nCafé naïve über\n")
    assert parsed.problems == ("text is not valid utf-8; invalid bytes read as Windows-1252",)


def test_unknown_charset() -> None:
    _raw, parsed = load("charset-unknown.eml")
    assert parsed.text_parts[0].text == "Grüße aus Köln\n"
    assert parsed.problems == ("unknown charset 'x-no-such-charset', decoded as UTF-8",)


def test_latin1_label_decodes_windows_1252() -> None:
    _raw, parsed = load("charset-latin1-cp1252.eml")
    assert parsed.text_parts[0].text == "“Quoted” price: € 20 – café\n"
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("name", "subject", "sender", "body"),
    [
        ("subject-utf8-b.eml", "Réunion à 10h ☕", "Jürgen Müller", "Body in UTF-8: éàü ☕\n"),
        ("subject-utf8-q.eml", "Grüße aus München", "François Déjà", "Body in UTF-8: éàü ☕\n"),
        (
            "subject-iso-8859-1.eml",
            "¿Qué tal el viaje?",
            "José Peña",
            "Cuerpo en Latin-1: año, árbol\n",
        ),
        ("subject-koi8-r.eml", "Отчёт за март", "Дмитрий", "Текст письма\n"),
        ("subject-iso-2022-jp.eml", "日本語の件名", "田中太郎", "本文です。\n"),
        ("subject-gb2312.eml", "会议纪要", "李雷", "这是正文。\n"),
    ],
)
def test_encoded_subjects_names_and_bodies(name: str, subject: str, sender: str, body: str) -> None:
    _raw, parsed = load(name)
    assert parsed.envelope.subject == subject
    assert parsed.envelope.from_ == (Address(sender, "sender@example.org"),)
    assert parsed.text_parts[0].text == body
    assert parsed.problems == ()


def test_encoded_word_edge_cases() -> None:
    _raw, parsed = load("encoded-words-edge-cases.eml")
    env = parsed.envelope
    assert env.subject == "price €20 and plain text ✓ done"
    # RFC 2047: the space between two adjacent encoded words is not part of the text.
    assert env.from_ == (Address("ZoëSmíth", "zoe@example.org"),)
    # The unknown charset's bytes come out as Windows-1252 rather than as surrogates.
    assert env.to == (Address("Åsa", "asa@example.org"), Address("café", "unknown@example.org"))


def test_raw_8bit_headers() -> None:
    _raw, parsed = load("raw-8bit-headers.eml")
    env = parsed.envelope
    assert env.subject == "Grüße ☕ ohne Kodierung"
    assert env.from_ == (Address("Jürgen Müller", "juergen@example.org"),)
    assert env.to == (Address("René Dupont", "rene@example.org"),)


def test_missing_date_and_message_id() -> None:
    _raw, parsed = load("missing-date-msgid.eml")
    env = parsed.envelope
    assert (env.date, env.message_id, env.subject) == (None, None, "")
    assert env.from_ == (Address("", "nobody@example.org"),)
    assert parsed.text_parts[0].text == "No Date, no Message-ID, no Subject.\n"


def test_bad_date_and_sloppy_ids() -> None:
    _raw, parsed = load("bad-date.eml")
    env = parsed.envelope
    assert env.date is None
    assert env.message_id == "bad-date@example.org"
    assert env.in_reply_to == "bare-id@example.com"
    assert env.references == ("a@example.com", "b@example.com")


def test_unknown_time_zone_is_utc() -> None:
    _raw, parsed = load("date-unknown-zone.eml")
    assert parsed.envelope.date == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert parsed.envelope.date.tzinfo is not None
    assert parsed.envelope.in_reply_to == "earlier@example.com"


def test_missing_end_boundary_still_finds_parts() -> None:
    _raw, parsed = load("broken-no-end-boundary.eml")
    assert [part.text for part in parsed.text_parts] == ["First part."]
    assert [a.filename for a in parsed.attachments] == ["cut.pdf"]
    assert parsed.attachments[0].size == len(b"%PDF-1.4\n")


@pytest.mark.parametrize("name", ["broken-wrong-boundary.eml", "broken-no-boundary.eml"])
def test_multipart_without_usable_boundary_is_shown_as_text(name: str) -> None:
    raw, parsed = load(name)
    assert not parsed.raw_only
    assert len(parsed.text_parts) == 1
    assert "Content-Type: text/plain" in parsed.text_parts[0].text
    assert parsed.problems == ("broken MIME structure (no parts found); shown as plain text",)
    assert "Content-Type: text/plain" in render_message(parsed, raw)


def test_broken_base64_decodes_what_it_can() -> None:
    _raw, parsed = load("broken-base64.eml")
    assert parsed.text_parts[0].text.startswith("Hello wor")
    assert [a.filename for a in parsed.attachments] == ["photo.jpg"]


def test_nesting_within_the_limit() -> None:
    _raw, parsed = load("nested-8-levels.eml")
    assert not parsed.raw_only
    assert [part.text for part in parsed.text_parts] == ["Deep inside."]


def test_nesting_over_the_limit_is_raw_only() -> None:
    raw, parsed = load("nested-40-levels.eml")
    assert parsed.raw_only
    assert parsed.problems == ("nesting too deep (over 32 levels)",)
    assert parsed.envelope.subject == "Nested 40"
    assert parsed.envelope.message_id == "nested-40@example.org"
    assert parsed.text_parts == () and parsed.attachments == ()
    rendered = render_message(parsed, raw)
    assert rendered.startswith("[This message is shown raw: nesting too deep (over 32 levels).]")
    assert "Deep inside." in rendered


def test_oversized_subject_is_raw_only_with_its_start_decoded() -> None:
    _raw, parsed = load("oversized-subject.eml")
    assert parsed.raw_only
    assert parsed.problems == ("too many encoded words in the Subject header",)
    assert parsed.envelope.subject.startswith("überüberüber")
    assert len(parsed.envelope.subject) < 4096
    assert parsed.envelope.from_ == (Address("Alice Example", "alice@example.org"),)
    assert search_text(parsed) == ""


def test_hostile_escapes_are_kept_in_the_data_and_gone_from_the_screen() -> None:
    raw, parsed = load("hostile-escapes.eml")
    env = parsed.envelope
    # The parsed values are as received...
    assert "\x1b[31;1m" in env.subject
    assert "\x9b" in env.subject
    assert "\x1b]52;" in parsed.attachments[0].filename
    # ...but the address was not swallowed by the escape sequence in its name.
    assert env.from_ == (Address("Mallory Bank", "mallory@example.org"),)
    rendered = render_message(parsed, raw)
    assert rendered == (
        "Normal red text.\n"
        "Title change: after title.\n"
        "Link: click me.\n"
        "Clipboard: after clipboard.\n"
        "C1: after c1.\n"
        "Bell backspace nul del end.\n"
        "\n"
        "[attachment] report.pdf (9 bytes)"
    )


def test_hostile_escapes_in_html_entities() -> None:
    _raw, parsed = load("hostile-escapes.eml")
    html_part = parsed.text_parts[1]
    assert html_part.content_type == "text/html"
    from tuimail.mail.render import render_html

    text = render_html(html_part.text)
    assert "\x1b" not in text and "[31m" not in text and "52;c" not in text
    assert text == "Entity red and title and ›31m and clip."


def test_hostile_bidi_controls_are_removed_on_screen() -> None:
    raw, parsed = load("hostile-bidi.eml")
    assert parsed.envelope.subject == "Invoice \u202eFDP.EXE\u202c attached"
    assert parsed.attachments[0].filename == "invoice\u202efdp.exe"
    rendered = render_message(parsed, raw)
    assert rendered == ("Pay 0001 now. isolated mark alm.\n\n[attachment] invoicefdp.exe (2 bytes)")


def test_markup_passes_through_literally() -> None:
    raw, parsed = load("hostile-markup.eml")
    assert parsed.envelope.subject == "[@click=app.quit] [bold red]Click[/] me"
    assert render_message(parsed, raw) == (
        "Press [@click=app.quit]here[/] or [link=https://x.example]this[/]."
    )


def test_format_flowed_is_joined() -> None:
    _raw, parsed = load("flowed.eml")
    assert parsed.text_parts[0].text == (
        "This paragraph is written with soft line breaks that a reader joins again.\n"
        "> Quoted text that was also flowed.\n"
        ">not a quote (space-stuffed)\n"
        "\n"
        "-- \n"
        "Signature line\n"
    )


def test_forwarded_message_is_an_attachment() -> None:
    raw, parsed = load("forwarded-message.eml")
    assert [part.text for part in parsed.text_parts] == ["Forwarding this."]
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("", "message/rfc822")]
    assert parsed.attachments[0].size > 150
    assert "The original text." not in render_message(parsed, raw)


def test_lone_cr_becomes_a_visible_line_break() -> None:
    raw, parsed = load("body-lone-cr.eml")
    assert render_message(parsed, raw) == "Total: 100 EUR\nTotal: 999 EUR\nnext line"


def test_single_part_attachment() -> None:
    raw, parsed = load("single-part-attachment.eml")
    assert parsed.text_parts == ()
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("scan.pdf", "application/pdf", 2009)
    ]
    assert render_message(parsed, raw) == "[attachment] scan.pdf (2.0 KB)"


def test_quoted_printable_utf8() -> None:
    _raw, parsed = load("quoted-printable-utf8.eml")
    assert parsed.text_parts[0].text == ("Quoted-printable: été — " + "long line " * 12 + "end.\n")
