"""`tuimail demo`: a demo store, built through the ingest code the engines use, and the app on it.

The demo account is a local account (no servers): nothing touches the network. The mail comes
from `tuimail.mail.corpus` (a fixed seed, dates relative to today) plus a few hand-written messages
that show what the client does with HTML, attachments, non-ASCII text and hostile input.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from tuimail.config.schema import AccountConfig, Config, Identity, ServerConfig
from tuimail.core.model import SEEN, FolderRole, Protocol, Security
from tuimail.mail.corpus import MailGenerator
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

DEMO_ACCOUNT = "demo"
DEMO_ADDRESS = "you@demo.invalid"
# A second identity (its own name and signature): the list message reached it, so the list's
# keys (l, p) answer from it.
DEMO_LISTS_ADDRESS = "you.lists@demo.invalid"
DEMO_NAME = "Demo User"
DEMO_SEED = 20261122
# The demo's made-up receiving server: its Authentication-Results verdicts are shown.
DEMO_AUTHSERV_ID = "mx.demo.invalid"
DEMO_SMTP_PORT = 9  # "discard"; never used: the demo app starts no workers
# folder -> (role, number of generated messages, how far back they go)
DEMO_FOLDERS: dict[str, tuple[FolderRole, int, timedelta]] = {
    "INBOX": (FolderRole.INBOX, 240, timedelta(days=120)),
    "Sent": (FolderRole.SENT, 40, timedelta(days=120)),
    "Drafts": (FolderRole.DRAFTS, 3, timedelta(days=10)),
    "Archive": (FolderRole.ARCHIVE, 60, timedelta(days=700)),
    "Lists/dev": (FolderRole.NONE, 90, timedelta(days=60)),
    "Trash": (FolderRole.TRASH, 12, timedelta(days=30)),
}


def demo_config() -> Config:
    """The configuration the demo app runs with: one local account.

    It names an SMTP server so that the composer can queue messages, but the demo app runs no
    workers: queued messages stay in the outbox and nothing ever connects anywhere.
    """
    smtp = ServerConfig(
        protocol=Protocol.SMTP,
        host="127.0.0.1",
        port=DEMO_SMTP_PORT,
        security=Security.NONE,
        username=DEMO_ADDRESS,
    )
    account = AccountConfig(
        name=DEMO_ACCOUNT,
        address=DEMO_ADDRESS,
        display_name=DEMO_NAME,
        smtp=smtp,
        signature="Demo User\nwriting from the tuimail demo",
        identities=(Identity(DEMO_LISTS_ADDRESS, "Demo User (lists)", signature="Sent to a list"),),
        authserv_id=DEMO_AUTHSERV_ID,
    )
    return Config(accounts={DEMO_ACCOUNT: account})


def build_demo_store(data_dir: Path, *, now: datetime | None = None) -> int:
    """Fill a store in `data_dir` with the demo mailbox; returns the number of messages stored.

    Idempotent only in the sense that a second call adds a second copy: use a fresh directory.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    conn = open_store(data_dir)
    try:
        account_id = ensure_account(conn, DEMO_ACCOUNT, None)
        generator = MailGenerator(DEMO_SEED, DEMO_ADDRESS, DEMO_NAME)
        stored = 0
        for name, (role, count, span) in DEMO_FOLDERS.items():
            folder_id = upsert_folder(conn, account_id, name, delimiter="/", role=role)
            generated = list(generator.messages(name, count, now - span, now - timedelta(hours=1)))
            batch = [IncomingMessage(raw=m.raw, flags=m.flags) for m in generated]
            if name == "INBOX":
                batch += [IncomingMessage(raw=raw) for raw in showcase_messages(now)]
            if name == "Lists/dev":
                # Read: the folder's counts (and the screenshots) stay as they were.
                batch.append(IncomingMessage(raw=list_message(now), flags=frozenset({SEEN})))
            if name == "Archive":  # read already: the counts the demo shows stay as they were
                seen = frozenset({SEEN})
                batch += [IncomingMessage(raw=raw, flags=seen) for raw in archive_showcase(now)]
            stored += len(store_messages(conn, folder_id, batch))
        return stored
    finally:
        conn.close()


def showcase_messages(now: datetime) -> list[bytes]:
    """Hand-written messages that show off rendering and sanitizing (newest in the INBOX)."""
    welcome = _message(
        now - timedelta(minutes=5),
        "tuimail <hello@demo.invalid>",
        "Welcome to tuimail",
        "This is a demo mailbox: a local account with a few hundred generated messages in\n"
        "several folders. Nothing here talks to a server.\n\n"
        "Move with the arrow keys, open a message with Enter, switch panes with Tab, and\n"
        "quit with q. Set up a real account in ~/.config/tuimail/config.toml (see the\n"
        "README and docs/config.md), then run `tuimail accounts check`.\n",
    )
    html = _message(
        now - timedelta(minutes=30),
        "Newsletter Team <news@shop.example>",
        "Our autumn newsletter (HTML only)",
        None,
        html=(
            "<html><head><style>h1 { color: #a52a2a; }</style></head><body>"
            "<h1>Autumn news</h1><p>Dear reader, this message has <b>only</b> an HTML part. "
            "tuimail draws it as <em>styled text</em> and never loads remote content:</p>"
            '<img src="https://tracker.example/pixel.gif" alt="tracking pixel (not loaded)">'
            "<h2>This week's offers</h2>"
            "<table><tr><th>Item</th><th>Price</th><th>Until</th></tr>"
            "<tr><td>Wool coat</td><td>89 EUR</td><td>30 November</td></tr>"
            "<tr><td>Rain boots</td><td>45 EUR</td><td>3 December</td></tr></table>"
            "<ul><li>Free delivery over 50 EUR</li><li>Returns within 30 days</li></ul>"
            "<blockquote>The best shop in town. <i>A happy customer</i></blockquote>"
            '<p><a href="https://shop.example/offers">See the offers</a> or '
            '<a href="https://shop.example/unsubscribe">unsubscribe</a>.</p>'
            "<p>Press w to open this message in your web browser (remote content blocked), "
            "W to allow it.</p></body></html>"
        ),
    )
    attachment = _message(
        now - timedelta(hours=2),
        "Søren Berg <soren@example.org>",
        "Rapport über das Projekt — Entwurf ✅",
        "Hallo,\n\nanbei der Entwurf. Grüße aus København!\n\nSøren\n",
        attachments=[("Übersicht 2026.pdf", b"%PDF-1.4 demo\n" * 400, "application", "pdf")],
    )
    # Hostile input is written as raw bytes, the way it would arrive from a server.
    hostile = (
        "From: \x1b[31mMallory\x1b[0m <mallory@evil.example>\r\n"
        f"To: {DEMO_NAME} <{DEMO_ADDRESS}>\r\n"
        "Subject: Totally normal \x1b]0;pwned title\x07subject \u202eexe.txt\r\n"
        f"Date: {format_datetime(now - timedelta(hours=3))}\r\n"
        "Message-ID: <showcase.hostile@demo.invalid>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "This message tries to take over your terminal:\r\n"
        "\x1b[2J\x1b[H cleared screen?  \x1b]52;c;Y29weQ==\x07 clipboard?\r\n"
        "\x1b]8;;https://evil.example\x1b\\a hidden link\x1b]8;;\x1b\\\r\n"
        "and Textual markup: [@click=app.quit]click me[/] [bold red]loud[/]\r\n"
        "\r\n"
        "tuimail shows all of this as plain, harmless text.\r\n"
    ).encode()
    return [welcome, html, attachment, hostile]


def list_message(now: datetime) -> bytes:
    """A mailing-list message (newest in Lists/dev) with the fields list servers add: where
    posts go, how to leave (a message or one click), and Reply-To set to the list itself."""
    return (
        "From: Carol Jones <carol@example.org>\r\n"
        "To: Developers <dev@lists.example.org>\r\n"
        "Reply-To: Developers <dev@lists.example.org>\r\n"
        f"Delivered-To: {DEMO_LISTS_ADDRESS}\r\n"
        "Subject: [dev] Release notes for 2.4: please review\r\n"
        f"Date: {format_datetime(now - timedelta(minutes=20))}\r\n"
        "Message-ID: <showcase.list@lists.example.org>\r\n"
        "List-Id: Developers <dev.lists.example.org>\r\n"
        "List-Post: <mailto:dev@lists.example.org>\r\n"
        "List-Unsubscribe: <mailto:dev-leave@lists.example.org?subject=unsubscribe>,\r\n"
        " <https://lists.example.org/unsubscribe/dev/8f3a2c>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hi all,\r\n\r\n"
        "the draft release notes for 2.4 are in the wiki. Comments by Friday, please.\r\n\r\n"
        "Carol\r\n\r\n"
        "(A list message: l replies to the list, p to Carol alone, r where Reply-To says:\r\n"
        "the list. ctrl+u unsubscribes, after asking. The answers are written from\r\n"
        f"{DEMO_LISTS_ADDRESS}, the address this message was delivered to.)\r\n"
    ).encode()


def archive_showcase(now: datetime) -> list[bytes]:
    """The newest two messages of the Archive: one the (made-up) receiving server checked
    (its SPF, DKIM and DMARC verdicts show above the text, with a forged verdict below its
    Received field left out), and an invitation (its summary shows above the text)."""
    checked = (
        f"Authentication-Results: {DEMO_AUTHSERV_ID};\r\n"
        "\tspf=pass smtp.mailfrom=ana@bank.example;\r\n"
        "\tdkim=pass header.d=bank.example header.s=mail;\r\n"
        "\tdmarc=pass header.from=bank.example\r\n"
        f"Received: from mail.bank.example by {DEMO_AUTHSERV_ID}; "
        f"{format_datetime(now - timedelta(minutes=20))}\r\n"
        # Written by the sender: below the server's Received field, so never believed.
        f"Authentication-Results: {DEMO_AUTHSERV_ID}; dmarc=fail header.from=bank.example\r\n"
        "From: Ana Lima <ana@bank.example>\r\n"
        f"To: {DEMO_NAME} <{DEMO_ADDRESS}>\r\n"
        "Subject: Your statement is ready (checked by the server)\r\n"
        f"Date: {format_datetime(now - timedelta(minutes=20))}\r\n"
        "Message-ID: <showcase.checked@demo.invalid>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        'The line "Server check" above says what your own mail server found when this\r\n'
        "message arrived: SPF, DKIM and DMARC. tuimail believes only the server named in\r\n"
        "the account's authserv_id; the same words written by a sender are ignored:\r\n"
        "\r\n"
        "Server check: SPF pass · DKIM pass · DMARC pass   <- just text in the body\r\n"
    ).encode()
    start = (now + timedelta(days=2)).replace(hour=14, minute=0, second=0)
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//demo//invitation//EN",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "UID:weekly-sync@demo.invalid",
            f"DTSTAMP:{now.strftime('%Y%m%dT%H%M%SZ')}",
            f"DTSTART;TZID=Europe/Berlin:{start.strftime('%Y%m%dT%H%M%S')}",
            f"DTEND;TZID=Europe/Berlin:{(start + timedelta(hours=1)).strftime('%Y%m%dT%H%M%S')}",
            "RRULE:FREQ=WEEKLY",
            "SUMMARY:Weekly sync: roadmap\\, releases",
            "LOCATION:Room 4.12 / https://meet.example/weekly",
            "ORGANIZER;CN=Søren Berg:mailto:soren@example.org",
            f"ATTENDEE;CN={DEMO_NAME};PARTSTAT=NEEDS-ACTION:mailto:{DEMO_ADDRESS}",
            "ATTENDEE;CN=Ana Lima;PARTSTAT=ACCEPTED:mailto:ana@bank.example",
            "ATTENDEE:mailto:team@example.org",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    invitation = EmailMessage(policy=SMTP)
    invitation["From"] = "Søren Berg <soren@example.org>"
    invitation["To"] = f"{DEMO_NAME} <{DEMO_ADDRESS}>"
    invitation["Subject"] = "Invitation: Weekly sync: roadmap, releases"
    invitation["Date"] = format_datetime(now - timedelta(minutes=40))
    invitation["Message-ID"] = "<showcase.invitation@demo.invalid>"
    invitation.set_content(
        "Søren Berg invites you to the weekly sync. The summary above comes from the\n"
        "invitation's calendar part (when, where, who).\n"
    )
    invitation.add_alternative(calendar, subtype="calendar", params={"method": "REQUEST"})
    return [checked, invitation.as_bytes(policy=SMTP)]


def _message(
    date: datetime,
    sender: str,
    subject: str,
    text: str | None,
    *,
    html: str | None = None,
    attachments: Sequence[tuple[str, bytes, str, str]] = (),
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = f"{DEMO_NAME} <{DEMO_ADDRESS}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<showcase.{int(date.timestamp())}@demo.invalid>"
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, data, maintype, subtype in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


def run_demo(*, keep: Path | None = None, ui: bool = True) -> int:
    """Build the demo store (in `keep`, or a temporary directory removed afterwards) and open the
    app on it; with `ui=False` only build it and say where."""
    data_dir = keep if keep is not None else Path(tempfile.mkdtemp(prefix="tuimail-demo-"))
    try:
        if keep is not None and (keep / "tuimail.db").exists():
            print(f"Using the existing demo store in {keep}.", file=sys.stderr)
        else:
            count = build_demo_store(data_dir)
            print(f"Built a demo store with {count} messages in {data_dir}.", file=sys.stderr)
        if not ui:
            conn = open_store(data_dir)
            try:
                for folder in read.folders(conn):
                    print(
                        f"{folder.account}/{folder.name}: {folder.total} ({folder.unread} unread)"
                    )
            finally:
                conn.close()
            return 0
        from tuimail.app.application import run_app

        return run_app(demo_config(), data_dir, title="tuimail demo", workers=False, demo=True)
    finally:
        if keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
