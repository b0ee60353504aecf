"""Fetch one message's body on demand: the app calls this from a worker when a message whose
body is not local is opened (its text), or when the user wants its attachments (all of it).
Reports through `emit` like the sync; never raises for server, network or store trouble.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tuimail.config import AccountConfig
from tuimail.mail.sanitize import sanitize_line
from tuimail.model import Protocol
from tuimail.store.db import StoreError, open_store
from tuimail.sync.events import AuthNeeded, Emit, SyncFailed

log = logging.getLogger(__name__)


def fetch_body(
    account: AccountConfig,
    data_dir: Path,
    message_id: int,
    emit: Emit,
    *,
    cancel: threading.Event | None = None,
    full: bool = False,
    on_gone: Callable[[str], None] | None = None,
) -> bool:
    """Fetch and store the body of message `message_id` of an IMAP account; True when stored.

    Without `full` a message with attachments gets its text only (a partial body, see
    `ImapSync.fetch_body`); with it, the exact bytes of the whole message. The engine emits
    StoreChanged for the message's folder once the body is committed. No sync lock is taken:
    storing one body is idempotent and does not disturb a running sync.

    A message that is gone (no longer in the store: its folder was rebuilt or synced while it
    was opened; or no longer on the server) is no failure of the account: no error event is
    emitted, `on_gone` is called with the reason in words instead.
    """
    from tuimail.secrets import get_password
    from tuimail.sync import imap
    from tuimail.sync.connect import ConnectError, FailureKind, connect_imap
    from tuimail.sync.imap_ext import ImapProtocolError, logout_quietly

    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP

    def failed(kind: str, message: str) -> bool:
        log.warning("IMAP %s: message %s: %s", account.name, message_id, message)
        emit(SyncFailed(account.name, Protocol.IMAP, kind, sanitize_line(message)))
        return False

    try:
        conn = open_store(data_dir)
    except StoreError as exc:
        return failed("store", str(exc))
    client = None
    try:
        client = connect_imap(
            server, ca_file=account.ca_file, password=lambda: get_password(account, Protocol.IMAP)
        )
        engine = imap.ImapSync(conn, account.name, client, emit=emit, cancel=cancel)
        engine.fetch_body(message_id, full=full)
        return True
    except ConnectError as exc:
        if exc.kind in (FailureKind.AUTH_FAILED, FailureKind.PASSWORD_UNAVAILABLE):
            emit(AuthNeeded(account.name, Protocol.IMAP, sanitize_line(exc.message)))
            return False
        return failed(exc.kind.value, exc.message)
    except imap.MessageGoneError as exc:
        log.info("IMAP %s: message %s: %s", account.name, message_id, exc)
        if on_gone is not None:
            on_gone(sanitize_line(str(exc)))
        return False
    except ImapProtocolError as exc:
        return failed("protocol", f"the server sent something unexpected: {exc}")
    except imap.NETWORK_ERRORS as exc:
        return failed("network", f"the connection failed: {exc or type(exc).__name__}")
    except StoreError as exc:
        return failed("store", str(exc))
    finally:
        if client is not None:
            logout_quietly(client)
        conn.close()
