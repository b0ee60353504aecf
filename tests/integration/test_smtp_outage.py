"""Queued mail after an outage, against the real Postfix behind the fault proxy: a pass that
cannot reach the server defers its items with a backoff; once the server answers again, a pass
asked to expedite sends them at once (one that is not waits for the backoff), while an item the
server itself turned away (a 4xx greeting) keeps its backoff. In the app, an expedite request
made while a sending pass runs is done by the pass after it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.proxy import FaultProxy, Faults
from tests.support.smtp_send import items, message, write_config
from tuimail.app.application import TuimailApp
from tuimail.cli.send import send_command
from tuimail.config.load import load_config
from tuimail.config.schema import Config
from tuimail.store.outbox import OutboxState
from tuimail.sync.events import ConnectionBack, Event, Reconnecting
from tuimail.sync.smtp.flush import OutboxSender

pytestmark = pytest.mark.integration

BUSY_GREETING = b"421 4.3.2 Service shutting down, try again later\r\n"


class Clock:
    """A clock the test moves."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def busy_greeting(line: bytes) -> bytes:
    """The server's greeting turned into a 421: the server answers, and says "not now"."""
    return BUSY_GREETING if line.startswith(b"220 ") else line


def queue(config: Config, data: Path, to: str, subject: str, clock: Clock) -> None:
    out, err = io.StringIO(), io.StringIO()
    sent = send_command(
        config,
        data,
        account_name=None,
        files=[],
        now_flag=True,
        queue_only=True,
        stdin=io.BytesIO(message([to], subject=subject)),
        out=out,
        err=err,
        clock=clock,
    )
    assert sent == 0, err.getvalue()


@pytest.fixture
def dark_proxy(mail_servers: MailServers) -> Iterator[FaultProxy]:
    """A proxy to Postfix's submission port that refuses connections until it is started (its
    port is bound, nothing listens): the server cannot be reached, then it is back."""
    proxy = FaultProxy(mail_servers.plain_host, mail_servers.submission_port)
    yield proxy
    proxy.close()


def test_an_expedited_pass_sends_at_once_what_waited_for_the_server(
    mail_servers: MailServers, tmp_path: Path, dark_proxy: FaultProxy
) -> None:
    sender, to = mail_servers.add_user("outage"), mail_servers.add_user("outage-to")
    config_path = write_config(
        mail_servers,
        sender,
        tmp_path / "config.toml",
        imap=False,
        smtp_host="127.0.0.1",
        smtp_port=dark_proxy.port,
        security="none",
    )
    config = load_config(config_path, must_exist=True)
    account = config.accounts["home"]
    data = tmp_path / "data"
    clock = Clock(datetime.now(UTC))
    events: list[Event] = []

    def run(*, expedite: bool) -> None:
        OutboxSender(account, data, emit=events.append, now=clock, expedite=expedite).run()

    # The server cannot be reached: the item goes back to the queue with a backoff.
    queue(config, data, mail_servers.address(to), "during the outage", clock)
    run(expedite=False)
    [waiting] = items(data)
    assert waiting.state is OutboxState.QUEUED and waiting.attempts == 1
    assert waiting.next_attempt == clock.now + timedelta(minutes=1)
    assert "connection refused" in (waiting.last_reply or "")

    # The server is back, the backoff is not over: a plain pass leaves the item waiting (it
    # does not even connect); an expedited one sends it.
    dark_proxy.start()
    clock.now += timedelta(seconds=5)
    run(expedite=False)
    assert items(data)[0].state is OutboxState.QUEUED
    assert dark_proxy.connections == []
    run(expedite=True)
    [sent] = items(data)
    assert sent.state is OutboxState.SENT
    mail_servers.wait_for_message(to, sent.message_id)

    # The server answers, but turns the connection away with a 421: its backoff stands.
    queue(config, data, mail_servers.address(to), "turned away", clock)
    dark_proxy.server = Faults(rewrite_line=busy_greeting)
    run(expedite=False)
    turned_away = items(data)[1]
    assert turned_away.state is OutboxState.QUEUED and turned_away.attempts == 1
    assert turned_away.next_attempt == clock.now + timedelta(minutes=1)
    assert "421 4.3.2" in (turned_away.last_reply or "")
    dark_proxy.server = Faults()
    clock.now += timedelta(seconds=5)
    connections = len(dark_proxy.connections)
    run(expedite=True)
    assert items(data)[1].state is OutboxState.QUEUED
    assert len(dark_proxy.connections) == connections
    # Its backoff over, it goes.
    clock.now += timedelta(minutes=1)
    run(expedite=False)
    assert items(data)[1].state is OutboxState.SENT
    mail_servers.wait_for_message(to, items(data)[1].message_id)


async def test_the_app_expedites_after_a_pass_that_was_running_when_asked(
    mail_servers: MailServers, tmp_path: Path, dark_proxy: FaultProxy
) -> None:
    sender, to = mail_servers.add_user("expedite"), mail_servers.add_user("expedite-to")
    config_path = write_config(
        mail_servers,
        sender,
        tmp_path / "config.toml",
        imap=False,
        smtp_host="127.0.0.1",
        smtp_port=dark_proxy.port,
        security="none",
    )
    config = load_config(config_path, must_exist=True)
    account = config.accounts["home"]
    data = tmp_path / "data"
    # Deferred an hour from now, so no timer of the app finds it due during the test.
    later = Clock(datetime.now(UTC) + timedelta(hours=1))
    queue(config, data, mail_servers.address(to), "waited for the server", later)
    await asyncio.to_thread(OutboxSender(account, data, emit=lambda event: None, now=later).run)
    [waiting] = items(data)
    assert waiting.state is OutboxState.QUEUED and waiting.next_attempt > later.now
    # Due now: the app's first pass takes it, and hangs on the server's greeting.
    queue(config, data, mail_servers.address(to), "due at start", Clock(datetime.now(UTC)))
    dark_proxy.server = Faults(stall_after=0)
    dark_proxy.start()

    app = TuimailApp(config, data)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: len(dark_proxy.connections) == 1)
        # The server is back (as the app learns it): asked while that pass runs.
        app.engines.send(account, expedite=True)
        dark_proxy.server = Faults()
        dark_proxy.release()

        def all_sent() -> bool:
            return [i.state for i in items(data)] == [OutboxState.SENT] * 2

        await wait_for(pilot, all_sent)
    assert len(dark_proxy.connections) == 2
    for item in items(data):
        mail_servers.wait_for_message(to, item.message_id)


async def test_mail_queued_during_an_outage_leaves_when_the_imap_session_is_back(
    mail_servers: MailServers, tmp_path: Path, dark_proxy: FaultProxy
) -> None:
    """The whole path in the app: neither server can be reached; the due message is deferred
    with a backoff; when the servers answer again, the IMAP live session's reconnect tells the
    app, which sends the message at once, before its backoff ends."""
    sender, to = mail_servers.add_user("outage"), mail_servers.add_user("outage-to")
    imap_proxy = FaultProxy(mail_servers.plain_host, mail_servers.imap_port)
    try:
        config_path = write_config(
            mail_servers,
            sender,
            tmp_path / "config.toml",
            imap=False,
            smtp_host="127.0.0.1",
            smtp_port=dark_proxy.port,
            security="none",
        )
        config_path.write_text(
            config_path.read_text()
            + f'\n[accounts.home.imap]\nhost = "127.0.0.1"\nport = {imap_proxy.port}\n'
            f'security = "none"\nusername = "{sender}"\nbodies = "none"\n'
        )
        config = load_config(config_path, must_exist=True)
        data = tmp_path / "data"
        queue(
            config, data, mail_servers.address(to), "queued in the outage", Clock(datetime.now(UTC))
        )
        seen: list[Event] = []
        app = TuimailApp(config, data)
        emit = app.bridge.emit
        app.bridge.emit = lambda event: (seen.append(event), emit(event))[1]  # type: ignore[method-assign]
        async with app.run_test(size=(120, 36)) as pilot:
            # The first sending pass cannot connect: the item waits for its backoff.
            await wait_for(pilot, lambda: any(i.attempts for i in items(data)))
            [waiting] = items(data)
            assert waiting.state is OutboxState.QUEUED and waiting.unreachable
            await wait_for(pilot, lambda: any(isinstance(e, Reconnecting) for e in seen))
            # The servers are back.
            dark_proxy.start()
            imap_proxy.start()
            await wait_for(pilot, lambda: any(isinstance(e, ConnectionBack) for e in seen))
            await wait_for(pilot, lambda: items(data)[0].state is OutboxState.SENT)
            [sent] = items(data)
            # Sent before its backoff would have let it go.
            assert sent.updated < waiting.next_attempt
        mail_servers.wait_for_message(to, sent.message_id)
    finally:
        imap_proxy.close()
