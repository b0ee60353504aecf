"""The bridge from the engines to the screen: engine events in, UI messages and notices out.

Engines run in worker threads and report through `EventBridge.emit` (tuimail/sync/events.py);
the bridge turns each event into the UI's own messages (ui/messages.py, text sanitized here
once) and posts them (`post_message` is thread-safe): store changes to the main screen, merged
while one is still waiting (a burst of committed batches is one refresh); failures and given-up
actions as notices; new mail, through tuimail.app.notify, as the app's and the desktop's
notification. A send's outcome (recipients refused, flags waiting for the server) and a body
that could not be fetched come the same way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message

from tuimail.app.notify import (
    News,
    NewsGate,
    choose_desktop,
    news_for,
    notify_send_argv,
    run_notify_send,
    terminal_sequence,
)
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store.db import StoreError
from tuimail.store.outbox import OutboxState
from tuimail.sync.events import (
    ActionsGivenUp,
    AuthNeeded,
    BodyNotFetched,
    ConnectionBack,
    Event,
    MarkedDeleted,
    NewMail,
    Reconnecting,
    StoreChanged,
    SyncFailed,
    SyncFinished,
    SyncProgress,
    SyncStarted,
    given_up_text,
)
from tuimail.ui.messages import (
    AccountState,
    AccountStatus,
    BodyFailed,
    DeletedLeft,
    IntentQueued,
    ServerBack,
    StoreUpdated,
    UserNotice,
)

if TYPE_CHECKING:
    from tuimail.config.schema import NotifyConfig
    from tuimail.sync.smtp.flush import SendResult
    from tuimail.ui.screens.main import MainScreen

log = logging.getLogger(__name__)


class NewMailArrived(Message):
    """An engine stored new messages in a folder: the app may announce them."""

    def __init__(self, account: str, folder_id: int, count: int) -> None:
        super().__init__()
        self.account = account
        self.folder_id = folder_id
        self.count = count


class EventBridge:
    """Engine events to the app's screen and notifications; `emit` from any thread."""

    def __init__(
        self,
        app: App[Any],
        data_dir: Path,
        notify: NotifyConfig,
        call_from_worker: Callable[..., None],
    ) -> None:
        self._app = app
        self._data_dir = data_dir
        self._call_from_worker = call_from_worker
        # The main screen, once the app has mounted it: until then messages go to the app.
        self.screen: MainScreen | None = None
        # The store update posted to the main screen and not yet handled: later changes merge
        # into it (StoreUpdated.merge), so a burst of committed batches is one refresh.
        self._store_update: StoreUpdated | None = None
        self._store_update_lock = threading.Lock()
        # New-mail notifications: one per folder per interval; the desktop channel, if any.
        self._news_gate = NewsGate(notify.min_interval)
        self._desktop = choose_desktop(notify.desktop)
        self._desktop_failed = False

    def emit(self, event: Event) -> None:
        """Any thread: turn an engine event into UI messages (post_message is thread-safe)."""
        for message in ui_messages_for(event):
            target = self.screen
            if isinstance(message, UserNotice | NewMailArrived | ServerBack) or target is None:
                self._app.post_message(message)
            elif isinstance(message, StoreUpdated):
                self.post_store_update(message)
            else:
                target.post_message(message)

    def post_store_update(self, update: StoreUpdated) -> None:
        """Any thread: tell the main screen that the store changed, merged into the update
        still waiting for it when there is one (never dropped: see StoreUpdated)."""
        assert self.screen is not None, "the main screen is mounted first"
        with self._store_update_lock:
            pending = self._store_update
            if pending is not None and pending.merge(update.folder_ids, update.revision):
                return
            self._store_update = update
        self.screen.post_message(update)

    def sent(self, account: str, result: SendResult) -> None:
        """Any thread: what a sending pass did that the user hears of or the server waits for."""
        for outcome in result.outcomes:
            if outcome.state is OutboxState.SENT and outcome.refused:  # named, with the replies
                self._app.post_message(UserNotice(refusal_notice(outcome.refused), title=account))
        for account_id in result.flagged_accounts:
            # A reply or forward went out: \Answered or $Forwarded waits to reach the server.
            self._app.post_message(IntentQueued(account_id))

    def body_failed(self, message_id: int, reason: str, *, gone: bool) -> None:
        """Any thread: the message view says why a body did not come, instead of
        "Downloading…" for ever."""
        assert self.screen is not None, "the main screen is mounted first"
        self.screen.post_message(BodyFailed(message_id, reason, gone=gone))

    # --- notices: the app's own notifications -----------------------------------------------

    def show_notice(self, notice: UserNotice) -> None:
        """App thread: a notice as the app's notification (never markup)."""
        self._app.notify(
            notice.text,
            title=notice.title,
            severity="error" if notice.error else "information",
            markup=False,
        )

    # --- new mail: the app's notification and the desktop's (tuimail/app/notify.py) -----------

    def new_mail(self, message: NewMailArrived, patterns: tuple[str, ...]) -> None:
        """App thread: work out in a thread (store reads) whether and what to announce;
        `patterns` are the folders of the account that announce."""
        job = partial(
            self._news_in_thread, message.account, message.folder_id, message.count, patterns
        )
        self._app.run_worker(job, thread=True, group="news", name="news", exit_on_error=False)

    def _news_in_thread(
        self, account: str, folder_id: int, count: int, patterns: tuple[str, ...]
    ) -> None:
        try:
            news = news_for(self._data_dir, account, folder_id, count, patterns)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("no new-mail notification for %s: %s", account, exc)
            return
        if news is not None:
            self._call_from_worker(self._offer_news, news)

    def _offer_news(self, news: News) -> None:
        announce, wait = self._news_gate.offer(news)
        if wait is not None:
            self._app.set_timer(wait, partial(self._release_news, news.key))
        if announce is not None:
            self._announce(announce)

    def _release_news(self, key: tuple[str, str]) -> None:
        news = self._news_gate.release(key)
        if news is not None:
            self._announce(news)

    def _announce(self, news: News) -> None:
        """The app's notification, then the desktop's (texts sanitized by tuimail.app.notify)."""
        body = news.body()
        self._app.notify(body or news.summary(), title=news.summary() if body else "", markup=False)
        driver = self._app._driver
        if self._desktop.program:
            argv = notify_send_argv(self._desktop.program, news)
            job = partial(self._notify_send_in_thread, argv)
            self._app.run_worker(
                job, thread=True, group="news", name="notify-send", exit_on_error=False
            )
        elif self._desktop.terminal and driver is not None:
            driver.write(terminal_sequence(self._desktop.terminal, news))

    def _notify_send_in_thread(self, argv: list[str]) -> None:
        problem = run_notify_send(argv)
        if problem is not None and not self._desktop_failed:
            self._desktop_failed = True  # said once; the app's own notifications go on
            log.warning("%s", problem)
            self._app.post_message(UserNotice(problem, title="Desktop notifications", error=True))


def refusal_notice(refused: Mapping[str, str]) -> str:
    """The words for recipients a server refused while the message went to the others."""
    lines = ["Sent, but not to:"]
    for recipient, reply in refused.items():
        again = " (tried again later)" if reply.startswith("4") else ""
        lines.append(f"{sanitize_line(recipient)}: {sanitize_line(reply)}{again}")
    return "\n".join(lines)


def ui_messages_for(event: Event) -> list[Message]:
    """The UI messages that show an engine event (text sanitized here, once)."""
    match event:
        case StoreChanged():
            return [StoreUpdated(event.folder_ids, event.revision)]
        case SyncStarted():
            doing = "sending" if event.protocol is Protocol.SMTP else "getting mail"
            return [AccountStatus(event.account, AccountState.BUSY, f"{doing}…")]
        case SyncProgress():
            doing = "sending" if event.protocol is Protocol.SMTP else "getting mail"
            where = f"{sanitize_line(event.folder)} " if event.folder else ""
            text = f"{doing}: {where}{event.done}/{event.total}"
            return [AccountStatus(event.account, AccountState.BUSY, text)]
        case SyncFinished() if event.quiet:
            return []
        case SyncFinished():
            stamp = datetime.now().strftime("%H:%M")
            text = f"{sanitize_line(event.summary)} ({stamp})"
            return [AccountStatus(event.account, AccountState.IDLE, text)]
        case SyncFailed() if event.kind == FailureKind.BUSY:
            # Another pass over the account (a cron sync, the inbox watcher) has the lock.
            text = "another sync of this account is running; it brings the news"
            return [AccountStatus(event.account, AccountState.BUSY, text)]
        case SyncFailed() | AuthNeeded():
            text = sanitize_line(event.message).strip()
            return [
                AccountStatus(event.account, AccountState.ERROR, text),
                UserNotice(
                    text, title=f"{event.account}: {event.protocol.value.upper()}", error=True
                ),
            ]
        case Reconnecting():
            reason = sanitize_line(event.reason).strip()
            text = f"no connection ({reason}); trying again in {event.seconds:.0f} s"
            return [AccountStatus(event.account, AccountState.ERROR, text)]
        case ConnectionBack():
            return [ServerBack(event.account)]
        case BodyNotFetched():
            return [BodyFailed(event.message_id, sanitize_line(event.reason), gone=event.gone)]
        case MarkedDeleted():
            return [DeletedLeft(event.account, event.folder_id, event.count)]
        case ActionsGivenUp():
            # given_up_text sanitizes the folder names and the server's words.
            return [
                UserNotice(
                    "\n".join(given_up_text(action) for action in event.actions),
                    title=f"{event.account}: not carried out",
                    error=True,
                )
            ]
        case NewMail() if not event.first:
            # The app decides whether the folder announces (accounts.NAME.notify_folders).
            return [NewMailArrived(event.account, event.folder_id, event.count)]
    return []
