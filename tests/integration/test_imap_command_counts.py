"""What goes on the wire is no more than needed: one CAPABILITY on the protected connection of a
STARTTLS login; for `tuimail sync --bodies`, one EXAMINE per folder for its headers and one more
for a folder with bodies to download (they come after every folder's headers). Counted on the
wire, against the real Dovecot.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from tests.support.imap_sync import (
    ACCOUNT,
    FaultProxyFactory,
    append,
    commands_sent,
    proxied,
    write_config,
)
from tests.support.mailservers import MailServers
from tests.support.starttls_relay import StartTlsRelay
from tuimail.cli.errors import EXIT_OK
from tuimail.cli.sync import sync_command
from tuimail.config.load import load_config
from tuimail.config.schema import ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.sync.imap.connect import connect_imap

pytestmark = pytest.mark.integration


def test_a_starttls_login_asks_for_the_capabilities_once_after_the_upgrade(
    mail_servers: MailServers,
) -> None:
    # The relay does the STARTTLS (with the test CA's certificate for 127.0.0.1), so it reads
    # what the client sends on the protected connection; Dovecot answers everything else.
    user = mail_servers.add_user("caps")
    with StartTlsRelay(
        mail_servers.host, mail_servers.imap_port, mail_servers.dovecot.tls.good
    ) as relay:
        server = ServerConfig(
            protocol=Protocol.IMAP,
            host=relay.host,
            port=relay.port,
            security=Security.STARTTLS,
            username=user,
            compress=True,  # as to a distant server: the relay is on loopback
        )
        client = connect_imap(
            server, ca_file=mail_servers.ca_file, password=lambda: mail_servers.users[user]
        )
        try:
            assert client.has_capability("IDLE") and client.has_capability("UIDPLUS")
        finally:
            client.logout()
    [lines] = relay.commands
    verbs = [line.split(b" ")[1].upper() for line in lines]
    after = verbs[verbs.index(b"STARTTLS") + 1 :]
    # The plaintext list is not trusted, so it is asked again once; the login's answer carries
    # the logged-in list, so nothing is asked after it (COMPRESS: the list offers it).
    assert after == [b"CAPABILITY", b"LOGIN", b"COMPRESS", b"LOGOUT"], verbs


def test_sync_bodies_examines_each_folder_once_for_headers_and_once_for_bodies(
    mail_servers: MailServers, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    box, proxy = proxied(mail_servers, fault_proxy)
    with box.device() as device:
        device.create_folder("Projects")
    append(box, 3)
    append(box, 2, folder="Projects", start=10)
    config = load_config(write_config(box, tmp_path / "config.toml"), must_exist=True)
    out, err = io.StringIO(), io.StringIO()

    status = sync_command(config, tmp_path / "data", [ACCOUNT], out, err, bodies=True)

    assert status == EXIT_OK, err.getvalue()
    assert "5 bodies downloaded" in out.getvalue() + err.getvalue()
    examined = Counter(
        line.split(" ", 2)[2] for line in commands_sent(proxy) if " EXAMINE " in line.upper()
    )
    assert examined, commands_sent(proxy)
    names = {args.split(" ", 1)[0].strip('"') for args in examined}
    assert {"INBOX", "Projects"} <= names
    with_bodies = {name for name in names if name in ("INBOX", "Projects")}
    for args, count in examined.items():
        name = args.split(" ", 1)[0].strip('"')
        assert count == (2 if name in with_bodies else 1), examined
