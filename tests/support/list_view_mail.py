"""A small store for the message list's tests: a known conversation, messages of known sizes
and senders, and a Sent folder, so that a test can say exactly which line comes where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tuimail.core.model import SEEN, FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=10)


def mail(
    msgid: str,
    subject: str,
    sender: str,
    day: int,
    *,
    reply_to: str | None = None,
    refs: tuple[str, ...] = (),
    to: str = "Me <me@example.org>",
    body: str = "Hello.",
) -> bytes:
    """One message, `day` days after START, answering `reply_to` when given."""
    date = (START + timedelta(days=day)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{msgid}@example.org>",
    ]
    if reply_to:
        lines.append(f"In-Reply-To: <{reply_to}@example.org>")
    if refs:
        lines.append("References: " + " ".join(f"<{r}@example.org>" for r in refs))
    return ("\r\n".join([*lines, "", body, ""])).encode()


# A conversation drawn as
#   Plans                 (a, day 1)
#   ├─>Re: Plans          (b, day 2, answers a)
#   │ └─>Re: Re: Plans    (d, day 4, answers b)
#   └─>Re: Plans (c)      (c, day 3, answers a)
# and an unrelated message on day 3: the conversation (newest message on day 4) comes first.
THREAD = [
    ("a", "Plans", "Ann <ann@example.org>", 1, None, ()),
    ("b", "Re: Plans", "Bob <bob@example.org>", 2, "a", ("a",)),
    ("d", "Re: Re: Plans", "Dan <dan@example.org>", 4, "b", ("a", "b")),
    ("c", "Re: Plans (c)", "Cat <cat@example.org>", 3, "a", ("a",)),
    ("s", "Alone", "Sam <sam@example.org>", 3, None, ()),
]


def list_store(data_dir: Path) -> None:
    """INBOX with THREAD (bodies of known sizes: "s" the largest, "a" the smallest) and a
    Sent folder with one message to three people."""
    conn = open_store(data_dir)
    try:
        account = ensure_account(conn, "demo", None)
        inbox = upsert_folder(conn, account, "INBOX", role=FolderRole.INBOX)
        sizes = {"a": 10, "b": 2000, "c": 5000, "d": 40000, "s": 3 * 1024 * 1024}
        batch = []
        for msgid, subject, sender, day, reply_to, refs in THREAD:
            body = "x" * sizes[msgid]
            raw = mail(msgid, subject, sender, day, reply_to=reply_to, refs=refs, body=body)
            batch.append(IncomingMessage(raw=raw, flags=[SEEN]))
        store_messages(conn, inbox, batch)
        sent = upsert_folder(conn, account, "Sent", role=FolderRole.SENT)
        to = "Zoe <zoe@example.org>, Yan <yan@example.org>, Xia <xia@example.org>"
        raw = mail("out", "Plans (mine)", "Me <me@example.org>", 5, to=to)
        store_messages(conn, sent, [IncomingMessage(raw=raw, flags=[SEEN])])
    finally:
        conn.close()
