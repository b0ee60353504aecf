"""New mail in the app: an in-app notification for the folders that announce, a desktop one
through a stand-in `notify-send` on PATH (it records its arguments) or the terminal's escape."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message
from tuimail.sync.events import NewMail

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOSTILE = (
    b"From: =?utf-8?q?Eve_=1B]0;owned=07<b>x</b>?= <eve@example.org>\r\n"
    b"To: you@demo.invalid\r\n"
    b"Subject: --urgent \x1b[31mred\x1b[0m \xe2\x80\xaeevil\r\n"
    b"Date: Sun, 22 Nov 2026 12:30:00 +0000\r\nMessage-ID: <hostile@example.org>\r\n\r\nHi.\r\n"
)


def _stand_in_notify_send(directory: Path, record: Path, *, status: int = 0) -> None:
    """A `notify-send` that appends its arguments (one JSON array per call) to `record`."""
    directory.mkdir(exist_ok=True)
    script = directory / "notify-send"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(record)!r}, 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stderr.write('no notification daemon\\n') if {status} else None\n"
        f"sys.exit({status})\n"
    )
    script.chmod(0o755)


def _app(data: Path, settings: str) -> TuimailApp:
    """The app on the demo store in `data` (a `demo_store` copy)."""
    config = parse_config('[accounts.demo]\naddress = "you@demo.invalid"\n' + settings)
    return TuimailApp(config, data, clock=lambda: NOW, start_workers=False)


def _arrive(app: TuimailApp, folder: str, raw: bytes, count: int = 1) -> None:
    """An engine in another thread stores a message and says so."""
    conn = open_store(app.data_dir)
    try:
        target = next(f for f in read.folders(conn) if f.name == folder)
        store_message(conn, target.id, raw=raw)
    finally:
        conn.close()
    worker = threading.Thread(target=app.bridge.emit, args=(NewMail("demo", target.id, count),))
    worker.start()
    worker.join()


async def _until(pilot, condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):  # the app reads the store, runs notify-send in threads
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the app did not get there in time")


def _calls(record: Path) -> list[list[str]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


async def test_new_mail_in_the_inbox_is_announced_in_the_app_and_by_notify_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    record = tmp_path / "calls"
    _stand_in_notify_send(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    app = _app(
        demo_store(tmp_path / "data"), '[notify]\ndesktop = "notify-send"\nmin_interval = 3600\n'
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        _arrive(app, "INBOX", HOSTILE)
        await _until(pilot, lambda: _calls(record))
        (argv,) = _calls(record)
        assert argv[:3] == ["--app-name=tuimail", "--category=email.arrived", "--"]
        assert argv[3] == "1 new message in demo/INBOX"
        assert argv[4] == "Eve &lt;b&gt;x&lt;/b&gt;: --urgent red evil"
        (notice,) = list(app._notifications)
        assert notice.title == "1 new message in demo/INBOX"
        assert str(notice.message) == "Eve <b>x</b>: --urgent red evil"
        assert notice.markup is False

        # More mail in the same folder within min_interval: held, not announced again now.
        _arrive(app, "INBOX", HOSTILE.replace(b"<hostile@", b"<second@"))
        await pilot.pause(0.3)
        assert len(_calls(record)) == 1 and len(list(app._notifications)) == 1


async def test_only_the_configured_folders_announce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    record = tmp_path / "calls"
    _stand_in_notify_send(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    app = _app(
        demo_store(tmp_path / "data"),
        'notify_folders = ["Arch*"]\n[notify]\ndesktop = "notify-send"\nmin_interval = 0\n',
    )
    message = HOSTILE.replace(b"<hostile@", b"<archived@")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        _arrive(app, "INBOX", HOSTILE)
        _arrive(app, "Archive", message)
        await _until(pilot, lambda: _calls(record))
        await pilot.pause(0.3)
        assert [argv[3] for argv in _calls(record)] == ["1 new message in demo/Archive"]
        assert [n.title for n in app._notifications] == ["1 new message in demo/Archive"]


async def test_held_news_is_announced_when_the_interval_ends(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _app(demo_store(tmp_path / "data"), '[notify]\ndesktop = "off"\nmin_interval = 1\n')
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        _arrive(app, "INBOX", HOSTILE)
        await _until(pilot, lambda: len(app._notifications) == 1)
        _arrive(app, "INBOX", HOSTILE.replace(b"<hostile@", b"<b@"))
        _arrive(app, "INBOX", HOSTILE.replace(b"<hostile@", b"<c@"), count=2)
        await _until(pilot, lambda: len(app._notifications) == 2)
        titles = [n.title for n in app._notifications]
        assert titles == ["1 new message in demo/INBOX", "3 new messages in demo/INBOX"]


async def test_a_failing_notify_send_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    record = tmp_path / "calls"
    _stand_in_notify_send(tmp_path / "bin", record, status=1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    app = _app(
        demo_store(tmp_path / "data"), '[notify]\ndesktop = "notify-send"\nmin_interval = 0\n'
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        _arrive(app, "INBOX", HOSTILE)
        await _until(pilot, lambda: len(app._notifications) == 2)
        _arrive(app, "INBOX", HOSTILE.replace(b"<hostile@", b"<again@"))
        await _until(pilot, lambda: len(_calls(record)) == 2)
        await pilot.pause(0.3)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert [str(n.message) for n in errors] == [
            "notify-send failed with exit status 1: no notification daemon"
        ]


async def test_the_terminal_escape_goes_through_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: DemoStore
) -> None:
    monkeypatch.setenv("TERM_PROGRAM", "iTerm.app")
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    app = _app(demo_store(tmp_path / "data"), '[notify]\ndesktop = "terminal"\n')
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        written: list[str] = []
        driver = app._driver
        assert driver is not None
        original = driver.write
        monkeypatch.setattr(driver, "write", lambda data: (written.append(data), original(data)))
        _arrive(app, "INBOX", HOSTILE)
        await _until(pilot, lambda: any("\x1b]9;" in w for w in written))
        (sequence,) = [w for w in written if "\x1b]9;" in w]
        assert sequence == (
            "\x1b]9;tuimail: 1 new message in demo/INBOX (Eve <b>x</b>: --urgent red evil)\x07"
        )


@pytest.mark.integration
async def test_a_real_imap_sync_announces_new_mail_but_not_the_first_sync(
    mail_servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuimail.ui.widgets.message_list import MessageList

    record = tmp_path / "calls"
    _stand_in_notify_send(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    user = mail_servers.add_user("notifyimap")
    mail_servers.deliver(user, HOSTILE.replace(b"<hostile@", b"<old@"))
    password = shlex.quote(mail_servers.users[user])
    config = parse_config(
        f'[notify]\ndesktop = "notify-send"\n'
        f'[accounts.acct]\naddress = "{user}@tuimail.test"\n'
        f"password_command = {json.dumps('printf %s ' + password)}\n"
        f"ca_file = {json.dumps(str(mail_servers.ca_file))}\n"
        f'[accounts.acct.imap]\nhost = "{mail_servers.host}"\n'
        f'port = {mail_servers.imaps_port}\nusername = "{user}"\n'
    )
    data = tmp_path / "data"
    app = TuimailApp(config, data)
    async with app.run_test(size=(120, 36)) as pilot:
        await _until(pilot, lambda: len(app.screen.query_one(MessageList).ids) == 1, 60)
        await pilot.pause(0.3)
    assert _calls(record) == [], "the first sync of a folder announces nothing"

    mail_servers.deliver(user, HOSTILE.replace(b"<hostile@", b"<new@"))
    app = TuimailApp(config, data)
    async with app.run_test(size=(120, 36)) as pilot:
        await _until(pilot, lambda: _calls(record), 60)
        (argv,) = _calls(record)
        assert argv[3:] == [
            "1 new message in acct/INBOX",
            "Eve &lt;b&gt;x&lt;/b&gt;: --urgent red evil",
        ]
        assert [n.title for n in app._notifications] == ["1 new message in acct/INBOX"]
