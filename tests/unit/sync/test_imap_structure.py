"""BODYSTRUCTURE walking and the rebuild of a message's text without its attachments.

The structures are Dovecot 2.3's answers, as sent on the wire, read by imapclient's own parser
(the shape the engine gets). The sections a server would send are cut from the original bytes
by `sections`, which follows RFC 3501's section rules for the well-formed messages used here.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from imapclient.response_parser import parse_fetch_response

from tuimail.mail.attachments import OmittedPart, attachment_payload, listed_attachments
from tuimail.mail.parse import parse_message
from tuimail.sync.imap.structure import PartialPlan, StructureError, plan_partial

# Dovecot's BODYSTRUCTURE answers (the messages built by the functions below).
MIXED = (
    b'1 (UID 1 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL '
    b'NIL NIL)("application" "pdf" NIL NIL NIL "base64" 1410 NIL ("attachment" ("filename" '
    b'"r.pdf")) NIL NIL) "mixed" ("boundary" "===============1616506765532020365==") NIL NIL '
    b"NIL))"
)
NESTED = (
    b'2 (UID 2 BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 11 1 NIL NIL '
    b'NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 17 1 NIL NIL NIL NIL) '
    b'"alternative" ("boundary" "===============1175866362687560479==") NIL NIL NIL)("image" '
    b'"png" NIL NIL NIL "base64" 552 NIL ("attachment" ("filename" "p.png")) NIL NIL) "mixed" '
    b'("boundary" "===============6821492719448786773==") NIL NIL NIL))'
)
RFC822 = (
    b'3 (UID 3 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 15 1 NIL NIL '
    b'NIL NIL)("message" "rfc822" NIL NIL NIL "8bit" 656 (NIL "s" ((NIL NIL "a" "example.org")) '
    b'((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "b" '
    b'"example.org")) NIL NIL NIL NIL) (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 '
    b'1 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL "base64" 140 NIL '
    b'("attachment" ("filename" "z.bin")) NIL NIL) "mixed" ("boundary" '
    b'"===============8858907158737131281==") NIL NIL NIL) 22 NIL ("attachment" NIL) NIL NIL) '
    b'"mixed" ("boundary" "===============7660775835987635756==") NIL NIL NIL))'
)
SINGLE = (
    b'4 (UID 4 BODYSTRUCTURE ("application" "pdf" NIL NIL NIL "base64" 58 NIL ("attachment" '
    b'("filename" "only.pdf")) NIL NIL))'
)
PLAIN = (
    b'5 (UID 5 BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 11 1 NIL NIL '
    b"NIL NIL))"
)
# The same mixed message answered without extension data (as BODY): no boundaries.
MIXED_WITHOUT_EXTENSIONS = (
    b'1 (UID 1 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1)'
    b'("application" "pdf" NIL NIL NIL "base64" 1410) "mixed"))'
)
# multipart/related: an HTML body with an unnamed inline image (not an attachment in the view).
RELATED = (
    b'6 (UID 6 BODYSTRUCTURE (("text" "html" ("charset" "utf-8") NIL NIL "7bit" 40 1 NIL NIL '
    b'NIL NIL)("image" "png" NIL "<img1>" NIL "base64" 552 NIL ("inline" NIL) NIL NIL) '
    b'"related" ("boundary" "rel") NIL NIL NIL))'
)


def structure(line: bytes) -> Any:
    (item,) = parse_fetch_response([line], False, False).values()
    return item[b"BODYSTRUCTURE"]


def plan(line: bytes) -> PartialPlan:
    found = plan_partial(structure(line))
    assert found is not None
    return found


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    msg["Subject"] = "s"
    return msg


def nested_message() -> bytes:
    msg = _message()
    msg.set_content("plain alt\n")
    msg.add_alternative("<p>html alt</p>", subtype="html")
    msg.add_attachment(b"\x89PNG" * 100, maintype="image", subtype="png", filename="p.png")
    # The boundaries Dovecot reported for this message (NESTED).
    msg.set_boundary("===============6821492719448786773==")
    msg.get_payload()[0].set_boundary("===============1175866362687560479==")
    return msg.as_bytes(policy=policy.SMTP)


def rfc822_message() -> bytes:
    inner = _message()
    inner.set_content("inner body\n")
    inner.add_attachment(b"zz" * 50, maintype="application", subtype="octet-stream",
                         filename="z.bin")  # fmt: skip
    msg = _message()
    msg.set_content("see forwarded\n")
    msg.add_attachment(inner)
    msg.set_boundary("===============7660775835987635756==")  # as in RFC822
    return msg.as_bytes(policy=policy.SMTP)


def sections(raw: bytes) -> dict[bytes, bytes]:
    """What a server sends for BODY[HEADER], BODY[n.MIME] and BODY[n] of a well-formed
    message whose multiparts are all descended into (RFC 3501 6.4.5)."""
    found: dict[bytes, bytes] = {}
    header_end = raw.index(b"\r\n\r\n") + 4
    found[b"BODY[HEADER]"] = raw[:header_end]

    def visit(header: bytes, body: bytes, prefix: str) -> None:
        match = re.search(rb'boundary="?([^";\r\n]+)"?', header, re.IGNORECASE)
        if not re.search(rb"content-type:\s*multipart/", header, re.IGNORECASE) or not match:
            return
        delimiter = b"--" + match.group(1)
        pieces = body.split(b"\r\n" + delimiter)
        first = body.split(delimiter, 1)[1] if body.startswith(delimiter) else None
        parts = ([first.split(b"\r\n" + delimiter)[0]] if first is not None else []) + [
            piece for piece in pieces[1:] if not piece.startswith(b"--")
        ]
        for number, part in enumerate(parts, 1):
            part = part[2:]  # the CRLF after the delimiter line
            end = part.index(b"\r\n\r\n") + 4
            section = f"{prefix}{number}"
            found[f"BODY[{section}.MIME]".encode()] = part[:end]
            found[f"BODY[{section}]".encode()] = part[end:]
            visit(part[:end], part[end:], f"{section}.")

    visit(raw[:header_end], raw[header_end:], "")
    return found


def rebuilt(line: bytes, raw: bytes) -> tuple[bytes, list[OmittedPart]]:
    """Rebuild with exactly the items the plan asks for (a request for anything else fails)."""
    partial = plan(line)
    available = sections(raw)
    wanted = {item.removeprefix("BODY.PEEK").encode() for item in partial.items}
    fetched = {b"BODY" + key: available[b"BODY" + key] for key in wanted}
    return partial.rebuild(fetched)


# --- which messages are rebuilt


@pytest.mark.parametrize("line", [PLAIN, RELATED], ids=["plain", "related-inline-image"])
def test_a_message_without_attachments_is_fetched_whole(line: bytes) -> None:
    assert plan_partial(structure(line)) is None


def test_without_extension_data_there_is_no_boundary_so_the_message_is_fetched_whole() -> None:
    assert plan_partial(structure(MIXED_WITHOUT_EXTENSIONS)) is None


@pytest.mark.parametrize("junk", [None, b"", (), (b"text",), [[], b"mixed"], 42])
def test_a_malformed_structure_means_a_whole_fetch(junk: Any) -> None:
    assert plan_partial(junk) is None


def test_a_structure_deeper_than_the_parser_allows_is_fetched_whole() -> None:
    leaf = (b"application", b"pdf", None, None, None, b"base64", 10, None, (b"attachment", None))
    node: Any = leaf
    for _ in range(200):
        node = ([node], b"mixed", (b"boundary", b"b"), None, None, None)
    assert plan_partial(node) is None


# --- what is fetched


def test_mixed_fetches_the_header_the_mime_headers_and_the_text_body_only() -> None:
    assert plan(MIXED).items == (
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[1.MIME]",
        "BODY.PEEK[1]",
        "BODY.PEEK[2.MIME]",
    )


def test_nested_alternative_fetches_both_text_bodies_and_no_attachment() -> None:
    assert plan(NESTED).items == (
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[1.MIME]",
        "BODY.PEEK[1.1.MIME]",
        "BODY.PEEK[1.1]",
        "BODY.PEEK[1.2.MIME]",
        "BODY.PEEK[1.2]",
        "BODY.PEEK[2.MIME]",
    )


def test_a_forwarded_message_is_one_attachment_not_descended_into() -> None:
    assert plan(RFC822).items == (
        "BODY.PEEK[HEADER]",
        "BODY.PEEK[1.MIME]",
        "BODY.PEEK[1]",
        "BODY.PEEK[2.MIME]",
    )


def test_a_message_that_is_one_attachment_fetches_its_header_only() -> None:
    assert plan(SINGLE).items == ("BODY.PEEK[HEADER]",)


# --- the rebuild


def test_nested_rebuild_parses_like_the_original_without_the_attachment_bytes() -> None:
    raw = nested_message()
    partial, omitted = rebuilt(NESTED, raw)
    original, again = parse_message(raw), parse_message(partial)
    assert again.problems == ()
    assert again.text_parts == original.text_parts
    assert again.envelope.subject == original.envelope.subject
    assert [(a.filename, a.content_type) for a in again.attachments] == [("p.png", "image/png")]
    assert b"\x89PNG" not in partial and b"iVBOR" not in partial  # neither raw nor base64
    assert omitted == [OmittedPart("2", "image/png", "p.png", 552)]
    # The original boundaries, headers and MIME headers are kept byte for byte.
    assert partial.startswith(sections(raw)[b"BODY[HEADER]"])
    assert b"--===============" in partial
    assert sections(raw)[b"BODY[1.2.MIME]"] + sections(raw)[b"BODY[1.2]"] in partial


def test_forwarded_message_rebuild_lists_it_with_its_size_as_not_downloaded() -> None:
    raw = rfc822_message()
    partial, omitted = rebuilt(RFC822, raw)
    assert [part.text for part in parse_message(partial).text_parts] == ["see forwarded\n"]
    assert omitted == [OmittedPart("2", "message/rfc822", "", 656)]
    listed = listed_attachments(partial, omitted)
    assert [(item.info.content_type, item.info.size, item.local) for item in listed] == [
        ("message/rfc822", 656, False)
    ]
    assert b"inner body" not in partial


def test_single_attachment_message_rebuild_is_its_header() -> None:
    msg = _message()
    msg.set_content(b"%PDF" * 10, maintype="application", subtype="pdf", filename="only.pdf")
    raw = msg.as_bytes(policy=policy.SMTP)
    header = raw[: raw.index(b"\r\n\r\n") + 4]
    partial, omitted = plan(SINGLE).rebuild({b"BODY[HEADER]": header})
    assert partial == header
    assert omitted == [OmittedPart("1", "application/pdf", "only.pdf", 58)]
    assert attachment_payload(partial, 0) == b""
    (item,) = listed_attachments(partial, omitted)
    assert not item.local and item.info.filename == "only.pdf"


def test_a_missing_item_in_the_answer_raises_so_the_caller_fetches_whole() -> None:
    raw = nested_message()
    fetched = sections(raw)
    del fetched[b"BODY[1.2]"]
    with pytest.raises(StructureError):
        plan(NESTED).rebuild(fetched)


def test_an_empty_text_part_answered_nil_is_empty() -> None:
    raw = nested_message()
    fetched: dict[bytes, Any] = dict(sections(raw))
    fetched[b"BODY[1.1]"] = None
    partial, _ = plan(NESTED).rebuild(fetched)
    assert parse_message(partial).text_parts[0].text == ""


def test_file_names_come_decoded_from_the_mime_header() -> None:
    msg = _message()
    msg.set_content("hi\n")
    msg.add_attachment(b"x" * 10, maintype="application", subtype="pdf", filename="Übersicht.pdf")
    msg.set_boundary("===============1616506765532020365==")  # as in MIXED
    _, omitted = rebuilt(MIXED, msg.as_bytes(policy=policy.SMTP))
    assert omitted[0].filename == "Übersicht.pdf"
