"""In-process TLS peers for the TLS unit tests: real handshakes over socket pairs, no servers."""

from __future__ import annotations

import datetime

import pytest
import trustme

from tests.support.tls_peers import TlsPeers


@pytest.fixture(scope="session")
def tls_peers(tmp_path_factory: pytest.TempPathFactory) -> TlsPeers:
    """Certificates from a throw-away CA (valid, expired, for another name)."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    expired = ca.issue_cert(
        "imap.example.org",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    )
    return TlsPeers(
        ca=ca,
        ca_file=ca_file,
        good=ca.issue_cert("imap.example.org"),
        expired=expired,
        other_name=ca.issue_cert("other.example"),
    )
