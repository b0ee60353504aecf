"""Shared fixtures: the real mail servers, reduced-capability Dovecots and the fault proxy.

The logic lives in tests/support; see docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from tests.support.ca import CertificateAuthority
from tests.support.dovecot import CYRUS_NAMESPACE, DovecotServer, start_dovecot
from tests.support.mailservers import (
    MailServers,
    ReducedDovecots,
    discard_server_directory,
    new_server_directory,
)
from tests.support.processes import refused_port
from tests.support.proxy import FaultProxy, Faults

# Fixtures of tests/support modules that tests in several directories use.
pytest_plugins = ["tests.support.demo_app", "tests.support.small_disk"]


@pytest.fixture(scope="session")
def test_ca() -> CertificateAuthority:
    """The one CA that signs every test server's certificates in this run."""
    return CertificateAuthority()


@pytest.fixture(scope="session")
def mail_servers(test_ca: CertificateAuthority) -> Iterator[MailServers]:
    """Dovecot + Postfix for the whole run; a start failure fails the tests, with the logs."""
    directory = new_server_directory()
    servers = MailServers(directory, ca=test_ca)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
        discard_server_directory(directory)


@pytest.fixture(scope="session")
def reduced_dovecot(test_ca: CertificateAuthority) -> Iterator[Callable[..., DovecotServer]]:
    """``reduced_dovecot(without={"QRESYNC", "CONDSTORE"})`` -> a running Dovecot hiding them.

    One instance per set of hidden capabilities, shared by the session.
    """
    instances = ReducedDovecots(test_ca)

    def get(without: Iterable[str]) -> DovecotServer:
        return instances.get(without)

    try:
        yield get
    finally:
        instances.stop_all()


# The folders a Cyrus server set up for a German Exchange migration might have.
CYRUS_SPECIAL_MAILBOXES = {
    "Gesendete Elemente": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}


@pytest.fixture(scope="session")
def cyrus_like_dovecot(test_ca: CertificateAuthority) -> Iterator[DovecotServer]:
    """A Dovecot whose folders are laid out as Cyrus's default and Courier's are: every name
    under `INBOX.`, `.` between levels (NAMESPACE says so), the Sent folder called
    "Gesendete Elemente" (`INBOX.Gesendete Elemente`)."""
    directory = new_server_directory("tuimail-dovecot-cyrus-like-")
    server = start_dovecot(
        directory, ca=test_ca, namespace=CYRUS_NAMESPACE, special_mailboxes=CYRUS_SPECIAL_MAILBOXES
    )
    try:
        yield server
    finally:
        server.stop()
        discard_server_directory(directory)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses every connection during the test (bound, not listening)."""
    with refused_port() as port:
        yield port


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """``fault_proxy(host, port, client=Faults(...), server=Faults(...))`` -> a running proxy.

    Every proxy made in the test is closed at its end.
    """
    proxies: list[FaultProxy] = []

    def make(
        target_host: str,
        target_port: int,
        *,
        client: Faults | None = None,
        server: Faults | None = None,
    ) -> FaultProxy:
        proxy = FaultProxy(target_host, target_port, client=client, server=server).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.close()
