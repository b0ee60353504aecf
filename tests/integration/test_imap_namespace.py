"""The personal namespace prefix (RFC 2342 NAMESPACE) is recorded per account from the server:
`INBOX.` on a Dovecot laid out as Cyrus is, none on the usual Dovecot; an answer the client cannot
read leaves it unknown and the sync goes on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.test_imap_special_use import send_with_imap_elsewhere
from tests.integration.test_imap_sync import (
    FaultProxyFactory,
    Server,
    append,
    commands_sent,
    proxied,
    run_sync,
)
from tests.support.ca import CertificateAuthority
from tests.support.dovecot import CYRUS_NAMESPACE, DovecotServer, start_dovecot
from tests.support.mailservers import (
    MailServers,
    discard_server_directory,
    new_server_directory,
)
from tests.support.proxy import Faults
from tuimail.store import read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration


def paths(data: Path) -> dict[str, tuple[str, ...]]:
    conn = open_store(data)
    try:
        return {f.name: f.path for f in read.folders(conn)}
    finally:
        conn.close()


@pytest.mark.parametrize("layout", ["cyrus", "dovecot"])
def test_the_prefix_comes_from_namespace(
    layout: str,
    cyrus_like_dovecot: DovecotServer,
    mail_servers: MailServers,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
) -> None:
    server: Server = cyrus_like_dovecot if layout == "cyrus" else mail_servers
    box, proxy = proxied(server, fault_proxy)
    nested = "INBOX.Lists.dev" if layout == "cyrus" else "Lists/dev"
    with box.device() as device:
        device.create_folder(nested)

    run_sync(box, tmp_path / "data")

    assert sum(" NAMESPACE" in line.upper() for line in commands_sent(proxy)) == 1
    found = paths(tmp_path / "data")
    assert found[nested] == ("Lists", "dev")
    assert found["INBOX"] == ("INBOX",)
    trash = "INBOX.Trash" if layout == "cyrus" else "Trash"
    assert found[trash] == ("Trash",)


def test_a_namespace_answer_that_cannot_be_read_leaves_the_names_whole(
    cyrus_like_dovecot: DovecotServer, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    def garble(line: bytes) -> bytes:
        return re.sub(rb"^\* NAMESPACE [^\r\n]*", rb'* NAMESPACE ("INBOX.") NIL NIL', line)

    box, _ = proxied(cyrus_like_dovecot, fault_proxy, server=Faults(rewrite_line=garble))
    append(box, 1)

    result = run_sync(box, tmp_path / "data")

    assert not result.folder_errors and [f.new for f in result.folders if f.name == "INBOX"]
    assert paths(tmp_path / "data")["INBOX.Trash"] == ("INBOX", "Trash")


def test_a_sent_folder_is_created_in_the_personal_namespace(
    mail_servers: MailServers, test_ca: CertificateAuthority, tmp_path: Path
) -> None:
    # A server without any Sent folder, whose names all start with INBOX.: "Sent" alone is no
    # name it takes.
    directory = new_server_directory("tuimail-dovecot-no-sent-")
    server = start_dovecot(
        directory, ca=test_ca, namespace=CYRUS_NAMESPACE, special_mailboxes={"Trash": r"\Trash"}
    )
    try:
        user = server.add_user("nosent")
        message_id = send_with_imap_elsewhere(
            mail_servers, server, user, server.imap_port, tmp_path
        )
        assert server.find_message(user, message_id, "INBOX.Sent")
    finally:
        server.stop()
        discard_server_directory(directory)
