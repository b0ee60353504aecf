"""What the screens use of the running app beyond Textual's `App`, as a type, and `Sender`,
the identity the app hands the composer.

Textual types `Screen.app` as a plain `App`; the screens also need the app's configuration, its
store connection, its data directory, its network gate and its sending. `AppHost` names exactly
that, so the UI layer does not import `tuimail.app.application` (which imports the screens),
and mypy checks that `TuimailApp` provides it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from tuimail.core.model import Address

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import App

    from tuimail.config.schema import Config, Identity
    from tuimail.store.db import StoreConnection


# How long a sent message waits in the outbox by default, so it can still be taken back.
DEFAULT_SEND_DELAY = timedelta(seconds=10)


@dataclass(frozen=True)
class Sender:
    """Who a message is sent as: the account's name in the store, and its identity."""

    account: str
    address: Address
    can_send: bool  # the account has an SMTP server
    own_addresses: tuple[str, ...] = field(default=())
    # How long a sent message waits in the outbox, so it can still be taken back.
    send_delay: timedelta = DEFAULT_SEND_DELAY
    # The SMTP server as "host:port": the store knows what it offered when last connected.
    smtp_server: str = ""
    # The addresses the account writes as, its own first (`address` is the first one's).
    identities: tuple[Identity, ...] = field(default=())


class AppHost(Protocol):
    """The app as the screens see it (`TuimailApp` in `tuimail.app` is the one implementation)."""

    config: Config
    conn: StoreConnection  # the UI thread's store connection
    data_dir: Path  # the data directory: the store and its lock live there
    offline: bool  # started with --offline: nothing connects

    def network_closed(self, doing: str) -> str | None:
        """The one gate to the network: None to go ahead, else why not, in words."""
        ...

    def sender_for(self, account_id: int | None) -> Sender | None:
        """Who to send as: the given store account if it has SMTP, else the first that does."""
        ...

    def one_click_unsubscribe(
        self, uri: str, account_id: int, done: Callable[[bool, str], None]
    ) -> str | None:
        """POST a one-click unsubscribe (RFC 8058) to `uri` for a message of the store
        account `account_id`; `done(ok, words)` runs on the app's thread afterwards. None when
        it started, else why not, in words."""
        ...

    def start_sender_for_account_id(self, account_id: int) -> None:
        """Start a sending pass for the store account `account_id`."""
        ...

    def call_from_worker(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """From any worker thread: run `callback(*args, **kwargs)` on the app's thread soon."""
        ...


def app_host(app: App[Any]) -> AppHost:
    """`app` (a screen's `self.app`) as the `AppHost` it is when tuimail runs."""
    return cast("AppHost", app)
