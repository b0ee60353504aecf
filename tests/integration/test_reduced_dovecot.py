"""Reduced-capability Dovecot instances: the hidden capabilities are really gone after login."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from tests.support.dovecot import DovecotServer

pytestmark = pytest.mark.integration

ReducedDovecot = Callable[..., DovecotServer]

# What a test asks to hide -> what must disappear (QRESYNC implies CONDSTORE, so both go).
CASES = {
    "QRESYNC": {"QRESYNC"},
    "CONDSTORE": {"CONDSTORE", "QRESYNC"},
    "MOVE": {"MOVE"},
    "UIDPLUS": {"UIDPLUS"},
    "SPECIAL-USE": {"SPECIAL-USE"},
}


def login(server: DovecotServer, user: str = "alice") -> imaplib.IMAP4_SSL:
    context = server.client_ssl_context()
    imap = imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=context)
    imap.login(user, server.users[user])
    return imap


def capabilities_after_login(server: DovecotServer) -> set[str]:
    with login(server) as imap:
        _, data = imap.capability()  # imaplib keeps the pre-login list otherwise
    return set(data[0].decode().upper().split())


@pytest.mark.parametrize("hidden", CASES)
def test_hidden_capability_is_absent_and_nothing_else_is(
    reduced_dovecot: ReducedDovecot, hidden: str
) -> None:
    gone = CASES[hidden]
    full = capabilities_after_login(reduced_dovecot(without=()))
    reduced = capabilities_after_login(reduced_dovecot(without=gone))
    assert gone <= full, "the full server must announce what the reduced one hides"
    assert reduced == full - gone


def test_without_special_use_no_mailbox_carries_a_special_use_flag(
    reduced_dovecot: ReducedDovecot,
) -> None:
    server = reduced_dovecot(without={"SPECIAL-USE"})
    with login(server) as imap:
        _, listing = imap.list()
        names = {line.rsplit(b" ", 1)[-1] for line in listing}
        # The mailboxes still exist (a client falls back to finding them by name) ...
        assert {b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive", b"INBOX"} <= names
        # ... but none is marked, and asking for special-use mailboxes returns none.
        for flag in (rb"\Sent", rb"\Drafts", rb"\Trash", rb"\Junk", rb"\Archive"):
            assert not any(flag in line for line in listing)
        typ, special = imap._simple_command("LIST", "(SPECIAL-USE)", '""', '"*"')
        assert typ == "OK"
        assert imap.untagged_responses.get("LIST", []) == []
        assert special


def test_the_full_instance_marks_special_use(reduced_dovecot: ReducedDovecot) -> None:
    # Control for the test above: the same query on a full instance does return them.
    server = reduced_dovecot(without=())
    with login(server) as imap:
        typ, _ = imap._simple_command("LIST", "(SPECIAL-USE)", '""', '"*"')
        assert typ == "OK"
        special = imap.untagged_responses.get("LIST", [])
    assert len(special) == 5


def test_hidden_commands_are_still_accepted(reduced_dovecot: ReducedDovecot) -> None:
    """Dovecot only stops announcing MOVE/UIDPLUS/CONDSTORE/QRESYNC; it still runs them.

    So a fallback test must also assert that the client never sent the command (record the
    session with the fault proxy); the server alone will not catch a client that ignores the
    capability list. This test pins that behaviour so nobody relies on the opposite.
    """
    server = reduced_dovecot(without={"MOVE", "UIDPLUS", "CONDSTORE", "QRESYNC"})
    user = server.add_user()
    server.deliver(user, b"Message-ID: <move-me@test>\r\nSubject: move me\r\n\r\nbody\r\n")
    with login(server, user) as imap:
        typ, _ = imap._simple_command("ENABLE", "QRESYNC")
        assert typ == "OK"
        imap.select("INBOX")
        typ, _ = imap.uid("MOVE", "1", "Archive")
        assert typ == "OK"
    assert server.find_message(user, "move-me@test", mailbox="Archive") == [1]


def test_unknown_capabilities_cannot_be_hidden(reduced_dovecot: ReducedDovecot) -> None:
    with pytest.raises(ValueError, match="cannot hide"):
        reduced_dovecot(without={"IDLE"})
    with pytest.raises(ValueError, match="QRESYNC"):
        reduced_dovecot(without={"CONDSTORE"})
