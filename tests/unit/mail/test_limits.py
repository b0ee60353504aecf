"""Pathological messages: each is handled (raw-only with a note, or parsed within bounds).

These assert on results, not on time; the messages are generated here rather than committed.
"""

from __future__ import annotations

import base64

import pytest

from tuimail.core.model import Address
from tuimail.mail import limits
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message, search_text

HEAD = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.com\r\n"
    b"Date: Tue, 05 Mar 2024 14:30:00 +0100\r\n"
    b"Message-ID: <patho@example.org>\r\n"
)
WORD = f"=?utf-8?b?{base64.b64encode('héllo wörld'.encode()).decode()}?="


def check_raw_only(raw: bytes, problem: str) -> str:
    """Parse and render a message that must be raw-only; return the rendered text."""
    parsed = parse_message(raw)
    assert parsed.raw_only
    assert any(problem in note for note in parsed.problems), parsed.problems
    assert parsed.text_parts == () and parsed.attachments == ()
    assert parsed.envelope.size == len(raw)
    assert parsed.envelope.message_id == "patho@example.org"
    assert parsed.envelope.from_ == (Address("Alice", "alice@example.org"),)
    rendered = render_message(parsed, raw)
    assert rendered.startswith("[This message is shown raw: ")
    assert len(rendered) < limits.MAX_RAW_VIEW_BYTES + 1000
    assert search_text(parsed) == ""
    return rendered


@pytest.mark.parametrize("separator", ["", " ", "\r\n "])
def test_400kb_encoded_subject(separator: str) -> None:
    subject = separator.join([WORD] * 12_000).encode()
    raw = HEAD + b"Subject: " + subject + b"\r\n\r\nbody\r\n"
    assert len(subject) > 350_000
    check_raw_only(raw, "too large")
    envelope = parse_message(raw).envelope
    # The start of the subject is still decoded for the message list.
    assert envelope.subject.startswith("héllo wörld")
    assert len(envelope.subject) <= limits.PREVIEW_FIELD_CHARS
    assert parse_envelope(raw).subject == envelope.subject


def test_encoded_words_over_the_limit_in_a_small_header() -> None:
    subject = " ".join([WORD] * (limits.MAX_ENCODED_WORDS + 1)).encode()
    raw = HEAD + b"Subject: " + subject + b"\r\n\r\nbody\r\n"
    check_raw_only(raw, "too many encoded words in the Subject header")


def test_encoded_words_at_the_limit_are_decoded() -> None:
    subject = " ".join([WORD] * limits.MAX_ENCODED_WORDS).encode()
    parsed = parse_message(HEAD + b"Subject: " + subject + b"\r\n\r\nbody\r\n")
    assert not parsed.raw_only
    assert parsed.envelope.subject == "héllo wörld" * limits.MAX_ENCODED_WORDS


def test_1mb_single_header() -> None:
    raw = HEAD + b"Subject: " + b"word " * 200_000 + b"\r\n\r\nbody\r\n"
    check_raw_only(raw, "header too large")
    assert parse_message(raw).envelope.subject.startswith("word word")


def test_1mb_of_many_headers() -> None:
    many = b"".join(b"X-Filler-%d: some value here\r\n" % i for i in range(40_000))
    raw = HEAD + many + b"Subject: after the filler\r\n\r\nbody\r\n"
    assert len(raw) > 1_000_000
    check_raw_only(raw, "header too large")
    # The fields the envelope needs are still found after the megabyte of others.
    assert parse_message(raw).envelope.subject == "after the filler"


def test_oversized_address_list_keeps_its_first_addresses() -> None:
    to = ", ".join(f"User {i} <user{i}@example.com>" for i in range(3000)).encode()
    raw = HEAD.replace(b"To: bob@example.com\r\n", b"") + b"To: " + to + b"\r\n\r\nbody\r\n"
    check_raw_only(raw, "To header too large")
    envelope = parse_message(raw).envelope
    assert envelope.to[0] == Address("User 0", "user0@example.com")
    assert 10 < len(envelope.to) < 3000


def test_1000_level_multipart_nesting() -> None:
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(1000)
    )
    raw = HEAD + b"Subject: deep\r\n" + levels + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    check_raw_only(raw, "too many parts")


def test_deep_nesting_with_few_parts_is_caught_by_depth() -> None:
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(limits.MAX_DEPTH + 5)
    )
    raw = HEAD + b"Subject: deep\r\n" + levels + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    check_raw_only(raw, "nesting too deep")


def test_nesting_at_the_limit_is_parsed() -> None:
    depth = limits.MAX_DEPTH
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = HEAD + b"Subject: deep\r\n" + levels + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    parsed = parse_message(raw)
    assert not parsed.raw_only
    assert [part.text for part in parsed.text_parts] == ["hi"]


def test_1000_nested_forwarded_messages() -> None:
    levels = b"Content-Type: message/rfc822\r\n\r\n" * 1000
    raw = HEAD + b"Subject: deep\r\n" + levels + b"Subject: inner\r\n\r\nhi\r\n"
    check_raw_only(raw, "nesting too deep")


def test_nesting_hidden_behind_lone_cr_line_ends() -> None:
    # The stdlib parser also splits lines at a lone CR: the measurement must too.
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\r--b%d\r' % (i, i) for i in range(200)
    )
    raw = HEAD + b"Subject: deep\r\n" + levels + b"Content-Type: text/plain\r\rhi\r"
    check_raw_only(raw, "nesting too deep")


@pytest.mark.parametrize("with_content_type", [True, False])
def test_10000_parts(with_content_type: bool) -> None:
    part_header = b"Content-Type: text/plain\r\n" if with_content_type else b""
    body = b"".join(b"--B\r\n%s\r\npart %d\r\n" % (part_header, i) for i in range(10_000))
    raw = (
        HEAD
        + b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + body
        + b"--B--\r\n"
    )
    rendered = check_raw_only(raw, "too many parts")
    assert "part 0" in rendered


def test_parts_at_the_limit_are_parsed() -> None:
    body = b"".join(
        b"--B\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="f%d.bin"\r\n\r\nx\r\n' % i
        for i in range(limits.MAX_PARTS)
    )
    raw = HEAD + b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    parsed = parse_message(raw + body + b"--B--\r\n")
    assert not parsed.raw_only
    assert len(parsed.attachments) == limits.MAX_PARTS
    assert parsed.attachments[-1].filename == f"f{limits.MAX_PARTS - 1}.bin"


def test_huge_content_type_header_in_a_part() -> None:
    params = "; ".join(f'p{i}="v{i}"' for i in range(2000))
    body = f"--B\r\nContent-Type: text/plain; {params}\r\n\r\nhi\r\n--B--\r\n".encode()
    raw = HEAD + b"Subject: ct\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + body
    check_raw_only(raw, "Content-Type header too large")


def test_huge_content_disposition_in_a_part() -> None:
    name = " ".join([WORD] * 6000)
    body = (
        "--B\r\nContent-Type: application/pdf\r\n"
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\nxx\r\n--B--\r\n'
    ).encode()
    raw = HEAD + b"Subject: cd\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + body
    check_raw_only(raw, "Content-Disposition header too large")


def test_5mb_single_line_plain_body() -> None:
    raw = HEAD + b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + b"a" * 5_000_000
    parsed = parse_message(raw)
    assert not parsed.raw_only
    rendered = render_message(parsed, raw)
    lines = rendered.split("\n")
    assert max(map(len, lines)) <= limits.MAX_LINE_CHARS
    assert rendered.endswith(
        f"[message cut: {5_000_000 - limits.MAX_RENDER_CHARS} more characters not shown]"
    )
    assert len(search_text(parsed)) == limits.MAX_SEARCH_CHARS


def test_5mb_single_line_html_body() -> None:
    raw = HEAD + b"Subject: big\r\nContent-Type: text/html\r\n\r\n" + b"<b>bold</b> x " * 360_000
    parsed = parse_message(raw)
    rendered = render_message(parsed, raw)
    assert rendered.startswith("bold x bold x")
    assert "[HTML cut: " in rendered
    assert max(map(len, rendered.split("\n"))) <= limits.MAX_LINE_CHARS


@pytest.mark.parametrize("tag", [b"<ul><li>x", b"<ol><li>x", b"<blockquote>x<br>"])
def test_deeply_nested_html_is_flattened(tag: bytes) -> None:
    raw = HEAD + b"Subject: nest\r\nContent-Type: text/html\r\n\r\n" + tag * 20_000
    parsed = parse_message(raw)
    rendered = render_message(parsed, raw)
    assert len(rendered) <= limits.MAX_RENDER_CHARS + 200
    indent = max(len(line) - len(line.lstrip(" >")) for line in rendered.split("\n"))
    assert indent <= 4 * limits.MAX_HTML_NESTING  # flattened, not 20,000 levels deep


def test_big_attachment_size_is_measured_without_decoding_errors() -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    attachment = base64.encodebytes(data).replace(b"\n", b"\r\n")
    raw = (
        HEAD
        + b"Subject: att\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        + b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        + b"Content-Disposition: attachment; filename=big.pdf\r\n\r\n"
        + attachment
        + b"--B--\r\n"
    )
    parsed = parse_message(raw)
    assert [(a.filename, a.size) for a in parsed.attachments] == [("big.pdf", len(data))]
    assert render_message(parsed, raw) == "see attached\n\n[attachment] big.pdf (9.8 MB)"


def test_measure_structure_counts_depth_and_parts() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b'--M\r\nContent-Type: multipart/alternative;\r\n\tboundary="A"\r\n\r\n'
        b"--A\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b"--A\r\nContent-Type: text/html\r\n\r\nhtml\r\n--A--\r\n"
        b"--M\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n"
        b"--M--\r\n"
    )
    report = limits.measure_structure(raw)
    assert (report.depth, report.parts, report.problems) == (2, 4, ())


def test_header_section_end() -> None:
    assert limits.header_section_end(b"A: b\r\nC: d\r\n\r\nbody") == len(b"A: b\r\nC: d\r\n")
    assert limits.header_section_end(b"A: b\n\nbody") == len(b"A: b\n")
    assert limits.header_section_end(b"\r\nbody") == 0
    assert limits.header_section_end(b"A: b") == 4


def multipart(part_headers: list[bytes]) -> bytes:
    parts = b"".join(b"--B\r\n" + headers + b"\r\n\r\nx\r\n" for headers in part_headers)
    return HEAD + b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + parts


def test_content_type_with_many_comments() -> None:
    comments = b"(c)" * (limits.MAX_PART_FIELD_COMMENTS + 1)
    raw = multipart([b"Content-Type: text/plain; charset=us-ascii " + comments]) + b"--B--\r\n"
    check_raw_only(raw, "Content-Type header too large")


def test_content_type_with_many_parameters() -> None:
    params = b"; ".join(b"p%d=v" % i for i in range(limits.MAX_PART_FIELD_PARAMS + 1))
    raw = multipart([b"Content-Type: text/plain; " + params]) + b"--B--\r\n"
    check_raw_only(raw, "Content-Type header too large")


def test_content_type_fields_too_large_in_total() -> None:
    # Each field is within its own limit; together they are not (and all differ, so the parser
    # could not reuse one parse for the next).
    fields = [
        b'Content-Type: text/plain; name="%d%s"' % (i, b"x" * 1500)
        for i in range(limits.MAX_PART_FIELDS_CHARS // 1500 + 1)
    ]
    check_raw_only(multipart(fields) + b"--B--\r\n", "Content-Type headers too large")


def test_odd_transfer_encoding_is_refused_before_parsing() -> None:
    raw = multipart([b"Content-Transfer-Encoding: base64 " + b"x " * 100]) + b"--B--\r\n"
    check_raw_only(raw, "Content-Transfer-Encoding header too large")


def test_disposition_fields_too_large_in_total() -> None:
    fields = [
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="%d%s"'
        % (i, b"x" * 1500)
        for i in range(limits.MAX_PART_FIELDS_CHARS // 1500 + 1)
    ]
    check_raw_only(multipart(fields) + b"--B--\r\n", "Content-Disposition headers too large")


def test_long_address_list_is_read_by_the_linear_parser() -> None:
    name = "=?utf-8?q?J=C3=BCrgen?="
    to = ", ".join(f'{name} <u{i}@example.com>, "Last, First {i}" <f{i}@x.org>' for i in range(150))
    assert limits.MAX_STRICT_ADDRESS_CHARS < len(to) < limits.MAX_FIELD_CHARS
    parsed = parse_message(HEAD.replace(b"bob@example.com", to.encode()) + b"\r\nbody\r\n")
    assert not parsed.raw_only
    assert len(parsed.envelope.to) == 300
    assert parsed.envelope.to[0] == Address("Jürgen", "u0@example.com")
    assert parsed.envelope.to[299] == Address("Last, First 149", "f149@x.org")


@pytest.mark.parametrize(
    "field",
    [
        "a@example.org " + "(comment)" * 3000,  # comments: quadratic in the newer parser
        "a." * 3000 + "b@example.org",  # dots: likewise
        "(" * 3000 + ")" * 3000 + " a@example.org",  # nesting: RecursionError in both parsers
        "g: " * 3000 + ";",  # nested groups
    ],
)
def test_hostile_address_fields_are_handled(field: str) -> None:
    raw = HEAD.replace(b"To: bob@example.com", b"To: " + field.encode()) + b"\r\nbody\r\n"
    parsed = parse_message(raw)
    assert not parsed.raw_only
    assert parsed.envelope.from_ == (Address("Alice", "alice@example.org"),)
    assert isinstance(parsed.envelope.to, tuple)
    assert all(isinstance(address, Address) for address in parsed.envelope.to)


def test_repeated_content_type_is_parsed_once_per_value() -> None:
    # 499 parts with one and the same long Content-Type: a real digest looks like this.
    field = b"Content-Type: text/plain; charset=us-ascii; format=flowed (Plain Text)"
    parsed = parse_message(multipart([field] * (limits.MAX_PARTS - 1)) + b"--B--\r\n")
    assert not parsed.raw_only
    assert len(parsed.text_parts) == limits.MAX_PARTS - 1
