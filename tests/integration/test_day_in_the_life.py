"""A day in the life: the real app in a real terminal (tmux) against the real Dovecot and Postfix.

One scripted session does what a new user does on a first day: the first sync of 2000 messages,
reading, a search while new mail arrives, a reply, a forward with its attachment, undo send then
escape, delete then undo, a move, quitting, an offline restart, and a POP3 account. Afterwards the
server's and the store's state are checked: every message where the user put it, none lost, none
doubled, and every action taken on the message that was highlighted when its key was pressed.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.tmux import TmuxApp
from tuimail.store import drafts, ops, outbox, read
from tuimail.store.db import open_store

pytestmark = pytest.mark.integration

INBOX_SIZE = 2000
POP3_SIZE = 250
UNDO_SECONDS = 2
ATTACHMENT = b"quarter,revenue\r\nQ1,100\r\nQ2,120\r\n" * 40
START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _message(
    number: int,
    *,
    sender: str,
    subject: str,
    attachment: bool = False,
    date: datetime,
    to: str = "me@tuimail.test",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<day-{number}@tuimail.test>"
    message.set_content(f"Body of message {number}.\n")
    if attachment:
        message.add_attachment(ATTACHMENT, maintype="text", subtype="csv", filename="numbers.csv")
    return message.as_bytes(policy=policy.SMTP)


def _inbox_messages(bob: str, to: str) -> Iterator[bytes]:
    """2000 messages to `to`, one a minute; two NEEDLEs and, newest, one with an attachment,
    from bob."""
    for number in range(1, INBOX_SIZE + 1):
        date = START + timedelta(minutes=number)
        if number in (700, 1400):
            which = "one" if number == 700 else "two"
            yield _message(number, sender=bob, subject=f"NEEDLE {which}", date=date, to=to)
        elif number == INBOX_SIZE:
            yield _message(
                number,
                sender=bob,
                subject="Quarterly numbers",
                attachment=True,
                date=date,
                to=to,
            )
        else:
            sender = f"Sender {number % 50} <sender{number % 50}@example.org>"
            subject = f"Daily report {number:04d}"
            yield _message(number, sender=sender, subject=subject, date=date, to=to)


def _imap(mail_servers: MailServers, user: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        mail_servers.host,
        mail_servers.imaps_port,
        ssl_context=mail_servers.client_ssl_context(),
        timeout=30,
    )
    client.login(user, mail_servers.users[user])
    return client


def _fill_inbox(mail_servers: MailServers, user: str, bob: str) -> None:
    with _imap(mail_servers, user) as client:
        client.create_folder("Projects")
        batch: list[bytes] = []
        for raw in _inbox_messages(bob, mail_servers.address(user)):
            batch.append(raw)
            if len(batch) == 200:
                client.multiappend("INBOX", batch)
                batch = []
        if batch:
            client.multiappend("INBOX", batch)


def _subjects(mail_servers: MailServers, user: str, folder: str) -> dict[str, list[set[bytes]]]:
    """Subject -> the flags of each message with it in `folder`, read on the server."""
    with _imap(mail_servers, user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        found: dict[str, list[set[bytes]]] = {}
        for data in client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]).values():
            header = data[b"BODY[HEADER.FIELDS (SUBJECT)]"]
            subject = str(message_from_bytes(header, policy=policy.default)["Subject"] or "")
            found.setdefault(subject, []).append(set(data[b"FLAGS"]))
        return found


def _wait_for_subject(
    mail_servers: MailServers, user: str, subject: str, seconds: float = 60.0
) -> bytes:
    """The raw message with `subject` in `user`'s INBOX, once it has arrived (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with _imap(mail_servers, user) as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["SUBJECT", subject])
            if uids:
                return client.fetch(uids[:1], ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
        time.sleep(0.5)
    raise AssertionError(f"{subject!r} never reached the mailbox")


def _config(mail_servers: MailServers, user: str, *, pop3: bool = False) -> str:
    password = shlex.quote(mail_servers.users[user])
    incoming = (
        f"[accounts.acct.pop3]\nhost = {json.dumps(mail_servers.host)}\n"
        f"port = {mail_servers.pop3s_port}\nusername = {json.dumps(user)}\n"
        if pop3
        else f"[accounts.acct.imap]\nhost = {json.dumps(mail_servers.host)}\n"
        f"port = {mail_servers.imaps_port}\nusername = {json.dumps(user)}\n"
    )
    return (
        "[accounts.acct]\n"
        f"address = {json.dumps(mail_servers.address(user))}\n"
        'display_name = "Day User"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        + incoming
        + f"[accounts.acct.smtp]\nhost = {json.dumps(mail_servers.host)}\n"
        f"port = {mail_servers.smtps_port}\nusername = {json.dumps(user)}\n"
        f"undo_send_seconds = {UNDO_SECONDS}\n"
        '[notify]\ndesktop = "off"\n'
    )


def _start(tmp_path: Path, config: Path, data: Path, *extra: str) -> TmuxApp:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    socket_dir = tmp_path / f"tmux-{time.monotonic_ns()}"
    socket_dir.mkdir()
    argv = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    return TmuxApp(
        [*argv, *extra],
        env={
            "HOME": str(home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "PYTHONFAULTHANDLER": "1",  # a stuck program's threads are shown (TmuxApp)
        },
        socket_dir=socket_dir,
    )


def _list_rows(screen: str) -> list[str]:
    """The message list's rows on the screen (below the header, above the list's border)."""
    rows = []
    for line in screen.splitlines()[2:]:
        if "╰" in line:
            break
        rows.append(line)
    return rows


def _highlighted_subject(app: TmuxApp) -> str:
    """The subject in the message view, which shows the message under the list's cursor."""
    for line in app.screen().splitlines():
        if "Subject: " in line:
            return line.split("Subject: ", 1)[1].strip(" │┃|")
    raise AssertionError(f"no message is shown:\n{app.screen()}")


def _wait_highlighted(app: TmuxApp, subject: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _highlighted_subject_or_none(app) != subject:
        if time.monotonic() > deadline:
            raise AssertionError(f"{subject!r} is not highlighted:\n{app.screen()}")
        time.sleep(0.1)


def _highlighted_subject_or_none(app: TmuxApp) -> str | None:
    try:
        return _highlighted_subject(app)
    except AssertionError:
        return None


def _store_subjects(data: Path, folder_name: str) -> list[str]:
    conn = open_store(data)
    try:
        folder = next(f for f in read.folders(conn) if f.name == folder_name)
        return [row.envelope.subject for row in read.rows(conn, read.message_ids(conn, folder.id))]
    finally:
        conn.close()


def _wait_store(data: Path, folder: str, condition, seconds: float = 60.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            subjects = _store_subjects(data, folder)
        except StopIteration:
            subjects = []
        if condition(subjects):
            return subjects
        if time.monotonic() > deadline:
            raise AssertionError(f"the store's {folder} never got there: {len(subjects)} messages")
        time.sleep(0.2)


def test_a_day_in_the_life(mail_servers: MailServers, tmp_path: Path) -> None:
    user = mail_servers.add_user("day")
    bob_user = mail_servers.add_user("bob")
    bob = f"Bob <{mail_servers.address(bob_user)}>"
    _fill_inbox(mail_servers, user, bob)
    config = tmp_path / "config.toml"
    config.write_text(_config(mail_servers, user))
    data = tmp_path / "data"

    app = _start(tmp_path, config, data)
    try:
        # The first sync of 2000 messages: the list fills, newest first, and the status says so.
        app.wait_for(f"{INBOX_SIZE} messages", seconds=120)
        _wait_highlighted(app, "Quarterly numbers")
        assert " 0 new" not in app.screen()

        # Read the newest message, back to the list.
        app.keys("Enter")
        app.wait_for("Body of message 2000.")
        app.keys("Escape")

        # Search; new mail arrives meanwhile: the results and the highlighted message stay.
        app.keys("/")
        app.type("NEEDLE")
        app.keys("Enter")
        app.wait_for("2 found")
        app.keys("j")
        app.keys("k")
        searched = _highlighted_subject(app)
        assert searched.startswith("NEEDLE"), searched
        fresh = EmailMessage()
        fresh["From"] = "Carol <carol@example.org>"
        fresh["To"] = mail_servers.address(user)
        fresh["Subject"] = "Fresh arrival"
        fresh["Date"] = format_datetime(datetime.now(UTC))
        fresh["Message-ID"] = make_msgid(domain="tuimail.test")
        fresh.set_content("Arrived during a search.\n")
        mail_servers.deliver(user, fresh.as_bytes(policy=policy.SMTP))
        _wait_store(data, "INBOX", lambda subjects: "Fresh arrival" in subjects)
        time.sleep(1.5)  # the app has seen the store change
        screen = app.screen()
        assert "2 found" in screen, screen
        assert not any("Fresh arrival" in row for row in _list_rows(screen)), screen
        assert _highlighted_subject(app) == searched

        # Reply to the highlighted search result; it reaches bob.
        app.keys("R")
        app.wait_for(f"Re: {searched}")
        app.type("Thanks for the needle.")
        app.keys("C-s")
        reply = _wait_for_subject(mail_servers, bob_user, f"Re: {searched}")
        assert b"Thanks for the needle." in reply

        # End the search: the whole INBOX, with the new message.
        app.keys("Escape")
        app.wait_for(f"{INBOX_SIZE + 1} messages")

        # Forward the message with the attachment: bob gets the attachment, byte for byte.
        app.keys("g")
        _wait_highlighted(app, "Fresh arrival")
        app.keys("j")
        _wait_highlighted(app, "Quarterly numbers")
        app.keys("f")
        app.wait_for("Fwd: Quarterly numbers")
        app.type(mail_servers.address(bob_user))
        app.keys("C-s")
        forwarded = message_from_bytes(
            _wait_for_subject(mail_servers, bob_user, "Fwd: Quarterly numbers"),
            policy=policy.default,
        )
        (part,) = [p for p in forwarded.iter_attachments() if p.get_filename() == "numbers.csv"]
        assert part.get_content().encode() == ATTACHMENT.decode().encode()

        # Undo send, then escape: the message is kept as a draft, never sent.
        app.keys("c")
        app.wait_for("To")
        app.type(mail_servers.address(bob_user))
        app.keys("Tab")  # to Subject: Cc and Bcc are hidden while empty
        app.type("Taken back")
        app.keys("Tab")
        app.type("Second thoughts.")
        app.keys("C-s")
        app.wait_for("Queued")
        app.keys("o")
        app.wait_for("queued")
        assert "Taken back" in app.screen()
        app.keys("e")
        app.wait_for("Second thoughts.")
        app.keys("Escape", settle=1.0)
        if "Keep as draft" in app.screen():  # the composer asks: keep it
            app.keys("k", settle=1.0)
        app.keys("Escape", settle=0.5)  # back from the outbox, if it is shown
        app.wait_for(f"{INBOX_SIZE + 1} messages")

        # Delete, then undo: the message is back where it was.
        app.keys("g", "j", "j")
        _wait_highlighted(app, "Daily report 1999")
        app.keys("d")
        app.wait_for("Moved to Trash")
        _wait_highlighted(app, "Daily report 1998")
        app.keys("u")
        app.wait_for("Daily report 1999")

        # Move the highlighted message to Projects.
        app.keys("g", "j", "j", "j")
        _wait_highlighted(app, "Daily report 1998")
        app.keys("s")
        app.type("Projects")
        app.keys("Enter")
        app.wait_for("Moved to Projects")

        # Quit: the actions reach the server first or wait in the store for the next run.
        time.sleep(UNDO_SECONDS + 3)
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()

    # An offline restart: everything is there, nothing connects.
    app = _start(tmp_path, config, data, "--offline")
    try:
        app.wait_for(f"{INBOX_SIZE} messages")
        _wait_highlighted(app, "Fresh arrival")
        app.keys("Enter")
        app.wait_for("Arrived during a search.")
        app.keys("Escape")
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()

    # Online once more, so whatever waited is carried out; then the server's state.
    app = _start(tmp_path, config, data)
    try:
        app.wait_for(f"{INBOX_SIZE} messages", seconds=60)
        conn = open_store(data)
        try:
            deadline = time.monotonic() + 60
            while ops.count_pending(conn) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ops.count_pending(conn) == 0
        finally:
            conn.close()
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()

    inbox = _subjects(mail_servers, user, "INBOX")
    assert sum(len(v) for v in inbox.values()) == INBOX_SIZE  # + Fresh arrival - the moved one
    assert all(len(v) == 1 for v in inbox.values()), "a message is doubled"
    assert "Daily report 1998" not in inbox and "Fresh arrival" in inbox
    assert "Daily report 1999" in inbox  # deleted, then undone
    assert b"\\Answered" in inbox[searched][0]
    assert b"$Forwarded" in inbox["Quarterly numbers"][0]
    assert list(_subjects(mail_servers, user, "Projects")) == ["Daily report 1998"]
    assert _subjects(mail_servers, user, "Trash") == {}
    bob_inbox = _subjects(mail_servers, bob_user, "INBOX")
    assert len(bob_inbox[f"Re: {searched}"]) == 1
    assert len(bob_inbox["Fwd: Quarterly numbers"]) == 1
    assert "Taken back" not in bob_inbox

    conn = open_store(data)
    try:
        assert not outbox.items(
            conn,
            states=(outbox.OutboxState.QUEUED, outbox.OutboxState.SENDING,
                    outbox.OutboxState.FAILED, outbox.OutboxState.UNKNOWN),
        )  # fmt: skip
        kept = [d.draft.subject for d in drafts.live(conn)]
        assert kept == ["Taken back"]
    finally:
        conn.close()


def test_a_pop3_account_in_the_app(mail_servers: MailServers, tmp_path: Path) -> None:
    """A POP3 account of a few hundred messages: the app downloads them, and they read offline."""
    user = mail_servers.add_user("daypop")
    with _imap(mail_servers, user) as client:
        batch = [
            _message(
                n,
                sender="Sender <s@example.org>",
                subject=f"Popped {n:04d}",
                date=START + timedelta(minutes=n),
            )
            for n in range(1, POP3_SIZE + 1)
        ]
        client.multiappend("INBOX", batch)
    config = tmp_path / "config.toml"
    config.write_text(_config(mail_servers, user, pop3=True))
    data = tmp_path / "data"
    app = _start(tmp_path, config, data)
    try:
        app.wait_for(f"{POP3_SIZE} messages", seconds=120)
        assert "error" not in app.screen().lower()
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()
    app = _start(tmp_path, config, data, "--offline")
    try:
        app.wait_for(f"{POP3_SIZE} messages")
        _wait_highlighted(app, f"Popped {POP3_SIZE:04d}")
        app.keys("Enter")
        app.wait_for(f"Body of message {POP3_SIZE}.")
        app.keys("q")  # in the message view (as in mutt's pager): back to the list
        app.keys("q")
        assert app.wait_for_exit() == 0
    finally:
        app.close()
    assert len(_store_subjects(data, "INBOX")) == POP3_SIZE
