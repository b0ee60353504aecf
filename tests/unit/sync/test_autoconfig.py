"""Autoconfig: Thunderbird's lookup order, the clientConfig format, ranking and its safety
limits, against loopback HTTP(S) and DNS servers that the real host names are routed to."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme

from tests.support.autoconfig_xml import (
    EXAMPLE_XML,
    ISP_PATH,
    PLAIN_ONLY_XML,
    config_xml,
    server_xml,
)
from tests.support.http_server import Answer, MxServer, WebServer
from tuimail.cli.accounts_add import AddOptions, add_command
from tuimail.config.discovered import Autoconfig, AutoconfigError, SourceKind, rank
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.core.model import Protocol, Security
from tuimail.sync.discovery.ispdb import MAX_CONFIG_BYTES, parse_client_config
from tuimail.sync.discovery.lookup import lookup
from tuimail.sync.discovery.mx import mx_hosts
from tuimail.sync.discovery.names import registrable_domain, split_address
from tuimail.sync.discovery.network import Network

WELL_KNOWN_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"


OAUTH_ONLY_XML = config_xml(
    "oauthonly.test",
    server_xml("imap", "incomingServer", "imap.oauthonly.test", 993, "SSL", "OAuth2"),
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE clientConfig [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<clientConfig version="1.1"><emailProvider id="x"><displayName>&lol9;</displayName>
<incomingServer type="imap"><hostname>imap.bomb.test</hostname><port>993</port>
<socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE clientConfig SYSTEM "file:///etc/passwd">
<clientConfig version="1.1"><emailProvider id="x"/></clientConfig>
"""

# Every name a test routes to the loopback web servers.
HOST_NAMES = [
    "autoconfig.example.com",
    "example.com",
    "autoconfig.thunderbird.net",
    "autoconfig.plainmail.test",
    "plainmail.test",
    "autoconfig.custom.test",
    "custom.test",
]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def web(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[WebServer, WebServer]]:
    """(https server, http server), the https one with a certificate for every HOST_NAMES."""
    leaf = ca.issue_cert(*HOST_NAMES)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    https, http = WebServer(cert, key).start(), WebServer().start()
    try:
        yield https, http
    finally:
        https.stop()
        http.stop()


@pytest.fixture
def network(web: tuple[WebServer, WebServer], ca_file: Path, closed_port: int) -> Network:
    """Port 443 of any name goes to the https server, port 80 to the http one, and every other
    port is refused; no MX records."""
    https, http = web
    closed = closed_port

    def connect_to(host: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", {443: https.port, 80: http.port}.get(port, closed)

    return Network(connect_to=connect_to, mx_lookup=lambda domain: [], ca_file=ca_file)


# --- the file format ---------------------------------------------------------------------------


def test_a_real_format_file_is_parsed_with_placeholders_and_ranked() -> None:
    provider, servers, notes = parse_client_config(EXAMPLE_XML, "alice@example.com")
    assert provider == "Example Mail"
    assert [(s.protocol, s.host, s.port, s.security, s.username) for s in servers] == [
        (Protocol.POP3, "pop.example.com", 995, Security.TLS, "alice"),
        (Protocol.IMAP, "imap.example.com", 143, Security.STARTTLS, "alice"),
        (Protocol.IMAP, "imap.example.com", 993, Security.TLS, "alice"),
        (Protocol.SMTP, "smtp.example.com", 587, Security.STARTTLS, "alice@example.com"),
        (Protocol.SMTP, "smtp.example.com", 465, Security.TLS, "alice@example.com"),
    ]
    assert notes == ["a exchange server is not supported"]
    assert servers[2].oauth2 and servers[2].password_login


def test_implicit_tls_first_then_starttls_imap_before_pop3(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    web[0].serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    found = lookup("alice@example.com", network, guess=False)
    assert [(s.protocol, s.port) for s in found.incoming] == [
        (Protocol.IMAP, 993),
        (Protocol.POP3, 995),
        (Protocol.IMAP, 143),
    ]
    assert [s.port for s in found.outgoing] == [465, 587]
    choice = found.choose()
    assert choice.incoming is not None and choice.incoming.port == 993
    assert choice.smtp is not None and choice.smtp.port == 465
    assert any("OAuth2" in w for w in choice.warnings)  # the hint, for a later OAuth2 login
    assert found.source is SourceKind.ISP and not found.insecure_source
    assert found.provider == "Example Mail"


def test_plaintext_is_never_chosen_silently() -> None:
    _, servers, _ = parse_client_config(PLAIN_ONLY_XML, "bob@plainmail.test")
    found = Autoconfig(
        "bob@plainmail.test",
        source=SourceKind.ISPDB,
        incoming=rank(s for s in servers if s.protocol is not Protocol.SMTP),
        outgoing=rank(s for s in servers if s.protocol is Protocol.SMTP),
    )
    withheld = found.choose()
    assert withheld.incoming is None and withheld.smtp is None
    assert withheld.plaintext_withheld
    assert any("unencrypted" in w and "not chosen" in w for w in withheld.warnings)
    assert any("UNENCRYPTED" in line for line in found.describe())

    chosen = found.choose(allow_plaintext=True)
    assert chosen.incoming is not None and chosen.incoming.security is Security.NONE
    assert any("UNENCRYPTED" in w for w in chosen.warnings)


def test_an_oauth2_only_server_is_recorded_but_not_chosen() -> None:
    _, servers, _ = parse_client_config(OAUTH_ONLY_XML, "carol@oauthonly.test")
    assert servers[0].oauth2 and not servers[0].password_login
    choice = Autoconfig("carol@oauthonly.test", incoming=tuple(servers)).choose()
    assert choice.incoming is None
    assert any("OAuth2" in w for w in choice.warnings)


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_doctype_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(AutoconfigError, match="DOCTYPE"):
        parse_client_config(data, "alice@example.com")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<html><body>hello</body></html>", "not a clientConfig"),
        (b"<clientConfig version='1.1'></clientConfig>", "no <emailProvider>"),
        (b"<clientConfig><emailProvider", "not well-formed"),
    ],
)
def test_files_that_are_not_client_configs_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(AutoconfigError, match=problem):
        parse_client_config(data, "alice@example.com")


def test_hostile_host_names_and_ports_are_left_out() -> None:
    data = config_xml(
        "evil.test",
        server_xml("imap", "incomingServer", "imap.evil.test/../x", 993, "SSL")
        + server_xml("imap", "incomingServer", "imap.evil.test", 99999, "SSL")
        + server_xml("imap", "incomingServer", "imap.evil.test", 993, "SSLv2")
        + server_xml("imap", "incomingServer", "\u202eimap.evil.test\x85", 993, "SSL"),
    )
    _, servers, notes = parse_client_config(data, "eve@evil.test")
    assert servers == []
    assert len(notes) == 4
    assert not any("\u202e" in note or "\x85" in note for note in notes)


def test_addresses_and_domains() -> None:
    assert split_address("Alice@Example.COM") == ("Alice", "example.com")
    assert split_address("jörg@bücher.example") == ("jörg", "xn--bcher-kva.example")
    for bad in ("alice", "alice@", "@example.com", "a b@example.com", "alice@exa mple.com",
                "alice@example.com/evil"):  # fmt: skip
        with pytest.raises(AutoconfigError):
            split_address(bad)
    assert registrable_domain("aspmx.l.google.com") == "google.com"
    assert registrable_domain("mx1.mail.example.co.uk") == "example.co.uk"
    assert registrable_domain("example.org") == "example.org"


# --- the lookup order over HTTP(S) -------------------------------------------------------------


def test_the_isp_server_gets_the_address_and_wins_over_the_ispdb(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, _ = web
    https.serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", OAUTH_ONLY_XML)
    lines: list[str] = []
    found = lookup("alice@example.com", network, lines.append, guess=False)
    assert found.source is SourceKind.ISP
    assert found.source_url == "https://autoconfig.example.com/mail/config-v1.1.xml"
    assert ("autoconfig.example.com", ISP_PATH + "?emailaddress=alice%40example.com") in (
        https.requests
    )
    assert lines[-1].endswith("config-v1.1.xml: found")


def test_then_the_well_known_address_then_the_ispdb(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, _ = web
    https.serve("example.com", WELL_KNOWN_PATH, EXAMPLE_XML)
    found = lookup("alice@example.com", network, guess=False)
    assert found.source is SourceKind.WELL_KNOWN
    assert any("autoconfig.example.com" in line and "not found" in line for line in found.tried)

    del https.routes[("example.com", WELL_KNOWN_PATH)]
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", EXAMPLE_XML)
    found = lookup("alice@example.com", network, guess=False)
    assert found.source is SourceKind.ISPDB
    assert found.source_url == "https://autoconfig.thunderbird.net/v1.1/example.com"


def test_a_file_over_plain_http_is_marked_insecure_and_gets_no_address(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, http = web
    http.serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", EXAMPLE_XML)
    found = lookup("alice@example.com", network, guess=False)
    # Thunderbird's order: the provider's own file over http still comes before the ISPDB.
    assert found.source is SourceKind.ISP and found.insecure_source
    assert ("autoconfig.example.com", ISP_PATH) in http.requests
    assert all("alice" not in path for _, path in http.requests)
    assert any("unencrypted HTTP" in w for w in found.choose().warnings)


def test_a_slow_server_times_out_and_the_next_source_answers(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, _ = web
    https.serve("autoconfig.example.com", ISP_PATH, Answer(stall=True))
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", EXAMPLE_XML)
    found = lookup("alice@example.com", replace(network, fetch_timeout=0.5), guess=False)
    assert found.source is SourceKind.ISPDB
    assert any("autoconfig.example.com" in line and "timed out" in line for line in found.tried)


def test_an_oversized_answer_is_refused(network: Network, web: tuple[WebServer, WebServer]) -> None:
    https, _ = web
    big = EXAMPLE_XML.replace(b"<displayName>", b"<displayName>" + b"x" * MAX_CONFIG_BYTES)
    https.serve("autoconfig.example.com", ISP_PATH, big)
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", OAUTH_ONLY_XML)
    found = lookup("alice@example.com", network, guess=False)
    assert found.source is SourceKind.ISPDB
    assert any("too large" in line for line in found.tried)


def test_a_doctype_bomb_is_refused_and_the_lookup_goes_on(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, _ = web
    https.serve("autoconfig.example.com", ISP_PATH, BILLION_LAUGHS)
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.com", EXAMPLE_XML)
    found = lookup("alice@example.com", network, guess=False)
    assert found.source is SourceKind.ISPDB
    assert any("DOCTYPE" in line for line in found.tried)


def test_redirects_are_followed_a_few_times_never_down_to_http(
    network: Network, web: tuple[WebServer, WebServer]
) -> None:
    https, _ = web
    moved = (("Location", "https://example.com/moved.xml"),)
    https.serve("autoconfig.example.com", ISP_PATH, Answer(status=301, headers=moved))
    https.serve("example.com", "/moved.xml", EXAMPLE_XML)
    assert lookup("alice@example.com", network, guess=False).source is SourceKind.ISP

    down = (("Location", "http://example.com/moved.xml"),)
    https.serve("autoconfig.example.com", ISP_PATH, Answer(status=302, headers=down))
    found = lookup("alice@example.com", network, guess=False)
    assert not found.found
    assert any("https to unencrypted http was refused" in line for line in found.tried)

    loop = (("Location", "/loop"),)
    https.serve("autoconfig.example.com", ISP_PATH, Answer(status=307, headers=loop))
    https.serve("autoconfig.example.com", "/loop", Answer(status=307, headers=loop))
    found = lookup("alice@example.com", network, guess=False)
    assert any("more than 3 redirects" in line for line in found.tried)


def test_certificates_are_verified(network: Network, web: tuple[WebServer, WebServer]) -> None:
    https, _ = web
    https.serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    found = lookup("alice@example.com", replace(network, ca_file=None), guess=False)
    assert not found.found
    assert any("certificate" in line for line in found.tried)


# --- MX ------------------------------------------------------------------------------------------


@pytest.fixture
def dns_server() -> Iterator[MxServer]:
    server = MxServer(
        {
            "custom.test": [(20, "backup.mailhost.example.org"), (10, "mx1.mailhost.example.org")],
            "nomail.test": [(0, "")],  # a null MX (RFC 7505): no mail here
            "empty.test": [],
        }
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_mx_hosts_through_a_real_resolver(dns_server: MxServer) -> None:
    ask = {"nameservers": ["127.0.0.1"], "port": dns_server.port, "timeout": 5.0}
    assert mx_hosts("custom.test", **ask) == [
        "mx1.mailhost.example.org",
        "backup.mailhost.example.org",
    ]
    assert mx_hosts("unknown.test", **ask) == []
    assert mx_hosts("nomail.test", **ask) == []
    assert mx_hosts("empty.test", **ask) == []
    assert dns_server.queries[:2] == ["custom.test", "unknown.test"]


def test_the_mx_hosts_domain_is_asked_in_the_ispdb(
    network: Network, web: tuple[WebServer, WebServer], dns_server: MxServer
) -> None:
    https, _ = web
    https.serve("autoconfig.thunderbird.net", "/v1.1/example.org", EXAMPLE_XML)

    def mx(domain: str) -> list[str]:
        return mx_hosts(domain, nameservers=["127.0.0.1"], port=dns_server.port)

    found = lookup("dan@custom.test", replace(network, mx_lookup=mx), guess=False)
    assert found.source is SourceKind.MX
    assert found.source_url == "https://autoconfig.thunderbird.net/v1.1/example.org"
    # Placeholders take the user's own address, not the provider's domain.
    assert found.outgoing[0].username == "dan@custom.test"
    assert any("mx1.mailhost.example.org" in line for line in found.tried)


# --- accounts add, in process (the subprocess run is in tests/integration) ------------------


def test_add_writes_the_chosen_settings_after_confirmation(
    network: Network, web: tuple[WebServer, WebServer], tmp_path: Path
) -> None:
    web[0].serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    path = tmp_path / "config.toml"
    out, err = io.StringIO(), io.StringIO()
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return True

    options = AddOptions("alice@example.com", path, Config(), confirm=confirm, network=network)
    status, name = add_command(options, out, err)
    assert (status, name) == (0, "example")
    assert asked and "Found in the provider's autoconfig server" in out.getvalue()
    account = load_config(path).accounts["example"]
    assert account.incoming is not None and account.smtp is not None
    assert (account.incoming.host, account.incoming.port) == ("imap.example.com", 993)
    assert account.incoming.security is Security.TLS and account.incoming.username == "alice"
    assert (account.smtp.port, account.smtp.security) == (465, Security.TLS)

    # A second account of the same domain gets a free name.
    status, name = add_command(replace(options, config=load_config(path)), out, err)
    assert (status, name) == (0, "example-2")


def test_add_shows_a_provider_file_s_method_names_sanitized(
    network: Network, web: tuple[WebServer, WebServer], tmp_path: Path
) -> None:
    """Only an unknown sign-in method is offered: the warning quotes its name from the file,
    which must not reach the terminal with its control characters (XML allows C1 and bidi)."""
    hostile = "X\u009b2J\u202eevil"
    web[0].serve(
        "autoconfig.example.com",
        ISP_PATH,
        config_xml(
            "example.com",
            server_xml("imap", "incomingServer", "imap.example.com", 993, "SSL", hostile),
            server_xml("smtp", "outgoingServer", "smtp.example.com", 465, "SSL"),
        ),
    )
    out = io.StringIO()
    options = AddOptions("a@example.com", tmp_path / "c.toml", Config(), network=network)
    assert add_command(options, out, io.StringIO()) == (1, None)
    shown = out.getvalue()
    assert "Warning: The incoming servers found accept only X" in shown
    assert "\u009b" not in shown and "\u202e" not in shown


def test_add_without_a_way_to_confirm_writes_nothing(
    network: Network, web: tuple[WebServer, WebServer], tmp_path: Path
) -> None:
    web[0].serve("autoconfig.example.com", ISP_PATH, EXAMPLE_XML)
    path = tmp_path / "config.toml"
    out = io.StringIO()
    status, name = add_command(
        AddOptions("alice@example.com", path, Config(), network=network), out, io.StringIO()
    )
    assert (status, name) == (1, None) and not path.exists()
    assert "--yes" in out.getvalue()


def test_add_refuses_plaintext_unless_allowed(
    network: Network, web: tuple[WebServer, WebServer], tmp_path: Path
) -> None:
    web[0].serve("autoconfig.plainmail.test", ISP_PATH, PLAIN_ONLY_XML)
    path = tmp_path / "config.toml"
    out = io.StringIO()
    options = AddOptions(
        "bob@plainmail.test", path, Config(), confirm=lambda q: True, network=network
    )
    assert add_command(options, out, io.StringIO()) == (1, None)
    assert "--allow-plaintext" in out.getvalue() and not path.exists()

    # Allowed, the choice is made, and the config's own rule (plaintext only to a loopback host)
    # still refuses to write it.
    err = io.StringIO()
    assert add_command(replace(options, allow_plaintext=True), out, err) == (1, None)
    assert "loopback" in err.getvalue() and not path.exists()


def test_add_finds_nothing_and_says_so(network: Network, tmp_path: Path) -> None:
    out = io.StringIO()
    options = AddOptions(
        "erin@custom.test",
        tmp_path / "config.toml",
        Config(),
        confirm=lambda q: True,
        network=replace(network, probe_timeout=2.0),
    )
    assert add_command(options, out, io.StringIO()) == (1, None)
    assert "No settings were found" in out.getvalue()


def test_a_ca_file_that_is_no_certificate_is_said_to_be_unusable(
    network: Network, tmp_path: Path
) -> None:
    not_a_certificate = tmp_path / "ca.pem"
    not_a_certificate.write_text("hello\n")
    err = io.StringIO()
    options = AddOptions(
        "alice@example.com",
        tmp_path / "config.toml",
        Config(),
        confirm=lambda q: True,
        network=replace(network, ca_file=not_a_certificate),
    )
    assert add_command(options, io.StringIO(), err) == (2, None)
    assert "cannot be used" in err.getvalue()
