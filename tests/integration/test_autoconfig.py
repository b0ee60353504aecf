"""Autoconfig against the real servers: guesses probed on Dovecot and Postfix, and
`tuimail accounts add --yes` end to end, writing a config that `accounts check` accepts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.http_server import WebServer
from tests.support.keyring_service import running_secret_service
from tests.support.mailservers import MailServers
from tests.support.proxy import FaultProxy, Faults, hide_capability
from tuimail.config.discovered import SourceKind
from tuimail.config.load import load_config
from tuimail.core.model import Protocol, Security
from tuimail.sync.discovery.lookup import lookup
from tuimail.sync.discovery.network import Network
from tuimail.sync.smtp.connect import smtp_client_name

pytestmark = pytest.mark.integration


def _standard_ports(servers: MailServers) -> dict[int, int]:
    """The well-known ports a guess tries -> the test servers' free ports."""
    return {
        993: servers.imaps_port,
        143: servers.imap_port,
        995: servers.pop3s_port,
        110: servers.pop3_port,
        465: servers.smtps_port,
        587: servers.submission_port,
    }


def test_guesses_are_probed_and_ranked(mail_servers: MailServers, closed_port: int) -> None:
    """For alice@localhost, "localhost" itself is the mail host (its certificate names it):
    every name's standard ports lead to the real servers there; mail.localhost leads to the
    server whose certificate is for another name, and nothing else answers."""
    ports = _standard_ports(mail_servers)
    closed = closed_port

    def connect_to(host: str, port: int) -> tuple[str, int]:
        if host == "localhost" and port in ports:
            return "127.0.0.1", ports[port]
        if host == "mail.localhost" and port == 993:
            return mail_servers.wrong_host, mail_servers.imaps_port
        return "127.0.0.1", closed

    network = Network(connect_to=connect_to, mx_lookup=lambda d: [], ca_file=mail_servers.ca_file)
    found = lookup("alice@localhost", network)
    assert found.source is SourceKind.GUESS
    assert [(s.protocol, s.host, s.port, s.security) for s in found.incoming] == [
        (Protocol.IMAP, "localhost", 993, Security.TLS),
        (Protocol.POP3, "localhost", 995, Security.TLS),
        (Protocol.IMAP, "localhost", 143, Security.STARTTLS),
        (Protocol.POP3, "localhost", 110, Security.STARTTLS),
    ]
    assert [(s.port, s.security) for s in found.outgoing] == [
        (465, Security.TLS),
        (587, Security.STARTTLS),
    ]
    # The server that answered with a certificate for another name is not offered, and the
    # lookup says why.
    assert any("mail.localhost:993" in line and "certificate" in line for line in found.tried)
    choice = found.choose()
    assert choice.incoming is not None and choice.incoming.port == 993
    assert choice.smtp is not None and choice.smtp.port == 465


def test_a_guessed_server_without_starttls_is_offered_only_as_plaintext(
    mail_servers: MailServers,
    closed_port: int,
) -> None:
    """Only the server that offers no STARTTLS at all answers: it is listed as unencrypted,
    never chosen without an explicit choice. The probe sent no credentials."""
    ports = _standard_ports(mail_servers)
    closed = closed_port

    def connect_to(host: str, port: int) -> tuple[str, int]:
        if host == "localhost" and port in (143, 110, 587):
            return mail_servers.plain_host, ports[port]
        return "127.0.0.1", closed

    network = Network(connect_to=connect_to, mx_lookup=lambda d: [], ca_file=mail_servers.ca_file)
    found = lookup("alice@localhost", network)
    assert {(s.protocol, s.port, s.security) for s in (*found.incoming, *found.outgoing)} == {
        (Protocol.IMAP, 143, Security.NONE),
        (Protocol.POP3, 110, Security.NONE),
        (Protocol.SMTP, 587, Security.NONE),
    }
    choice = found.choose()
    assert choice.incoming is None and choice.smtp is None and choice.plaintext_withheld
    explicit = found.choose(allow_plaintext=True)
    assert explicit.incoming is not None and explicit.incoming.security is Security.NONE


def test_a_stripped_starttls_turns_a_guess_into_plaintext_never_chosen(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], closed_port: int
) -> None:
    """STARTTLS stripping between the probe and a good server: the guess is then listed as
    unencrypted and not chosen (nothing falls back silently), and the probe sent no login."""
    proxy = fault_proxy(
        mail_servers.host,
        mail_servers.imap_port,
        server=Faults(rewrite_line=hide_capability("STARTTLS")),
    )
    closed = closed_port

    def connect_to(host: str, port: int) -> tuple[str, int]:
        if host == "localhost" and port == 143:
            return proxy.host, proxy.port
        return "127.0.0.1", closed

    network = Network(connect_to=connect_to, mx_lookup=lambda d: [], ca_file=mail_servers.ca_file)
    found = lookup("alice@localhost", network)
    assert [(s.port, s.security) for s in found.incoming] == [(143, Security.NONE)]
    assert found.choose().incoming is None
    sent = bytes(proxy.from_client).upper()
    assert b"CAPABILITY" in sent
    assert b"LOGIN" not in sent and b"AUTHENTICATE" not in sent


def test_the_smtp_probe_gives_the_same_ehlo_name_as_sending(
    mail_servers: MailServers, fault_proxy: Callable[..., FaultProxy], closed_port: int
) -> None:
    """A probe's EHLO is the machine's name (or its address literal), as sending's is; never
    "localhost", which servers may refuse or take for a spoof."""
    proxy = fault_proxy(mail_servers.host, mail_servers.submission_port)
    closed = closed_port

    def connect_to(host: str, port: int) -> tuple[str, int]:
        if host == "localhost" and port == 587:
            return proxy.host, proxy.port
        return "127.0.0.1", closed

    network = Network(connect_to=connect_to, mx_lookup=lambda d: [], ca_file=mail_servers.ca_file)
    found = lookup("alice@localhost", network)
    assert [(s.port, s.security) for s in found.outgoing] == [(587, Security.STARTTLS)]
    first_line = bytes(proxy.from_client).split(b"\r\n")[0].decode()
    expected = smtp_client_name((proxy.host, 0))
    assert first_line == f"ehlo {expected}" or first_line == f"EHLO {expected}"
    assert "localhost" not in first_line.lower()


@pytest.fixture
def ispdb(mail_servers: MailServers) -> Iterator[WebServer]:
    """An ISPDB over https on 127.0.0.1, with the test servers' own certificate."""
    tls = mail_servers.ca_file.parent
    server = WebServer(tls / "good-cert.pem", tls / "good-key.pem").start()
    try:
        yield server
    finally:
        server.stop()


def _tuimail(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuimail", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_accounts_add_yes_writes_a_config_that_accounts_check_accepts(
    mail_servers: MailServers, ispdb: WebServer, tmp_path: Path
) -> None:
    domain = mail_servers.domain
    ispdb.serve(
        "127.0.0.1",
        f"/v1.1/{domain}",
        f"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <displayName>tuimail test servers</displayName>
    <incomingServer type="imap">
      <hostname>{mail_servers.host}</hostname>
      <port>{mail_servers.imap_port}</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>{mail_servers.host}</hostname>
      <port>{mail_servers.imaps_port}</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{mail_servers.host}</hostname>
      <port>{mail_servers.smtps_port}</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
""".encode(),
    )
    config_file = tmp_path / "config" / "config.toml"
    with running_secret_service() as service:
        env = {**service.env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        common = ["--config", str(config_file)]
        added = _tuimail(
            [
                *common,
                "accounts",
                "add",
                mail_servers.address("alice"),
                "--yes",
                "--name",
                "work",
                "--ca-file",
                str(mail_servers.ca_file),
                "--ispdb",
                f"https://127.0.0.1:{ispdb.port}/v1.1/",
            ],
            env,
        )
        assert added.returncode == 0, added.stdout + added.stderr
        assert "the Thunderbird ISPDB" in added.stdout
        assert "tuimail accounts set-password work" in added.stdout
        assert f"/v1.1/{domain}: found" in added.stderr  # the progress lines
        account = load_config(config_file).accounts["work"]
        assert account.incoming is not None and account.smtp is not None
        assert (account.incoming.port, account.incoming.security) == (
            mail_servers.imaps_port,
            Security.TLS,
        )
        assert account.incoming.username == "alice"

        stored = _tuimail(
            [*common, "accounts", "set-password", "work"],
            env,
            stdin=mail_servers.users["alice"] + "\n",
        )
        assert stored.returncode == 0, stored.stderr
        checked = _tuimail([*common, "accounts", "check"], env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count("ok") >= 2


def test_accounts_add_without_yes_and_without_a_terminal_writes_nothing(
    mail_servers: MailServers, ispdb: WebServer, tmp_path: Path
) -> None:
    ispdb.serve(
        "127.0.0.1",
        "/v1.1/tuimail.test",
        b"""<clientConfig version="1.1"><emailProvider id="tuimail.test">
<incomingServer type="imap"><hostname>127.0.0.1</hostname><port>993</port>
<socketType>SSL</socketType><username>%EMAILADDRESS%</username>
<authentication>password-cleartext</authentication></incomingServer>
</emailProvider></clientConfig>""",
    )
    config_file = tmp_path / "config.toml"
    result = _tuimail(
        [
            "--config",
            str(config_file),
            "accounts",
            "add",
            "alice@tuimail.test",
            "--ca-file",
            str(mail_servers.ca_file),
            "--ispdb",
            f"https://127.0.0.1:{ispdb.port}/v1.1/",
        ],
        {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 1
    assert "IMAP 127.0.0.1:993 TLS" in result.stdout
    assert "run again with --yes" in result.stdout
    assert not config_file.exists()
