"""IMAP login with a non-ASCII user name or password (RFC 6855), through the fault proxy in
front of the real Dovecot: the proxy records what the client sent, and hides or adds the
capabilities that decide the way (Dovecot 2.3 announces AUTH=PLAIN, never UTF8=ACCEPT).

IMAP LOGIN carries ASCII only unless the server announces UTF8=ACCEPT; AUTHENTICATE PLAIN
carries UTF-8. With neither, nothing is sent and the reason is given in words.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.proxy import Faults, hide_capability

pytestmark = pytest.mark.integration


def _announce_utf8_accept(hide_plain: bool):
    """A proxy line rewriter: UTF8=ACCEPT added to every capability list, AUTH=PLAIN hidden."""
    hide = hide_capability("AUTH=PLAIN")
    capability = re.compile(rb"CAPABILITY ", re.IGNORECASE)

    def rewrite(line: bytes) -> bytes:
        if hide_plain:
            line = hide(line)
        if capability.search(line):
            line = capability.sub(b"CAPABILITY UTF8=ACCEPT ", line, count=1)
        return line

    return rewrite


def _check(servers: MailServers, proxy, user: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`tuimail accounts check` for an IMAP account of `user` reached through `proxy`."""
    command = "printf '%s' " + shlex.quote(servers.users[user])
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.intl]\naddress = "someone@{servers.domain}"\n'
        f"password_command = {json.dumps(command)}\n"
        f'[accounts.intl.imap]\nhost = "{proxy.host}"\nport = {proxy.port}\n'
        f'security = "none"\nusername = {json.dumps(user)}\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "tuimail", "--config", str(config), "accounts", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return result


def _sent(proxy) -> bytes:
    return b"".join(bytes(c.from_client) for c in proxy.connections)


def test_a_non_ascii_user_name_logs_in_with_authenticate_plain(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("jörg", password="ascii-Pa55-word")
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port)
    result = _check(mail_servers, proxy, user, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    sent = _sent(proxy)
    assert b"AUTHENTICATE PLAIN" in sent and b" LOGIN " not in sent


def test_a_non_ascii_user_name_without_a_login_that_carries_it_is_explained(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("jörg", password="ascii-Pa55-word")
    hidden = Faults(rewrite_line=hide_capability("AUTH=PLAIN"))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, server=hidden)
    result = _check(mail_servers, proxy, user, tmp_path)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.endswith(
        "failed: the user name has characters other than ASCII, and the server offers no login "
        "that can carry them (IMAP LOGIN takes ASCII only; there is no AUTH=PLAIN and no "
        "UTF8=ACCEPT)"
    )
    sent = _sent(proxy)
    assert b" LOGIN " not in sent and user.encode() not in sent


def test_utf8_accept_lets_login_carry_a_non_ascii_user_name_and_password(
    mail_servers: MailServers, fault_proxy, tmp_path: Path
) -> None:
    user = mail_servers.add_user("jörg", password="pässwörd-Pa55")
    faults = Faults(rewrite_line=_announce_utf8_accept(hide_plain=True))
    proxy = fault_proxy(mail_servers.host, mail_servers.imap_port, server=faults)
    result = _check(mail_servers, proxy, user, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    sent = _sent(proxy)
    assert b" LOGIN " in sent and user.encode() in sent and b"AUTHENTICATE" not in sent
