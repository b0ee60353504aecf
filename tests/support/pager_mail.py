"""A store for the message view's pager tests: a long message (a paragraph on one long line, a
long quote, links) and short ones, some unread, in the INBOX of the local account "demo" (which
has a Trash too)."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from tests.support.demo_app import NOW
from tuimail.app.demo import DEMO_ACCOUNT
from tuimail.core.model import SEEN, FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

PARAGRAPH = " ".join(f"word{n}" for n in range(80))  # one line of about 550 characters
QUOTED = [f"> quoted line {n}" for n in range(1, 41)]  # 40 quoted lines: folded
LONG_BODY = "\n".join(
    [
        "Hello,",
        "",
        PARAGRAPH,
        "",
        "See https://example.org/first, and (https://example.org/second).",
        "",
        *[f"line {n}" for n in range(1, 61)],
        "",
        "On Monday, Ann wrote:",
        *QUOTED,
        "",
        "> a short quote",
        "",
        "Again https://example.org/first and <https://example.net/third?a=1&b=2>.",
        "The end.",
    ]
)


def _message(number: int, subject: str, body: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Sender {number} <sender{number}@example.org>"
    msg["To"] = "Demo User <you@demo.invalid>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW - timedelta(hours=number))
    msg["Message-ID"] = f"<pager-{number}@example.org>"
    msg["X-Pager-Test"] = "a header only the full headers show"
    msg.set_content(body)
    return msg.as_bytes()


def pager_store(data_dir: Path) -> None:
    """Newest first in the list: "long" (unread), "two" (read), "three" (unread), "four" (read),
    "five" (unread)."""
    conn = open_store(data_dir)
    try:
        account_id = ensure_account(conn, DEMO_ACCOUNT, None)
        folder_id = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        upsert_folder(conn, account_id, "Trash", delimiter="/", role=FolderRole.TRASH)
        subjects = ["long", "two", "three", "four", "five"]
        batch = [
            IncomingMessage(
                raw=_message(n, subject, LONG_BODY if n == 0 else f"The body of {subject}."),
                flags=frozenset({SEEN}) if n % 2 else frozenset(),
            )
            for n, subject in enumerate(subjects)
        ]
        store_messages(conn, folder_id, batch)
    finally:
        conn.close()
