"""The personal namespace prefix (RFC 2342 NAMESPACE) is recorded per account from the server:
`INBOX.` on a Dovecot laid out as Cyrus is, none on the usual Dovecot; an answer the client cannot
read leaves it unknown and the sync goes on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.ca import CertificateAuthority
from tests.support.dovecot import CYRUS_NAMESPACE, DovecotServer, start_dovecot
from tests.support.imap_sync import (
    FaultProxyFactory,
    Server,
    append,
    commands_sent,
    new_mailbox,
    proxied,
    run_sync,
)
from tests.support.mailservers import (
    MailServers,
    discard_server_directory,
    new_server_directory,
)
from tests.support.mbox_import import ON_SERVER, mbox_file, write_config
from tests.support.proxy import Faults
from tests.support.special_use import send_with_imap_elsewhere
from tuimail.cli.main import main
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


def test_the_command_line_takes_and_prints_the_names_shown(
    cyrus_like_dovecot: DovecotServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tuimail sync --folder Lists.dev`, `list acct/Lists.dev` and `import ... --upload` name
    the folders as the app shows them; the server's full names stay valid too."""
    box = new_mailbox(cyrus_like_dovecot)
    with box.device() as device:
        device.create_folder("INBOX.Lists.dev")
    append(box, 2, folder="INBOX.Lists.dev")
    config = write_config(cyrus_like_dovecot, box.user, tmp_path / "config.toml")  # type: ignore[arg-type]
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]

    assert main(["sync", "acct", "--folder", "Lists.dev", *common]) == 0
    capsys.readouterr()
    assert main(["list", "acct/Lists.dev", "--json", *common]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2 and {r["folder"] for r in records} == {"INBOX.Lists.dev"}
    assert main(["list", "acct/INBOX.Lists.dev", *common]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["list", "acct", *common]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "acct/Lists.dev" in listed and "acct/Trash" in listed
    assert not [name for name in listed if name.startswith("acct/INBOX.")]

    # A new folder named as the app would show it is made under the prefix, where it shows.
    source = mbox_file(tmp_path / "old.mbox")
    assert main(["import", "--mbox", str(source), "acct/Imported", "--upload", *common]) == 0
    capsys.readouterr()
    with box.device() as device:
        assert device.folder_exists("INBOX.Imported") and not device.folder_exists("Imported")
    assert main(["sync", "acct", *common]) == 0
    capsys.readouterr()
    assert main(["list", "acct/Imported", "--json", *common]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(ON_SERVER)
