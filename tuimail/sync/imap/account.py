"""The IMAP engine of one account (`ImapSync`) and its pass over the account: the user's
pending actions first (a resync must not undo them), then the folder list, then every folder's
headers, then the bodies the account's policy wants, newest first across its folders.

`ImapSync` works on one logged-in imapclient client and one store connection, both owned by the
calling thread (imapclient is not thread-safe). It writes only to the store and reports only
through `emit`; `cancel` is checked between batches. Its parts: folder identity
(tuimail.sync.imap.identity), bodies (.bodies; the policy's and the prefetch: .offline), the
folder resync (.resync), the ops replay (.replay), and what they share (.engine).

`sync_account` is one pass over an account as the app and `tuimail sync` run it: the account's
sync lock, the store, the connection, and every failure turned into one event.

The server is never asked to delete anything because of what the store lacks: the sync only
reads (EXAMINE, FETCH with BODY.PEEK, SEARCH). Only the ops replay writes to the server.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import imapclient
import imapclient.exceptions

from tuimail.config.schema import AccountConfig, BodyPolicy
from tuimail.core.failure import FailureKind
from tuimail.core.model import FolderRole, Protocol
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import db, folder_ops, read, write
from tuimail.store.db import transaction
from tuimail.sync.events import Emit, SyncFinished, SyncStarted
from tuimail.sync.imap.connect import imap_for
from tuimail.sync.imap.engine import (
    FetchEndedConnection,
    FolderNotFoundError,
    FolderResult,
    Unreadable,
    error_text,
    skipped_text,
)
from tuimail.sync.imap.extensions import ImapProtocolError
from tuimail.sync.imap.listing import (
    UNSELECTABLE,
    assign_roles,
    folder_role,
    list_with_subscriptions,
    personal_namespace,
)
from tuimail.sync.imap.offline import OfflineBodies
from tuimail.sync.imap.replay import OpReplay
from tuimail.sync.imap.resync import FolderResync
from tuimail.sync.session import EngineSession, Failure

log = logging.getLogger(__name__)

# What a pass downloads of the bodies when the caller names no policy: none (headers only).
NO_BODIES = BodyPolicy(keep="none")
# Page cache of the store connection a sync uses, in KiB (the store default is larger).
SYNC_CACHE_KIB = 4096
# Reconnects one sync makes after the server ended the connection over a FETCH (BYE to an
# unreadable message): two per such message (find it, then go on without it).
MAX_FETCH_RECONNECTS = 20


class ImapSync(FolderResync, OfflineBodies, OpReplay):
    """One account's IMAP engine over one client and one store connection (same thread)."""

    def sync(self, *, folder: str | None = None, bodies: BodyPolicy = NO_BODIES) -> AccountResult:
        """One pass: the folder list, then every folder (or only `folder`), INBOX first, then
        the bodies `bodies` wants of the folders synced, newest first.

        Errors of one folder (it vanished, the server refused it) are recorded on the folder and
        the pass goes on; connection failures end it (they propagate).
        """
        result = AccountResult()
        # The user's actions first: a resync must not undo them.
        result.ops_replayed, result.ops_waiting = self.replay_ops()
        folders = self.sync_folders()
        if folder is not None:
            # The full name, or the name the app shows (without the namespace prefix).
            wanted = read.find_folder_as_named(self.conn, self.account_id, folder)
            if wanted is None:
                raise FolderNotFoundError(f"there is no folder {folder!r} on the server")
            folders = [wanted]
        with self.bulk_writes():  # a large pass stores its batches with a writer process
            for info in folders:
                self._check_cancel()
                try:
                    result.folders.append(self.sync_folder(info.id))
                except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
                    if isinstance(exc, imapclient.IMAPClient.AbortError):
                        raise
                    message = error_text(exc)
                    write.record_folder_error(self.conn, info.id, message)
                    result.folder_errors[info.name] = message
                    log.warning("IMAP %s/%s: %s", self.account, sanitize_line(info.name), message)
            if bodies.wants_any() and result.folders:
                # Every folder's headers first: the list is whole before any body is fetched.
                folder_ids = [f.folder_id for f in result.folders]
                got = self.download_wanted_bodies(bodies, folders=folder_ids)
                result.bodies = got.stored
                for folder_id, problem in got.problems.items():
                    failed = read.folder(self.conn, folder_id)
                    result.folder_errors[failed.name if failed else f"folder {folder_id}"] = problem
        marked = read.marked_deleted(self.conn, self.account_id)
        result.marked_deleted = sum(marked.get(f.folder_id, 0) for f in result.folders)
        return result

    def sync_folders(self) -> list[read.FolderInfo]:
        """LIST the server's folders into the store: new ones added, roles, delimiters and
        subscriptions updated, vanished ones removed (unless they hold local-only data).
        Returns the folders that exist on the server and that passes sync (`syncs`: with
        `subscribed_only`, not the unsubscribed ones), INBOX first.

        Roles come from SPECIAL-USE attributes, asked for with `RETURN (SPECIAL-USE)` where the
        server has it (`listing.list_folders`), else from names. The personal namespace prefix
        is recorded on the account (names are stored whole; only what is shown leaves it out).
        """
        listing: list[tuple[str, str | None, FolderRole]] = []
        try:
            listed, subscribed = list_with_subscriptions(self.client)
        except (imapclient.exceptions.ProtocolError, ValueError, TypeError) as exc:
            raise ImapProtocolError(f"a malformed folder list (LIST): {error_text(exc)}") from exc
        if self._namespace is None:
            # What the folder names begin with ("INBOX." on Cyrus and Courier): the user sees
            # them without it. Asked once per connection.
            personal = personal_namespace(self.client)
            self._namespace = personal[0] if personal else ""
        for flags, delimiter, name in listed:
            lowered = {bytes(f).lower() for f in flags}
            if lowered & UNSELECTABLE:
                continue  # a hierarchy node: it cannot hold messages
            text = name if isinstance(name, str) else bytes(name).decode("utf-8", "replace")
            delim = None
            if delimiter:
                delim = (
                    delimiter.decode("utf-8", "replace")
                    if isinstance(delimiter, bytes)
                    else str(delimiter)
                )
            listing.append((text, delim, folder_role(flags)))
        if not any(name.upper() == "INBOX" for name, _, _ in listing):
            listing.append(("INBOX", None, FolderRole.INBOX))
        # The user's folder actions not on the server yet: its list must not undo them.
        made, gone = folder_ops.waiting_names(self.conn, self.account_id)
        asked = folder_ops.waiting_subscriptions(self.conn, self.account_id)
        server = [f for f in assign_roles(listing) if f.name not in gone]
        names = {f.name for f in server}
        changed: list[int] = []
        with transaction(self.conn):
            before = {f.name: f for f in read.folders(self.conn, self.account_id)}
            if write.set_folder_prefix(self.conn, self.account_id, self._namespace):
                changed.extend(f.id for f in before.values())
            for item in server:
                known = before.get(item.name)
                on = _subscribed(item.name, subscribed, asked)
                folder_id = write.upsert_folder(
                    self.conn,
                    self.account_id,
                    item.name,
                    delimiter=item.delimiter,
                    role=item.role,
                    subscribed=on,
                )
                differs = known is None or (known.delimiter, known.role) != (
                    item.delimiter,
                    item.role,
                )
                if differs or (on is not None and known is not None and known.subscribed is not on):
                    changed.append(folder_id)
            for name, info in before.items():
                if name in names or name in made:
                    continue
                if read.holds_local_data(self.conn, info.id):
                    # Never lose what exists only here; the user sees why it stays.
                    write.record_folder_error(
                        self.conn, info.id, "this folder is no longer on the server"
                    )
                else:
                    write.delete_folder(self.conn, info.id)
                changed.append(info.id)
        if changed:
            self._changed(changed)
        return [f for f in self.synced_folders() if f.name in names]


def _subscribed(name: str, subscribed: set[str] | None, asked: dict[str, bool]) -> bool | None:
    """A listed folder's subscription: the user's change while it waits, else the server's;
    the inbox always counts as subscribed; None when the server would not say."""
    if name.upper() == "INBOX":
        return True
    if name in asked:
        return asked[name]
    return None if subscribed is None else name in subscribed


@dataclass(slots=True)
class AccountResult:
    """What a pass over an account did."""

    folders: list[FolderResult] = field(default_factory=list)
    folder_errors: dict[str, str] = field(default_factory=dict)
    ops_replayed: int = 0
    ops_waiting: int = 0
    bodies: int = 0  # bodies downloaded after the headers (the account's policy)
    # Messages the server holds marked \\Deleted in the synced folders, where it has no
    # UIDPLUS (they stay until an expunge of their folder; see ImapSync.replay_ops).
    marked_deleted: int = 0

    def summary(self) -> str:
        """One line for people: "3 folders synced, 5 new"; what a folder's first sync stored
        was there already, so it is "first download: 2000 messages", not new."""
        first = sum(f.new for f in self.folders if f.path == "first")
        new = sum(f.new for f in self.folders if f.path != "first")
        flags = sum(f.flags_changed for f in self.folders)
        gone = sum(f.expunged for f in self.folders)
        bodies = self.bodies
        rebuilt = sum(1 for f in self.folders if f.reset)
        parts = [f"{len(self.folders)} folder{'s' if len(self.folders) != 1 else ''} synced"]
        if rebuilt:
            # Renumbered, or another folder took the name: what it holds is fetched again.
            parts.append(f"{rebuilt} changed on the server and fetched again")
        if first:
            parts.append(f"first download: {first} message{'s' if first != 1 else ''}")
        if new or not first:
            parts.append(f"{new} new")
        if flags:
            parts.append(f"{flags} flag change{'s' if flags != 1 else ''}")
        if gone:
            parts.append(f"{gone} removed")
        if bodies:
            parts.append(f"{bodies} bod{'ies' if bodies != 1 else 'y'} downloaded")
        if self.ops_replayed:
            parts.append(f"{self.ops_replayed} action{'s' if self.ops_replayed != 1 else ''} sent")
        if self.marked_deleted:
            parts.append(
                f"{self.marked_deleted} marked deleted but kept by the server (no UIDPLUS)"
            )
        if self.folder_errors:
            parts.append(f"{len(self.folder_errors)} failed")
        return ", ".join(parts)


def sync_account(
    account: AccountConfig,
    data_dir: Path,
    emit: Emit,
    *,
    folder: str | None = None,
    bodies: BodyPolicy | None = None,
    cancel: threading.Event | None = None,
) -> bool:
    """One pass over one IMAP account, reported through `emit`; True when it went well.

    `bodies`: which bodies to download after the headers; None: the account's setting
    (`imap.bodies`). Connects, takes the account's sync lock, runs the engine, and turns every
    failure into a SyncFailed or AuthNeeded event (with a message fit to show).
    """
    server = account.incoming
    assert server is not None and server.protocol is Protocol.IMAP
    policy = server.bodies if bodies is None else bodies
    name = account.name
    emit(SyncStarted(name, Protocol.IMAP))
    with EngineSession(
        account,
        Protocol.IMAP,
        data_dir,
        emit,
        during="the sync",
        kept="what was fetched so far is kept",
    ) as session:
        session.lock()
        conn = session.store()
        # This connection only syncs: it mostly appends, and a small page cache is as fast for
        # that (measured) while keeping a sync's memory the same for a small and a large mailbox.
        db.set_cache_size(conn, SYNC_CACHE_KIB)
        unreadable = Unreadable()
        for attempt in range(MAX_FETCH_RECONNECTS + 1):
            client = imap_for(session)
            engine = ImapSync(
                conn,
                name,
                client,
                emit=emit,
                cancel=cancel,
                unreadable=unreadable,
                expunge=server.expunge,
                subscribed_only=server.subscribed_only,
            )
            try:
                result = engine.sync(folder=folder, bodies=policy)
                break
            except FetchEndedConnection as exc:
                # The server ended the connection over a message it cannot read: sync again,
                # what is stored stays stored, and that message is found and left out.
                session.close_client()
                if attempt == MAX_FETCH_RECONNECTS:
                    failure = f"the server kept ending the connection: {exc}"
                    session.fail(Failure(FailureKind.PROTOCOL, failure))
                    return False
        summary = result.summary()
        if unreadable.skipped:
            summary += "; " + _skipped_messages(conn, unreadable)
        if result.folder_errors:
            first = next(iter(result.folder_errors.items()))
            session.fail(
                Failure(FailureKind.FOLDER, f"{summary}; {sanitize_line(first[0])}: {first[1]}")
            )
            return False
        emit(SyncFinished(name, Protocol.IMAP, summary))
        return True
    return False


def _skipped_messages(conn: sqlite3.Connection, unreadable: Unreadable) -> str:
    """Name, per folder, the messages a sync left out because the server would not give them
    (the engine keeps them in each folder's sync health and below its UIDNEXT)."""
    names = []
    for folder_id, uids in unreadable.skipped.items():
        info = read.folder(conn, folder_id)
        where = info.name if info is not None else f"folder {folder_id}"
        names.append(f"{where}: {skipped_text(uids)}")
    return "; ".join(names)
