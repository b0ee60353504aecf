"""When a test server cannot start, the error says why, in the server's own words."""

from __future__ import annotations

import dataclasses
import imaplib
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.support import dovecot, processes
from tests.support.ca import CertificateAuthority
from tests.support.dovecot import GOOD_HOST, PLAIN_HOST, DovecotServer, start_dovecot
from tests.support.mailservers import (
    MailServers,
    discard_server_directory,
    new_server_directory,
)
from tests.support.postfix import PostfixPorts, PostfixServer
from tests.support.processes import ServerStartError, pick_free_ports


@pytest.fixture
def server_dir() -> Iterator[Path]:
    directory = new_server_directory("tuimail-failure-test-")
    try:
        yield directory
    finally:
        discard_server_directory(directory)


@pytest.mark.integration
def test_a_dovecot_that_cannot_start_fails_with_its_own_log(
    server_dir: Path, test_ca: CertificateAuthority
) -> None:
    tls = test_ca.write_server_files(server_dir / "tls")
    missing_key = server_dir / "tls" / "no-such-key.pem"
    broken = dataclasses.replace(tls, good=dataclasses.replace(tls.good, key=missing_key))
    server = DovecotServer(server_dir, broken)
    try:
        with pytest.raises(ServerStartError) as failure:
            server.start()
    finally:
        server.stop()
    message = str(failure.value)
    assert "Dovecot failed to start" in message
    assert str(missing_key) in message  # Dovecot's own complaint about the file


@pytest.mark.integration
def test_a_postfix_that_cannot_bind_fails_with_its_own_log(
    server_dir: Path, test_ca: CertificateAuthority
) -> None:
    tls = test_ca.write_server_files(server_dir / "tls")
    submission, smtps = pick_free_ports(2)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind((PLAIN_HOST, submission))
    squatter.listen(1)
    server = PostfixServer(
        server_dir,
        tls,
        ports=PostfixPorts(submission=submission, smtps=smtps),
        lmtp_port=1,  # never used: Postfix does not get far enough to deliver
        sasl_socket=server_dir / "no-sasl",
        domain="tuimail.test",
    )
    try:
        with pytest.raises(ServerStartError) as failure:
            server.start()
    finally:
        server.stop()
        squatter.close()
    message = str(failure.value)
    assert "Postfix failed to start" in message
    assert f"bind {PLAIN_HOST} port {submission}: Address already in use" in message


@pytest.mark.integration
def test_a_dovecot_whose_port_is_taken_meanwhile_starts_on_others(
    server_dir: Path, test_ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port picked free can be bound by another process (a test running alongside) before
    Dovecot binds it: the start is tried again on ports picked anew."""
    squatter = socket.create_server((GOOD_HOST, 0))
    taken = squatter.getsockname()[1]
    picks: list[list[int]] = []

    def first_one_taken(count: int, addresses: Iterable[str]) -> list[int]:
        ports = pick_free_ports(count, addresses)
        if not picks:
            ports[0] = taken  # as if it had been bound right after it was picked
        picks.append(ports)
        return ports

    monkeypatch.setattr(dovecot, "pick_free_ports", first_one_taken)
    try:
        server = start_dovecot(server_dir, ca=test_ca)
        try:
            assert len(picks) == 2 and taken not in picks[1]
            assert "Address already in use" in server.log()  # the first try's own complaint
            with imaplib.IMAP4(GOOD_HOST, server.imap_port, timeout=30) as imap:
                assert imap.welcome.startswith(b"* OK")  # it answers on the second try's port
        finally:
            server.stop()
    finally:
        squatter.close()


def test_an_unreachable_directory_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # pytest's tmp_path lies under a 0700 directory, which the service users cannot enter.
    with pytest.raises(ServerStartError, match="not traversable by other users"):
        processes.require_traversable(tmp_path / "servers")


def test_not_being_root_is_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch, server_dir: Path
) -> None:
    # The one fake here: being another user cannot be arranged from inside a root test run.
    monkeypatch.setattr(processes.os, "geteuid", lambda: 1000)
    with pytest.raises(ServerStartError, match="must be started as root"):
        MailServers(server_dir).start()


def test_free_ports_are_free_on_every_loopback_address() -> None:
    ports = pick_free_ports(7)
    assert len(set(ports)) == 7
    for address in processes.LOOPBACK_ADDRESSES:
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((address, port))
