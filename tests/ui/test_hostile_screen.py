"""Hostile mail on the real screen: the app (`python -m tuimail`) runs on a pseudo-terminal over
messages and folder names full of terminal escape sequences, C1 controls and bidi controls; each
message is opened, its attachments listed, the folders looked at, and every byte written to the
terminal is parsed: only the app's own sequences are there, and each message was really drawn.

Two runs: an IMAP account against the real Dovecot (messages put there by APPEND, folder names
made on the server, so they come from the server's LIST), and a local account whose folders are
filled through the ingest code (folder names with C0 escape sequences, which Dovecot refuses).
"""

from __future__ import annotations

import base64
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import imapclient
import pytest

from tests.support.mailservers import MailServers
from tests.support.terminal import (
    DOWN,
    ESC,
    PtyApp,
    TerminalScan,
    assert_only_the_apps_own_sequences,
    scan_terminal_output,
)
from tuimail.core.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

BEL = "\x07"
ST = ESC + "\\"
SHIFT_TAB = b"\x1b[Z"

# Each sequence a sender could hide in mail, with parameters no app would write itself.
SEQUENCES = {
    "CSI cursor move": ESC + "[1337;4242H",
    "CSI erase display": ESC + "[2J" + ESC + "[1337;4242f",
    "CSI SGR": ESC + "[38;2;13;37;42;5;7m",
    "OSC 0 title": ESC + "]0;esc-title" + BEL,
    "OSC 2 title": ESC + "]2;esc-title" + ST,
    "OSC 8 hyperlink": ESC + "]8;;https://evil.example/x" + ST + "lnk" + ESC + "]8;;" + ST,
    "OSC 52 clipboard": ESC + "]52;c;cm0gLXJmIH4K" + BEL,  # base64 of "rm -rf ~"
    "DCS request": ESC + "P$qm" + ST,
    "DCS termcap": ESC + "P+q544e" + ST,
    "C1 CSI": "\u009b2424;7331H",
    "C1 OSC": "\u009d0;c1-title\u009c",
    "C1 DCS": "\u0090$qm\u009c",
    "C1 NEL and IND": "\u0085\u0084",
    "bidi override": "\u202eevil\u202c",
    "bidi isolates": "\u2066iso\u2069\u2067\u2068",
    "bidi marks": "\u200e\u200f\u061c",
    "zero width": "z\u200bw\u2060j\ufeff",
}
HOSTILE = "".join(SEQUENCES.values())
# What a sequence's inside would look like if it were shown as text instead of dropped whole.
LEFTOVERS = ("1337;4242", "esc-title", "52;c;", "$qm", "+q544e", "evil.example/x")

# The same as HTML character references (a converter that decodes them must not revive them).
HTML_REFERENCES = (
    "&#27;[1337;4242H &#x1b;]0;esc-title&#7; &#x1B;]52;c;cm0gLXJmIH4K&#x07; "
    "&#x9b;2424;7331H &#155;2424;7331H &#x9d;0;c1-title&#x9c; &#8238;evil&#8236; "
    "&#x2066;iso&#x2069; &#x200f;&#x1b;P$qm&#x1b;\\"
)


def encoded_word(text: str) -> str:
    """One RFC 2047 UTF-8 B encoded word."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode("ascii") + "?="


def _b64_body(text: str) -> str:
    return base64.encodebytes(text.encode()).decode("ascii")


def headers_and_plain_message() -> bytes:
    """Subject, From name, plain body and two attachment names (RFC 2231, RFC 2047)."""
    attachment = base64.encodebytes(b"attached data").decode("ascii")
    lines = [
        f"From: {encoded_word('fromname-start ' + HOSTILE + ' fromname-end')} <m@evil.example>",
        "To: you@tuimail.test",
        f"Subject: {encoded_word('subj1-start ' + HOSTILE + ' subj1-end')}",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "Message-ID: <hostile-plain@evil.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        _b64_body("body1-start " + HOSTILE + " body1-end\nsecond line\n"),
        "--b1",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename*=utf-8''"
        + quote("att2231-start " + HOSTILE + " att2231-end.txt", safe=""),
        "",
        attachment,
        "--b1",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename="
        + json.dumps(encoded_word("att2047-start " + HOSTILE + " att2047-end.txt")),
        "",
        attachment,
        "--b1--",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def html_message() -> bytes:
    """An HTML-only body: the sequences as raw characters and as character references."""
    markup = (
        f"<html><body><p>html1-start {HOSTILE} html1-end</p>"
        f"<p>refs-start {HTML_REFERENCES} refs-end</p>"
        f'<p><a href="https://evil.example/{ESC}]0;esc-title{BEL}">linktext-start '
        f"{HOSTILE} linktext-end</a></p></body></html>"
    )
    lines = [
        "From: Html Sender <h@evil.example>",
        "To: you@tuimail.test",
        f"Subject: {encoded_word('subj2-start html ' + HOSTILE + ' subj2-end')}",
        "Date: Mon, 02 Mar 2026 09:00:00 +0000",
        "Message-ID: <hostile-html@evil.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        _b64_body(markup),
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def eight_bit_message() -> bytes:
    """Raw 8-bit C1 bytes (0x9B CSI, 0x9D OSC, 0x90 DCS) in the Subject and the body."""
    c1 = b"\x9b2424;7331H \x9d0;c1-title\x9c \x90$8bit\x9c \x85"
    return (
        b"From: Eight Bit <e@evil.example>\r\n"
        b"To: you@tuimail.test\r\n"
        b"Subject: subj3-start " + c1 + b" subj3-end\r\n"
        b"Date: Mon, 02 Mar 2026 08:00:00 +0000\r\n"
        b"Message-ID: <hostile-8bit@evil.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"body3-start " + c1 + b" body3-end\r\n"
    )


MESSAGES = (headers_and_plain_message(), html_message(), eight_bit_message())
# Newest first, as the list shows them: what each message's view must show.
MARKERS = (
    ("subj1-start", "subj1-end", "fromname-start", "body1-start", "body1-end",
     "att2231-start", "att2231-end.txt", "att2047-start", "att2047-end.txt"),
    ("subj2-start", "subj2-end", "html1-start", "html1-end", "refs-start", "refs-end",
     "linktext-start", "linktext-end"),
    ("subj3-start", "subj3-end", "body3-start", "body3-end"),
)  # fmt: skip

# Folder names the server accepts (Dovecot refuses C0 controls in new names, and '.').
SERVER_FOLDERS = (
    "Fc1-start\u009b2424;7331H\u009d0;c1-title\u009c Fc1-end",
    "Fbidi-start\u202eevil\u202c\u2066iso\u2069 Fbidi-end",
    "Fzw-start\u200b\u2060\ufeff Fzw-end",
)
# Names only a local store can hold: the whole hostile set, ESC and all.
LOCAL_FOLDERS = (*SERVER_FOLDERS, "Fesc-start " + HOSTILE + " Fesc-end")


def _folder_marker(name: str) -> str:
    return name.split("-start", 1)[0] + "-start"


def _python_app(config: Path, data: Path, home: Path) -> PtyApp:
    return PtyApp(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)],
        env={"HOME": str(home), "COLORTERM": ""},
    )


def _walk_the_app(app: PtyApp, folders: tuple[str, ...]) -> TerminalScan:
    """Open each message, list and offer its attachments, visit the folders; quit."""
    for index, markers in enumerate(MARKERS):
        if index:
            app.send(DOWN)
        for marker in markers:
            app.wait_for_text(marker)
    app.send(b"\x1b[A\x1b[A", settle=0.2)  # back to the message with attachments
    app.wait_for_text("att2231-end.txt")
    start = len(app.output)
    app.send(b"O")  # "open which attachment?" lists the names
    app.wait_for_text("Open which attachment?", since=start)
    app.wait_for_text("att2047-start", since=start)
    app.send(b"\x1b", settle=0.2)
    for name in folders:
        app.wait_for_text(_folder_marker(name))
    start = len(app.output)
    app.send(b"s")  # the folder picker lists the folders' names too
    app.wait_for_text(_folder_marker(folders[0]), since=start)
    app.send(b"\x1b", settle=0.2)
    app.send(SHIFT_TAB)  # into the folder pane: each folder shown in turn (title and list)
    for _ in range(len(folders) + 6):
        app.send(DOWN, settle=0.15)
    assert app.quit() == 0
    return scan_terminal_output(bytes(app.output))


def _assert_clean(output: bytes, scan: TerminalScan) -> None:
    assert_only_the_apps_own_sequences(scan)
    for name, sequence in SEQUENCES.items():
        if name != "zero width":
            assert sequence.encode() not in output, name
    for c1 in (b"\x9b", b"\x9d", b"\x90"):  # as 8-bit bytes outside UTF-8, or encoded
        assert b"\xc2" + c1 not in output
    assert not [csi for csi in scan.csi if "1337" in csi or "2424" in csi or "13;37;42" in csi]
    for leftover in LEFTOVERS:  # sequences are dropped whole, never half shown
        assert leftover not in scan.text, leftover


@pytest.mark.integration
def test_hostile_imap_mail_and_folder_names_never_reach_the_terminal(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("hostilescreen")
    password = mail_servers.users[user]
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=mail_servers.client_ssl_context()
    ) as client:
        client.login(user, password)
        for raw in MESSAGES:
            client.append("INBOX", raw)
        for name in SERVER_FOLDERS:
            client.create_folder(name)
            client.append(name, MESSAGES[0])
        listed = {entry[2] for entry in client.list_folders()}
        assert set(SERVER_FOLDERS) <= listed  # the server kept the names as they are
    config = tmp_path / "config.toml"
    config.write_text(
        "[accounts.hostile]\n"
        f'address = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + shlex.quote(password))}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        "[accounts.hostile.imap]\n"
        f'host = "{mail_servers.host}"\nport = {mail_servers.imaps_port}\n'
        f'username = "{user}"\n'
    )
    app = _python_app(config, tmp_path / "data", tmp_path)
    try:
        scan = _walk_the_app(app, SERVER_FOLDERS)
    finally:
        app.close()
    _assert_clean(bytes(app.output), scan)


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[Path]:
    """A local account's store: the messages in INBOX and in one folder per hostile name."""
    data = tmp_path / "data"
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, "local", None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=raw) for raw in MESSAGES])
        for name in LOCAL_FOLDERS:
            folder = upsert_folder(conn, account_id, name, delimiter="/", role=FolderRole.NONE)
            store_messages(conn, folder, [IncomingMessage(raw=MESSAGES[0])])
    finally:
        conn.close()
    yield data


def test_hostile_local_mail_and_folder_names_never_reach_the_terminal(
    local_store: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[accounts.local]\naddress = "you@tuimail.test"\n')
    app = _python_app(config, local_store, tmp_path)
    try:
        scan = _walk_the_app(app, LOCAL_FOLDERS)
    finally:
        app.close()
    _assert_clean(bytes(app.output), scan)


def test_the_scanner_finds_what_the_messages_carry() -> None:
    # The same parser on the hostile text itself: it must see every kind the app must drop,
    # or the tests above would pass on a blind scanner.
    scan = scan_terminal_output(HOSTILE.encode() + b"\x9b1m")
    assert {"0", "2", "8", "52"} <= scan.osc_numbers
    assert "1337;4242H" in scan.csi and "38;2;13;37;42;5;7m" in scan.csi
    assert "P$qm" in scan.strings and "P+q544e" in scan.strings
    assert {"\u009b", "\u009d", "\u0090", "\u0085", "\udc9b"} <= set(scan.c1)
    assert {"\u202e", "\u2066", "\u200f", "\u061c"} <= set(scan.bidi)
    with pytest.raises(AssertionError):
        assert_only_the_apps_own_sequences(scan)
