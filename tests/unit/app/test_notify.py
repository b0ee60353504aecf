"""New-mail notifications: folder patterns, the rate gate, the desktop channel and its texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuimail.app.notify import (
    TERMINAL_OSC9,
    TERMINAL_OSC99,
    TERMINAL_OSC777,
    Desktop,
    News,
    NewsGate,
    choose_desktop,
    news_for,
    notify_send_argv,
    terminal_protocol,
    terminal_sequence,
)
from tuimail.config.load import parse_config
from tuimail.config.patterns import folder_notifies
from tuimail.config.schema import ConfigError
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import NewMail

HOSTILE = News(
    "work",
    "INBOX",
    2,
    sender="Eve \x1b]0;owned\x07<b>bold</b> & co",
    subject="--icon=/tmp/x \x9b31m;\u202eevil\x1b\\",
)


def test_folder_patterns() -> None:
    assert folder_notifies(("INBOX",), "INBOX")
    assert folder_notifies(("INBOX",), "inbox"), "INBOX is case-insensitive"
    assert folder_notifies(("inbox",), "INBOX")
    assert not folder_notifies(("INBOX",), "Archive")
    assert folder_notifies(("INBOX", "Lists/*"), "Lists/python")
    assert not folder_notifies(("Lists/*",), "lists/python"), "other names keep their case"
    assert not folder_notifies((), "INBOX")


def test_the_gate_lets_one_through_per_interval_and_adds_up_the_rest() -> None:
    now = [100.0]
    gate = NewsGate(60, clock=lambda: now[0])
    first = News("work", "INBOX", 1, subject="one")
    assert gate.offer(first) == (first, None)
    now[0] = 110.0
    assert gate.offer(News("work", "INBOX", 2, subject="two")) == (None, 50.0)
    assert gate.offer(News("work", "INBOX", 3, subject="three")) == (None, None)  # already due
    # Another folder is not held back by this one.
    other = News("work", "Lists/x", 1)
    assert gate.offer(other) == (other, None)
    now[0] = 160.0
    released = gate.release(("work", "INBOX"))
    assert released == News("work", "INBOX", 5, subject="three")  # the newest, all counted
    assert gate.release(("work", "INBOX")) is None
    now[0] = 200.0
    assert gate.offer(first) == (None, 20.0), "the release started a new interval"
    assert NewsGate(0, clock=lambda: 0.0).offer(first) == (first, None)


def test_texts_are_sanitized_and_short() -> None:
    summary, body = HOSTILE.summary(), HOSTILE.body()
    assert summary == "2 new messages in work/INBOX"
    for text in (summary, body):
        assert text == sanitize_line(text)
        assert not any(c in text for c in "\x1b\x07\x9b\u202e")
    assert body.startswith("Eve <b>bold</b> & co: --icon=/tmp/x")
    long = News("a", "INBOX", 1, subject="x" * 500)
    assert len(long.body()) == 200 and long.body().endswith("…")
    assert News("a", "INBOX", 1).summary() == "1 new message in a/INBOX"


def test_notify_send_gets_plain_escaped_text_after_the_options() -> None:
    argv = notify_send_argv("/usr/bin/notify-send", HOSTILE)
    assert argv[:4] == [
        "/usr/bin/notify-send",
        "--app-name=tuimail",
        "--category=email.arrived",
        "--",
    ]
    assert argv[4] == "2 new messages in work/INBOX"
    assert argv[5].startswith("Eve &lt;b&gt;bold&lt;/b&gt; &amp; co: --icon=/tmp/x")
    assert "\x1b" not in argv[5] and "<" not in argv[5]


def test_terminal_sequences_cannot_be_ended_or_split_by_the_text() -> None:
    semicolons = News("work", "a;b", 1, sender="S;x", subject="T")
    osc777 = terminal_sequence(TERMINAL_OSC777, semicolons)
    assert osc777 == "\x1b]777;notify;1 new message in work/a,b;S;x: T\x07"
    for protocol in (TERMINAL_OSC9, TERMINAL_OSC777, TERMINAL_OSC99):
        sequence = terminal_sequence(protocol, HOSTILE)
        terminator = "\x1b\\" if protocol == TERMINAL_OSC99 else "\x07"
        inner = sequence[2 : -len(terminator)]
        assert sequence.startswith("\x1b]") and sequence.endswith(terminator)
        assert not any(c in inner for c in "\x1b\x07\x9b\x9c"), protocol
    assert terminal_sequence(TERMINAL_OSC9, HOSTILE).startswith("\x1b]9;tuimail: 2 new")
    with pytest.raises(ValueError):
        terminal_sequence("osc1337", HOSTILE)


def test_terminals_that_show_notifications() -> None:
    assert terminal_protocol({"TERM_PROGRAM": "iTerm.app"}) == TERMINAL_OSC9
    assert terminal_protocol({"TERM_PROGRAM": "WezTerm"}) == TERMINAL_OSC777
    assert terminal_protocol({"TERM": "xterm-ghostty"}) == TERMINAL_OSC777
    assert terminal_protocol({"TERM": "foot"}) == TERMINAL_OSC777
    assert terminal_protocol({"TERM": "xterm-kitty"}) == TERMINAL_OSC99
    assert terminal_protocol({"TERM": "xterm-256color"}) is None
    assert terminal_protocol({"TERM": "screen-256color", "TERM_PROGRAM": "iTerm.app"}) is None
    assert terminal_protocol({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/x"}) is None


def test_choosing_the_desktop_channel() -> None:
    found = {"notify-send": "/usr/bin/notify-send"}.get
    nothing = {}.get
    x11 = {"DISPLAY": ":0", "TERM_PROGRAM": "iTerm.app"}
    ssh = {"TERM_PROGRAM": "iTerm.app"}
    assert choose_desktop("auto", x11, found) == Desktop(program="/usr/bin/notify-send")
    assert choose_desktop("auto", ssh, found) == Desktop(terminal=TERMINAL_OSC9)
    assert choose_desktop("auto", x11, nothing) == Desktop(terminal=TERMINAL_OSC9)
    assert choose_desktop("auto", {}, nothing) == Desktop()
    assert choose_desktop("notify-send", {}, found) == Desktop(program="/usr/bin/notify-send")
    assert choose_desktop("notify-send", {}, nothing) == Desktop()
    assert choose_desktop("terminal", x11, found) == Desktop(terminal=TERMINAL_OSC9)
    assert choose_desktop("off", x11, found) == Desktop()


def test_notify_keys_are_checked() -> None:
    config = parse_config(
        '[notify]\ndesktop = "terminal"\nmin_interval = 0\n'
        '[accounts.w]\naddress = "a@b.c"\nnotify_folders = ["INBOX", "Lists/*"]\n'
        '[accounts.q]\naddress = "q@b.c"\nnotify_folders = []\n'
    )
    assert (config.notify.desktop, config.notify.min_interval) == ("terminal", 0)
    assert config.accounts["w"].notify_folders == ("INBOX", "Lists/*")
    assert config.accounts["q"].notify_folders == ()
    defaults = parse_config('[accounts.w]\naddress = "a@b.c"\n')
    assert defaults.accounts["w"].notify_folders == ("INBOX",)
    assert (defaults.notify.desktop, defaults.notify.min_interval) == ("auto", 60)
    with pytest.raises(ConfigError, match=r"notify\.desktop: 'notfy-send' is not one of .*did you"):
        parse_config('[notify]\ndesktop = "notfy-send"\n')
    with pytest.raises(ConfigError, match=r"accounts\.w\.notify_folders: must be an array"):
        parse_config('[accounts.w]\naddress = "a@b.c"\nnotify_folders = "INBOX"\n')
    with pytest.raises(ConfigError, match=r"notify\.min_interval: must be between"):
        parse_config("[notify]\nmin_interval = -1\n")


def _message(number: int, date: str) -> bytes:
    return (
        f"From: Sender {number} <s{number}@example.org>\r\nTo: you@example.org\r\n"
        f"Subject: message {number}\r\nDate: {date}\r\n"
        f"Message-ID: <n{number}@example.org>\r\n\r\nHi.\r\n"
    ).encode()


def test_news_names_the_newest_of_the_new_messages(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    try:
        account = write.ensure_account(conn, "work", Protocol.IMAP)
        inbox = write.upsert_folder(conn, account, "INBOX")
        archive = write.upsert_folder(conn, account, "Archive")
        store_message(conn, inbox, raw=_message(1, "Mon, 02 Mar 2026 10:00:00 +0000"), uid=1)
        # Two new ones, stored newest first (as the IMAP engine does).
        store_message(conn, inbox, raw=_message(3, "Wed, 04 Mar 2026 10:00:00 +0000"), uid=3)
        store_message(conn, inbox, raw=_message(2, "Tue, 03 Mar 2026 10:00:00 +0000"), uid=2)
        store_message(conn, archive, raw=_message(4, "Thu, 05 Mar 2026 10:00:00 +0000"), uid=1)
    finally:
        conn.close()
    assert news_for(tmp_path, "work", inbox, 2, ("INBOX",)) == News(
        "work", "INBOX", 2, sender="Sender 3", subject="message 3"
    )
    assert news_for(tmp_path, "work", archive, 1, ("INBOX",)) is None
    assert news_for(tmp_path, "work", archive, 1, ("INBOX", "Arch*")) is not None
    assert news_for(tmp_path, "work", inbox, 2, ()) is None
    assert news_for(tmp_path, "work", 999, 2, ("INBOX",)) is None


def test_a_first_download_is_not_news_but_later_ones_are() -> None:
    from tuimail.app.bridge import NewMailArrived, ui_messages_for

    assert ui_messages_for(NewMail("home", 3, 2, first=True)) == []
    (message,) = ui_messages_for(NewMail("home", 3, 2))
    assert isinstance(message, NewMailArrived)
    assert (message.account, message.folder_id, message.count) == ("home", 3, 2)
