"""Each TLS-fault address really has its one fault, for every protocol (stdlib clients only)."""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import ipaddress
import poplib
import smtplib
import socket
import ssl
from collections.abc import Callable

import pytest
from cryptography import x509

from tests.support.mailservers import MailServers

pytestmark = pytest.mark.integration

TIMEOUT = 30


# After a failed upgrade the socket is unusable, so the clients below close it without the
# polite LOGOUT/QUIT that their context managers would try (and fail with, hiding the TLS error).


def imap_starttls(host: str, port: int, context: ssl.SSLContext) -> None:
    imap = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    try:
        imap.starttls(ssl_context=context)
    finally:
        with contextlib.suppress(OSError):
            imap.shutdown()


def imaps(host: str, port: int, context: ssl.SSLContext) -> None:
    with imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT):
        pass


def pop3_stls(host: str, port: int, context: ssl.SSLContext) -> None:
    pop = poplib.POP3(host, port, timeout=TIMEOUT)
    try:
        pop.stls(context=context)
    finally:
        with contextlib.suppress(OSError):
            pop.close()


def pop3s(host: str, port: int, context: ssl.SSLContext) -> None:
    poplib.POP3_SSL(host, port, context=context, timeout=TIMEOUT).close()


def submission_starttls(host: str, port: int, context: ssl.SSLContext) -> None:
    smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
    try:
        smtp.starttls(context=context)
    finally:
        smtp.close()


def smtps(host: str, port: int, context: ssl.SSLContext) -> None:
    with smtplib.SMTP_SSL(host, port, context=context, timeout=TIMEOUT):
        pass


Handshake = Callable[[str, int, ssl.SSLContext], None]

# protocol -> (port attribute, a client that connects and completes the TLS handshake)
PROTOCOLS: dict[str, tuple[str, Handshake]] = {
    "imap-starttls": ("imap_port", imap_starttls),
    "imaps": ("imaps_port", imaps),
    "pop3-stls": ("pop3_port", pop3_stls),
    "pop3s": ("pop3s_port", pop3s),
    "submission-starttls": ("submission_port", submission_starttls),
    "smtps": ("smtps_port", smtps),
}
IMPLICIT_TLS = ["imaps", "pop3s", "smtps"]
STARTTLS = ["imap-starttls", "pop3-stls", "submission-starttls"]

# OpenSSL verification codes
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_IP_ADDRESS_MISMATCH = 64


def handshake(servers: MailServers, protocol: str, host: str, context: ssl.SSLContext) -> None:
    port_attribute, client = PROTOCOLS[protocol]
    client(host, getattr(servers, port_attribute), context)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_good_host_verifies(mail_servers: MailServers, protocol: str) -> None:
    handshake(mail_servers, protocol, mail_servers.host, mail_servers.client_ssl_context())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_localhost_verifies_too(mail_servers: MailServers, protocol: str) -> None:
    handshake(mail_servers, protocol, "localhost", mail_servers.client_ssl_context())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_untrusting_client_refuses_the_good_host(
    mail_servers: MailServers, protocol: str
) -> None:
    # The system CAs do not know the test CA: verification must fail as "untrusted".
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(mail_servers, protocol, mail_servers.host, ssl.create_default_context())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_wrong_host_fails_on_the_name_only(mail_servers: MailServers, protocol: str) -> None:
    context = mail_servers.client_ssl_context()
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        handshake(mail_servers, protocol, mail_servers.wrong_host, context)
    assert failure.value.verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH
    # Without the name check the same certificate is fine: trusted chain, valid dates.
    lenient = mail_servers.client_ssl_context()
    lenient.check_hostname = False
    handshake(mail_servers, protocol, mail_servers.wrong_host, lenient)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_expired_host_fails_on_the_date_only(mail_servers: MailServers, protocol: str) -> None:
    context = mail_servers.client_ssl_context()
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        handshake(mail_servers, protocol, mail_servers.expired_host, context)
    assert failure.value.verify_code == X509_V_ERR_CERT_HAS_EXPIRED


def test_the_expired_certificate_is_otherwise_valid(mail_servers: MailServers) -> None:
    # Python cannot skip only the date check, so read the certificate and check the rest.
    ca = x509.load_pem_x509_certificate(mail_servers.ca_file.read_bytes())
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((mail_servers.expired_host, mail_servers.imaps_port)) as raw,
        unverified.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    certificate = x509.load_der_x509_certificate(der)
    certificate.verify_directly_issued_by(ca)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address(mail_servers.expired_host) in names.get_values_for_type(
        x509.IPAddress
    )
    assert certificate.not_valid_after_utc < datetime.datetime.now(datetime.UTC)


def test_the_plain_host_offers_no_starttls_for_imap(mail_servers: MailServers) -> None:
    with imaplib.IMAP4(mail_servers.plain_host, mail_servers.imap_port, timeout=TIMEOUT) as imap:
        assert "STARTTLS" not in imap.capabilities
        assert "AUTH=PLAIN" in imap.capabilities
        # The one fault is the missing TLS: the plaintext login works there (loopback only).
        imap.login("alice", mail_servers.users["alice"])


def test_the_plain_host_offers_no_stls_for_pop3(mail_servers: MailServers) -> None:
    pop = poplib.POP3(mail_servers.plain_host, mail_servers.pop3_port, timeout=TIMEOUT)
    try:
        capabilities = pop.capa()
        assert "STLS" not in capabilities
        assert "USER" in capabilities
        pop.user("alice")
        pop.pass_(mail_servers.users["alice"])
    finally:
        pop.quit()


def test_the_plain_host_offers_no_starttls_for_smtp(mail_servers: MailServers) -> None:
    with smtplib.SMTP(
        mail_servers.plain_host, mail_servers.submission_port, timeout=TIMEOUT
    ) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert smtp.has_extn("auth")
        smtp.login("alice", mail_servers.users["alice"])


@pytest.mark.parametrize("protocol", STARTTLS)
def test_starttls_clients_refuse_the_plain_host(mail_servers: MailServers, protocol: str) -> None:
    with pytest.raises((imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPNotSupportedError)):
        handshake(mail_servers, protocol, mail_servers.plain_host, ssl.create_default_context())


@pytest.mark.parametrize("protocol", IMPLICIT_TLS)
def test_implicit_tls_ports_do_not_listen_on_the_plain_host(
    mail_servers: MailServers, protocol: str
) -> None:
    with pytest.raises(ConnectionRefusedError):
        handshake(mail_servers, protocol, mail_servers.plain_host, ssl.create_default_context())


@pytest.mark.parametrize("host_attribute", ["host", "wrong_host", "expired_host"])
def test_starttls_is_offered_on_every_tls_host(
    mail_servers: MailServers, host_attribute: str
) -> None:
    host = getattr(mail_servers, host_attribute)
    with imaplib.IMAP4(host, mail_servers.imap_port, timeout=TIMEOUT) as imap:
        assert "STARTTLS" in imap.capabilities
    pop = poplib.POP3(host, mail_servers.pop3_port, timeout=TIMEOUT)
    try:
        assert "STLS" in pop.capa()
    finally:
        pop.quit()
    with smtplib.SMTP(host, mail_servers.submission_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
