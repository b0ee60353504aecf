"""The Sent folder's copy of each sent message: for an account with IMAP an APPEND (\\Seen) to
its Sent folder after searching it for the Message-ID, so a retried copy is never a second one;
for any other account a local Sent folder in the store.

`SentCopies(session, ...).store(account_id)` makes the copies still missing (this pass's, and
any a crash left behind) and marks them done. The IMAP connection is the engine session's, so
a failure is reported like any other, prefixed with "sent, but the copy for the Sent folder
waits".
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import itertools
from collections.abc import Callable, Iterable
from datetime import datetime

import imapclient

from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.crashpoint import crashpoint
from tuimail.core.model import SEEN, FolderRole, Protocol
from tuimail.store import outbox, read, write
from tuimail.store.db import StoreConnection, transaction
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.outbox import OutboxItem, OutboxState
from tuimail.sync.imap.connect import imap_for
from tuimail.sync.imap.extensions import append_streamed
from tuimail.sync.session import EngineSession
from tuimail.sync.smtp.send import header_block

SENT_FOLDER = "Sent"  # the local Sent folder of an account without IMAP
LOCAL_COPY_BATCH = 100  # Sent copies stored per transaction in a local Sent folder
WAITS = "sent, but the copy for the Sent folder waits: "


def sent_copy_bytes(raw: bytes, env_rcpts: Iterable[str]) -> bytes:
    """The Sent folder's copy: the sent bytes plus a Bcc header naming the envelope recipients
    that To and Cc do not (the sender may see whom they sent a blind copy to).
    """
    end = raw.find(b"\r\n\r\n")
    header_end = end + 2 if end >= 0 else len(raw)
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[:header_end] + b"\r\n"
    )
    visible = {
        address.lower()
        for _, address in email.utils.getaddresses(
            [str(v) for field in ("to", "cc") for v in headers.get_all(field, [])]
        )
    }
    hidden = [r for r in env_rcpts if r.lower() not in visible]
    if not hidden:
        return raw
    line = b"Bcc: " + b",\r\n ".join(r.encode("utf-8") for r in hidden) + b"\r\n"
    return raw[:header_end] + line + raw[header_end:]


class SentCopies:
    """The Sent copies of one account's pass, on the pass's engine session and store connection.
    `imap_password` is the IMAP password (called only when a copy goes to the server)."""

    def __init__(
        self,
        session: EngineSession,
        conn: StoreConnection,
        account: AccountConfig,
        *,
        imap_password: Callable[[], str],
        now: Callable[[], datetime],
        timeout: float,
    ) -> None:
        self.session = session
        self.conn = conn
        self.account = account
        self.imap_password = imap_password
        self.now = now
        self.timeout = timeout

    @property
    def imap(self) -> ServerConfig | None:
        """The IMAP server that keeps the Sent copies (None: a local Sent folder)."""
        incoming = self.account.incoming
        return incoming if incoming is not None and incoming.protocol is Protocol.IMAP else None

    def store(self, account_id: int) -> int:
        """Make the Sent copies still missing (this pass's, and any a crash left behind); how
        many are done now."""
        conn = self.conn
        pending = [
            item
            for item in outbox.items(conn, account_id=account_id, states=(OutboxState.SENT,))
            if not item.sent_copy_done
        ]
        if not pending:
            return 0
        smtp = self.account.smtp
        if smtp is not None and not smtp.sent_copy:  # off (only a confirmed item gets here)
            outbox.mark_sent_copies_done(conn, [item.id for item in pending])
            return len(pending)
        if self.imap is None:
            return self._store_local_copies(account_id, pending)
        return self._append_copies(account_id, self.imap, pending)

    def _store_local_copies(self, account_id: int, pending: list[OutboxItem]) -> int:
        """Store the copies for the local Sent folder, a batch per transaction."""
        conn = self.conn
        for start in range(0, len(pending), LOCAL_COPY_BATCH):
            batch = pending[start : start + LOCAL_COPY_BATCH]
            with transaction(conn):
                folder_id = write.upsert_folder(conn, account_id, SENT_FOLDER, role=FolderRole.SENT)
                fresh: dict[str, IncomingMessage] = {}
                for item in batch:
                    # Items of one message (recipients retried later) share one copy.
                    if item.message_id in fresh or read.ids_by_message_id(
                        conn, account_id, item.message_id
                    ):
                        continue
                    # The store keeps a message whole (it parses and indexes it): read whole.
                    raw = sent_copy_bytes(outbox.raw_message(conn, item.id), item.env_rcpts)
                    fresh[item.message_id] = IncomingMessage(raw=raw, flags=(SEEN,))
                store_messages(conn, folder_id, list(fresh.values()), now=self.now())
                outbox.mark_sent_copies_done(conn, [item.id for item in batch])
        return len(pending)

    def _append_copies(
        self, account_id: int, server: ServerConfig, pending: list[OutboxItem]
    ) -> int:
        """APPEND the copies the IMAP Sent folder does not have yet; a failure ends the pass
        through the session, in its words after WAITS."""
        session = self.session
        during, session.during = session.during, f"the upload to {server.host}:{server.port}"
        session.prefix = WAITS
        client = imap_for(session, self.imap_password, timeout=self.timeout)
        folder = self._imap_sent_folder(account_id, client)
        client.select_folder(folder)
        done = 0
        for item in pending:
            found = client.search(["HEADER", "Message-ID", item.message_id])
            if not found:
                self._append_copy(client, folder, item)
                crashpoint("smtp.sent_appended")
            outbox.mark_sent_copy_done(self.conn, item.id)
            done += 1
        session.close_client()
        session.during, session.prefix = during, ""
        return done

    def _append_copy(
        self,
        client: imapclient.IMAPClient,
        folder: str,
        item: OutboxItem,
    ) -> None:
        """APPEND the Sent copy of `item`: its header with the Bcc line, then the rest of the
        message streamed from the outbox row into the IMAP literal."""
        conn = self.conn
        size = outbox.raw_size(conn, item.id)
        head = header_block(conn, item.id, size)
        copy_head = sent_copy_bytes(head, item.env_rcpts)
        chunks = outbox.raw_chunks(conn, item.id, start=len(head))
        try:
            append_streamed(
                client,
                folder,
                len(copy_head) + size - len(head),
                itertools.chain((copy_head,), chunks),
                flags=(SEEN,),
                msg_time=_message_date(head) or self.now(),
            )
        finally:
            chunks.close()

    def _imap_sent_folder(self, account_id: int, client: imapclient.IMAPClient) -> str:
        """The IMAP Sent folder: the store's (role SENT), else from the server's LIST (with
        SPECIAL-USE asked for where the server has it), else a new Sent folder, created in the
        personal namespace ("INBOX.Sent" where that is "INBOX.")."""
        for folder in read.folders(self.conn, account_id):
            if folder.role is FolderRole.SENT:
                return folder.name
        from tuimail.sync.imap.listing import (
            assign_roles,
            folder_role,
            list_folders,
            personal_namespace,
        )

        listing = [
            (
                name,
                delimiter.decode() if isinstance(delimiter, bytes) else delimiter,
                folder_role(flags),
            )
            for flags, delimiter, name in list_folders(client)
        ]
        for listed in assign_roles(listing):
            if listed.role is FolderRole.SENT:
                return listed.name
        personal = personal_namespace(client)
        name = (personal[0] if personal else "") + SENT_FOLDER
        client.create_folder(name)
        return name


def _message_date(raw: bytes) -> datetime | None:
    """The message's Date, for the copy's INTERNALDATE (None: none that parses)."""
    end = raw.find(b"\r\n\r\n")
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[: end + 2 if end >= 0 else len(raw)] + b"\r\n"
    )
    value = headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
