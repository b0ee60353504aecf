"""Fetch one message's body on demand: the app calls this from a worker when a message whose
body is not local is opened (its text), or when the user wants its attachments (all of it).
Reports through `emit` like the sync (its engine session, `tuimail.sync.session`); never raises
for server, network or store trouble.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tuimail.config.schema import AccountConfig
from tuimail.core.model import Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.events import Emit
from tuimail.sync.imap.connect import imap_for

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
    from tuimail.sync.imap.account import ImapSync
    from tuimail.sync.imap.engine import MessageGoneError
    from tuimail.sync.session import EngineSession

    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    # A cancel is the app closing: nobody waits for a word about it.
    with EngineSession(
        account, Protocol.IMAP, data_dir, emit, report_cancelled=False, log_level=logging.WARNING
    ) as session:
        conn = session.store()
        engine = ImapSync(conn, account.name, imap_for(session), emit=emit, cancel=cancel)
        try:
            engine.fetch_body(message_id, full=full)
        except MessageGoneError as exc:
            log.info("IMAP %s: message %s: %s", account.name, message_id, exc)
            if on_gone is not None:
                on_gone(sanitize_line(str(exc)))
            return False
        return True
    return False
