"""Internationalized addresses: IDNA 2008 domains, SMTPUTF8 decisions, the EHLO name."""

from __future__ import annotations

import pytest

from tuimail.config.load import parse_config
from tuimail.config.schema import ConfigError
from tuimail.mail.idn import AddressEncodingError, envelope_address, needs_smtputf8
from tuimail.sync.smtp import connect as smtp_connect


def test_envelope_addresses_have_a_label_domains_and_keep_the_local_part() -> None:
    assert envelope_address("joerg@exämple.org") == "joerg@xn--exmple-cua.org"
    assert envelope_address("jörg@EXÄMPLE.org") == "jörg@xn--exmple-cua.org"  # UTS #46 mapping
    assert envelope_address("a@straße.de") == "a@xn--strae-oqa.de"  # IDNA 2008, not "strasse"
    assert envelope_address("plain@example.org") == "plain@example.org"
    with pytest.raises(AddressEncodingError, match="not a valid internationalized domain"):
        envelope_address("a@ex\u200dample.org")


def test_only_a_non_ascii_local_part_needs_smtputf8() -> None:
    assert needs_smtputf8("jörg@example.org")
    assert not needs_smtputf8("joerg@exämple.org")
    assert not needs_smtputf8("joerg@example.org")


def _smtp_config(helo: str) -> str:
    return (
        '[accounts.a]\naddress = "a@example.org"\n'
        f'[accounts.a.smtp]\nhost = "smtp.example.org"\nhelo_name = "{helo}"\n'
    )


@pytest.mark.parametrize(
    "helo", ["mail.example.org", "laptop", "[192.0.2.1]", "[IPv6:2001:db8::1]"]
)
def test_helo_name_takes_host_names_and_address_literals(helo: str) -> None:
    account = parse_config(_smtp_config(helo)).accounts["a"]
    assert account.smtp is not None and account.smtp.helo_name == helo


@pytest.mark.parametrize("helo", ["two words", "-bad.example", "ex_ample.org", "bücher.example"])
def test_helo_name_refuses_what_is_not_a_name(helo: str) -> None:
    with pytest.raises(ConfigError, match="helo_name"):
        parse_config(_smtp_config(helo))


def test_ehlo_name_is_the_fqdn_or_else_an_address_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_connect.socket, "getfqdn", lambda: "host.example.org")
    assert smtp_connect.smtp_client_name(("192.0.2.7", 40000)) == "host.example.org"
    for unqualified in ("localhost", "localhost.localdomain", "laptop", "127.0.0.1"):
        monkeypatch.setattr(smtp_connect.socket, "getfqdn", lambda name=unqualified: name)
        assert smtp_connect.smtp_client_name(("192.0.2.7", 40000)) == "[192.0.2.7]"
        assert smtp_connect.smtp_client_name(("2001:db8::7", 40000, 0, 0)) == "[IPv6:2001:db8::7]"
