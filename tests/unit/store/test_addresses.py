"""Known addresses for completion: people written to first, then senders, most used first."""

from __future__ import annotations

from tests.support.mailfactory import make_message
from tuimail.core.model import FolderRole
from tuimail.store import db, write
from tuimail.store.addresses import known_addresses


def store(conn: db.StoreConnection, folder: int, *messages: tuple[str, str, str]) -> None:
    write.store_messages(
        conn,
        folder,
        [
            write.IncomingMessage(
                raw=make_message(
                    message_id=f"{folder}.{n}@x", sender=sender, to=to, date=date, subject="s"
                ),
                uid=n + 1,
            )
            for n, (sender, to, date) in enumerate(messages)
        ],
    )


def test_people_written_to_come_first_then_senders_by_use_and_recency(
    conn: db.StoreConnection, inbox: int, imap_account: int
) -> None:
    sent = write.upsert_folder(conn, imap_account, "Sent", role=FolderRole.SENT)
    write.update_folder_state(conn, sent, uidvalidity=9)
    me = "Me <me@example.org>"
    early, late = "Mon, 02 Mar 2026 10:00:00 +0000", "Tue, 03 Mar 2026 10:00:00 +0000"
    store(
        conn,
        sent,
        (me, "Carol <carol@example.org>, Dan <dan@example.org>", early),
        (me, "Carol Smith <CAROL@example.org>", late),
        (me, "Erin <erin@example.org>", late),
    )
    store(
        conn,
        inbox,
        ("Frank <frank@example.org>", me, early),
        ("Frank <frank@example.org>", me, early),
        ("Grace <grace@example.org>", me, late),
        ("Carol <carol@example.org>", me, early),
        ("Broken <no-at-sign>", me, late),
    )
    found = known_addresses(conn)
    assert [a.email for a in found] == [
        "carol@example.org",  # written to twice
        "erin@example.org",  # once, more recently than Dan
        "dan@example.org",
        "frank@example.org",  # received twice
        "grace@example.org",
    ], "the user's own address (From of Sent, To of the inbox) is not a candidate"
    carol = found[0]
    assert (carol.written_to, carol.received_from) == (2, 1)
    assert carol.name == "Carol Smith", "the name of the newest message"
    assert all("@" in a.email for a in found)
    assert known_addresses(conn, limit=2) == found[:2]
