"""The test servers themselves: mail submitted to Postfix reaches Dovecot and every access path.

Standard library clients only, so a failure here is the harness's, not tuimail's.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import uuid
import warnings
from email.message import EmailMessage

import pytest

from tests.support.mailservers import MailServers

pytestmark = pytest.mark.integration


def make_message(servers: MailServers, sender: str, recipient: str) -> tuple[str, EmailMessage]:
    token = uuid.uuid4().hex
    message = EmailMessage()
    message["From"] = servers.address(sender)
    message["To"] = servers.address(recipient)
    message["Subject"] = f"harness {token} été"
    message["Message-ID"] = f"<{token}@{servers.domain}>"
    message.set_content(f"body {token}\n")
    return token, message


def assert_found_everywhere(servers: MailServers, user: str, token: str) -> None:
    """The message is readable over IMAPS, IMAP+STARTTLS, POP3S and POP3+STLS."""
    password = servers.users[user]
    context = servers.client_ssl_context()

    with imaplib.IMAP4_SSL(servers.host, servers.imaps_port, ssl_context=context) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, found = imap.uid("SEARCH", "HEADER", "Message-ID", token)
        uid = found[0].split()[-1]
        _, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        assert token.encode() in fetched[0][1]

    with imaplib.IMAP4(servers.host, servers.imap_port, timeout=30) as imap:
        imap.starttls(ssl_context=context)
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, found = imap.uid("SEARCH", "HEADER", "Message-ID", token)
        assert found[0].split(), "not found over IMAP+STARTTLS"

    pop = poplib.POP3_SSL(servers.host, servers.pop3s_port, context=context, timeout=30)
    try:
        pop.user(user)
        pop.pass_(password)
        count, _ = pop.stat()
        assert count == 1  # a fresh user: only this message
        _, lines, _ = pop.retr(1)
        assert any(token.encode() in line for line in lines)
    finally:
        pop.quit()

    pop = poplib.POP3(servers.host, servers.pop3_port, timeout=30)
    try:
        pop.stls(context=context)
        pop.user(user)
        pop.pass_(password)
        _, lines, _ = pop.retr(1)
        assert any(token.encode() in line for line in lines)
    finally:
        pop.quit()


def test_submission_with_starttls_reaches_imap_and_pop3(mail_servers: MailServers) -> None:
    recipient = mail_servers.add_user("bob")
    token, message = make_message(mail_servers, "alice", recipient)
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.login("alice", mail_servers.users["alice"])
        refused = smtp.send_message(message)
    assert refused == {}
    mail_servers.wait_for_message(recipient, token)
    assert_found_everywhere(mail_servers, recipient, token)


def test_submission_over_implicit_tls_reaches_imap_and_pop3(mail_servers: MailServers) -> None:
    recipient = mail_servers.add_user("bob")
    token, message = make_message(mail_servers, "alice", recipient)
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP_SSL(
        mail_servers.host, mail_servers.smtps_port, context=context, timeout=30
    ) as smtp:
        smtp.login(mail_servers.address("alice"), mail_servers.users["alice"])
        smtp.send_message(message)
    mail_servers.wait_for_message(recipient, token)
    assert_found_everywhere(mail_servers, recipient, token)


def test_submission_offers_auth_only_after_starttls(mail_servers: MailServers) -> None:
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        smtp.starttls(context=context)
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert set(smtp.esmtp_features["auth"].upper().split()) == {"PLAIN", "LOGIN"}


def test_submission_refuses_mail_without_auth(mail_servers: MailServers) -> None:
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=30) as smtp:
        smtp.starttls(context=context)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail(mail_servers.address("alice"), [mail_servers.address("bob")], b"x\r\n")


def test_submission_rejects_a_wrong_password(mail_servers: MailServers) -> None:
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=30) as smtp:
        smtp.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("alice", "not-the-password")


def test_nothing_leaves_the_machine(mail_servers: MailServers) -> None:
    context = mail_servers.client_ssl_context()
    with smtplib.SMTP(mail_servers.host, mail_servers.submission_port, timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.login("alice", mail_servers.users["alice"])
        # Even an authenticated client cannot relay: the error transport refuses at RCPT.
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail(mail_servers.address("alice"), ["someone@example.com"], b"x\r\n")
    code, reply = refused.value.recipients["someone@example.com"]
    assert code == 550
    assert b"outbound delivery is disabled in the test server" in reply


def test_deliver_puts_a_message_into_the_inbox_at_once(mail_servers: MailServers) -> None:
    user = mail_servers.add_user()
    token = uuid.uuid4().hex
    mail_servers.deliver(user, f"Message-ID: <{token}@x>\r\nSubject: lmtp\r\n\r\nhi\r\n".encode())
    # No polling: LMTP returns once Dovecot has stored the message.
    assert mail_servers.wait_for_message(user, token, timeout=0) == 1


def test_users_log_in_with_name_or_address_and_new_users_are_empty(
    mail_servers: MailServers,
) -> None:
    user = mail_servers.add_user("carol")
    context = mail_servers.client_ssl_context()
    for login in (user, mail_servers.address(user)):
        with imaplib.IMAP4_SSL(
            mail_servers.host, mail_servers.imaps_port, ssl_context=context
        ) as c:
            c.login(login, mail_servers.users[user])
            _, data = c.select("INBOX", readonly=True)
            assert data == [b"0"]


def test_mailboxes_are_special_use_with_slash_separator(mail_servers: MailServers) -> None:
    user = mail_servers.add_user()
    context = mail_servers.client_ssl_context()
    with imaplib.IMAP4_SSL(mail_servers.host, mail_servers.imaps_port, ssl_context=context) as c:
        c.login(user, mail_servers.users[user])
        _, capabilities = c.capability()  # imaplib keeps the pre-login list otherwise
        assert "SPECIAL-USE" in capabilities[0].decode().split()
        _, listing = c.list()
    flags_by_name = {}
    for line in listing:
        match = re.match(rb'\((?P<flags>[^)]*)\) "(?P<sep>[^"]*)" (?P<name>.+)', line)
        assert match, line
        assert match["sep"] == b"/"
        flags_by_name[match["name"].decode()] = match["flags"].decode().split()
    for name, flag in {
        "Sent": r"\Sent",
        "Drafts": r"\Drafts",
        "Trash": r"\Trash",
        "Junk": r"\Junk",
        "Archive": r"\Archive",
    }.items():
        assert flag in flags_by_name[name]
    assert "INBOX" in flags_by_name


@pytest.mark.parametrize("port_name", ["imaps_port", "pop3s_port", "smtps_port"])
def test_tls_below_1_2_is_refused_by_the_server(mail_servers: MailServers, port_name: str) -> None:
    port = getattr(mail_servers, port_name)

    def handshake(maximum: ssl.TLSVersion) -> str:
        context = mail_servers.client_ssl_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = maximum
        # Security level 0 lets this client offer TLS 1.1, so a refusal is the server's.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with (
            socket.create_connection((mail_servers.host, port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=mail_servers.host) as tls,
        ):
            return str(tls.version())

    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        handshake(ssl.TLSVersion.TLSv1_1)


def test_logs_and_doveadm_are_readable(mail_servers: MailServers) -> None:
    assert "starting up" in mail_servers.dovecot_log()
    assert "daemon started" in mail_servers.postfix_log()
    assert "alice" in mail_servers.doveadm("user", "alice")
