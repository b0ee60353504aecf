"""mailto: links (RFC 6068): the fields a composer may take, nothing else."""

from __future__ import annotations

import pytest

from tuimail.core.model import Address
from tuimail.mail.mailto import MailtoError, is_mailto, parse_mailto


def test_every_field_a_composer_takes() -> None:
    fields = parse_mailto(
        "mailto:ann@example.org,Bob%20B%20%3Cbob@example.org%3E"
        "?cc=carol@example.org&bcc=dan@example.org&to=erin@example.org"
        "&subject=R%C3%A9union%20%2B%20plan&body=Line%20one%0D%0ALine%20two"
        "&In-Reply-To=%3C1234@example.org%3E"
    )
    assert fields.to == (
        Address("", "ann@example.org"),
        Address("Bob B", "bob@example.org"),
        Address("", "erin@example.org"),
    )
    assert fields.cc == (Address("", "carol@example.org"),)
    assert fields.bcc == (Address("", "dan@example.org"),)
    assert fields.subject == "Réunion + plan", "UTF-8, and + is a plus sign"
    assert fields.body == "Line one\nLine two"
    assert fields.in_reply_to == "1234@example.org"
    assert fields.ignored == ()


def test_attach_and_unknown_fields_are_left_out_and_named() -> None:
    fields = parse_mailto(
        "mailto:ann@example.org?attach=/home/you/.ssh/id_ed25519&X-Evil=1&Subject=Hi&attach=x"
    )
    assert fields.subject == "Hi"
    assert fields.ignored == ("attach", "x-evil")


def test_an_empty_path_and_a_bare_scheme() -> None:
    assert parse_mailto("mailto:?to=ann@example.org").to == (Address("", "ann@example.org"),)
    assert parse_mailto("mailto:") == parse_mailto("MAILTO:")
    assert is_mailto("MailTo:x@y.org") and not is_mailto("http://example.org")


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("http://example.org", "starts with 'mailto:'"),
        ("mailto:ann@example.org?subject=a%0D%0ABcc:%20eve@evil.example", "line break"),
        ("mailto:not-an-address", "is not an address"),
        ("mailto:ann@example.org?In-Reply-To=%3Ca@b%3E%20%3Cc@d%3E", "not one message id"),
        ("mailto:" + "a" * 70_000, "longer than"),
    ],
)
def test_what_cannot_be_used_is_refused_with_the_reason(uri: str, complaint: str) -> None:
    with pytest.raises(MailtoError, match=complaint):
        parse_mailto(uri)
