"""tuimail.core.tls: the one SSL context, and failures in words (real in-process handshakes)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from pathlib import Path

import pytest
import trustme

from tests.support.tls_peers import TlsPeers
from tuimail.core.failure import FailureKind
from tuimail.core.tls import (
    certificate_names,
    certificate_would_explain,
    describe_tls_error,
    make_inspection_context,
    make_ssl_context,
    printable_line,
    system_trust,
    tls_problem,
)


def test_context_verifies_and_refuses_old_tls() -> None:
    context = make_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_ca_file_is_added_to_the_trust_store(tls_peers: TlsPeers) -> None:
    without = make_ssl_context()
    with_ca = make_ssl_context(tls_peers.ca_file)
    ca_subjects = [cert["subject"] for cert in with_ca.get_ca_certs()]
    assert len(with_ca.get_ca_certs()) == len(without.get_ca_certs()) + 1
    assert any("trustme" in str(subject) for subject in ca_subjects)


def _system_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    hashed: list[trustme.CA],
    bundle: list[trustme.CA],
) -> Path:
    """A system trust store as OpenSSL finds it (SSL_CERT_DIR, SSL_CERT_FILE): a hashed directory
    of `hashed` (`openssl rehash`) and a bundle file of `bundle`. Returns the directory."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to build a hashed certificate directory")
    directory = tmp_path / "certs"
    directory.mkdir()
    for number, ca in enumerate(hashed):
        ca.cert_pem.write_to_path(str(directory / f"ca{number}.pem"))
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    bundle_file = tmp_path / "ca-certificates.crt"
    bundle_file.write_bytes(b"".join(ca.cert_pem.bytes() for ca in bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle_file))
    return directory


def test_system_store_is_read_lazily_from_its_hashed_directory(
    tls_peers: TlsPeers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The directory holds what the bundle holds: nothing is parsed when the context is made
    # (a whole bundle is tens of milliseconds with OpenSSL 3, on every connection), and the
    # chain's CA is read from the directory during the handshake.
    directory = _system_store(tmp_path, monkeypatch, hashed=[tls_peers.ca], bundle=[tls_peers.ca])
    assert system_trust() == str(directory)
    context = make_ssl_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    version = tls_peers.handshake(
        tls_peers.server_context(tls_peers.good), context, then=lambda sock: sock.version()
    )
    assert version in ("TLSv1.2", "TLSv1.3")
    assert context.cert_store_stats()["x509_ca"] == 1


def test_bundle_with_more_than_the_directory_is_loaded_whole(
    tls_peers: TlsPeers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CA only in the bundle (a company's, added to the file SSL_CERT_FILE names) stays trusted.
    extra = trustme.CA()
    _system_store(tmp_path, monkeypatch, hashed=[tls_peers.ca], bundle=[tls_peers.ca, extra])
    assert system_trust() is None
    context = make_ssl_context()
    assert context.cert_store_stats()["x509_ca"] == 2
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    extra.issue_cert("imap.example.org").configure_cert(server)
    version = tls_peers.handshake(server, context, then=lambda sock: sock.version())
    assert version in ("TLSv1.2", "TLSv1.3")


def test_unreadable_ca_file_raises(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        make_ssl_context(not_pem)


def test_trusted_certificate_handshakes(tls_peers: TlsPeers) -> None:
    version = tls_peers.handshake(
        tls_peers.server_context(tls_peers.good),
        make_ssl_context(tls_peers.ca_file),
        then=lambda sock: sock.version(),
    )
    assert version in ("TLSv1.2", "TLSv1.3")


def test_unknown_ca_is_untrusted(tls_peers: TlsPeers) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_peers.handshake(tls_peers.server_context(tls_peers.good), make_ssl_context())
    assert tls_problem(caught.value) is FailureKind.TLS_UNTRUSTED
    assert not certificate_would_explain(caught.value)
    message = describe_tls_error(caught.value, host="imap.example.org")
    assert message.startswith("certificate not trusted (self-signed or unknown CA; set ca_file")
    assert "unable to get local issuer certificate" in message


def test_expired_certificate_names_the_date(tls_peers: TlsPeers) -> None:
    server = tls_peers.server_context(tls_peers.expired)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_peers.handshake(server, make_ssl_context(tls_peers.ca_file))
    assert tls_problem(caught.value) is FailureKind.TLS_EXPIRED
    assert certificate_would_explain(caught.value)
    assert describe_tls_error(caught.value) == "certificate has expired"
    # The inspection context reads the certificate despite its dates, to say when it expired.
    cert = tls_peers.handshake(
        server,
        make_inspection_context(tls_peers.ca_file),
        then=lambda sock: sock.getpeercert(),
    )
    assert describe_tls_error(caught.value, cert=cert) == "certificate expired on 2021-01-01"


def test_wrong_name_says_which_names_the_certificate_has(tls_peers: TlsPeers) -> None:
    server = tls_peers.server_context(tls_peers.other_name)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_peers.handshake(server, make_ssl_context(tls_peers.ca_file), host="imap.example.org")
    assert tls_problem(caught.value) is FailureKind.TLS_HOSTNAME
    assert certificate_would_explain(caught.value)
    cert = tls_peers.handshake(
        server,
        make_inspection_context(tls_peers.ca_file),
        host="imap.example.org",
        then=lambda sock: sock.getpeercert(),
    )
    assert (
        describe_tls_error(caught.value, host="imap.example.org", cert=cert)
        == "certificate is for other.example, not imap.example.org"
    )
    assert (
        describe_tls_error(caught.value, host="imap.example.org")
        == "certificate is not valid for imap.example.org"
    )


def test_inspection_context_still_requires_a_trusted_chain(tls_peers: TlsPeers) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_peers.handshake(
            tls_peers.server_context(tls_peers.expired), make_inspection_context(None)
        )


def test_server_with_only_old_tls_versions(tls_peers: TlsPeers) -> None:
    server = tls_peers.server_context(tls_peers.good)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: the point
        server.minimum_version = ssl.TLSVersion.TLSv1
        server.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as caught:
        tls_peers.handshake(server, make_ssl_context(tls_peers.ca_file))
    assert tls_problem(caught.value) is FailureKind.TLS_OTHER
    assert "older than 1.2" in describe_tls_error(caught.value)


def test_plaintext_answer_on_a_tls_port(tls_peers: TlsPeers) -> None:
    server_sock, client_sock = socket.socketpair()

    def greet_in_plain_text() -> None:
        server_sock.sendall(b"* OK IMAP4rev1 ready\r\n" * 4)
        server_sock.recv(1)

    thread = threading.Thread(target=greet_in_plain_text, daemon=True)
    thread.start()
    with pytest.raises(ssl.SSLError) as caught:
        make_ssl_context(tls_peers.ca_file).wrap_socket(client_sock, server_hostname="x")
    client_sock.close()
    server_sock.close()
    thread.join(5)
    assert tls_problem(caught.value) is FailureKind.TLS_OTHER
    assert "did not answer with TLS" in describe_tls_error(caught.value)


def test_certificate_names_falls_back_to_common_name() -> None:
    cert = {"subject": ((("commonName", "mail.example.net"),),)}
    assert certificate_names(cert) == ["mail.example.net"]
    sans = {"subjectAltName": (("DNS", "a.example"), ("IP Address", "192.0.2.1"), ("email", "x"))}
    assert certificate_names(sans) == ["a.example", "192.0.2.1"]


def test_hostile_certificate_names_are_one_printable_line() -> None:
    hostile = {"subjectAltName": (("DNS", "evil\x1b[2J\r\nexample"),)}
    verification = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verification.verify_code = 62
    verification.verify_message = "Hostname mismatch"
    message = describe_tls_error(verification, host="imap.example.org", cert=hostile)
    assert message == "certificate is for evil [2J example, not imap.example.org"
    assert all(ch.isprintable() for ch in message)


def test_printable_line_cuts_long_text() -> None:
    assert printable_line("a\tb\n\nc") == "a b c"
    long_line = printable_line("x" * 500, limit=20)
    assert len(long_line) == 20
    assert long_line.endswith("…")
