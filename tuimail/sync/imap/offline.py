"""Bodies ahead of reading (`OfflineBodies`): the bodies an account's policy wants
(`config.schema.BodyPolicy`: all, recent, none; at most so large), downloaded newest first
across the account's folders, and the few messages about to be opened, prefetched.

`download_wanted_bodies` takes the newest wanted bodies (all of them, or a slice of `limit`)
from the store (`store.wanted`) and fetches them folder by folder with the machinery of
`BodyDownload` (BODY.PEEK, the identity checks, the parse in worker processes, a commit per
batch, Unreadable). It neither lists nor resyncs folders: the sync pass runs it after the
headers of every folder, and the app's session can run it in slices between the user's actions;
when nothing is wanted it asks the store one indexed question and the server nothing.

What the server did not send when asked, and the folders that failed, are not asked for again
by the same engine (a later one tries again), so slices always end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import imapclient
import imapclient.exceptions

from tuimail.config.schema import BodyPolicy
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read, wanted, write
from tuimail.store.wanted import WantedBody
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap.bodies import BodyDownload, BodyTally
from tuimail.sync.imap.engine import MessageGoneError, error_text, skipped_text
from tuimail.sync.imap.extensions import ImapProtocolError, uid_set
from tuimail.sync.imap.identity import FolderChangedError

log = logging.getLogger(__name__)

# A download of every wanted body goes newest first in slices of this many messages, each
# fetched folder by folder: newest first across the account, at one EXAMINE per folder a slice.
WANTED_SLICE = 1000
# A message about to be opened is fetched whole, with the others of its folder in one FETCH,
# when it is at most this large; a larger one is fetched as opening it would (its text only
# when it has attachments).
PREFETCH_WHOLE_BYTES = 256 * 1024
DAY = 86400


@dataclass(frozen=True, slots=True)
class WantedBodies:
    """What one `download_wanted_bodies` did: bodies stored, whether the policy wants more (a
    later call downloads them), and per folder id what went wrong (fit to show)."""

    stored: int
    remaining: bool
    problems: Mapping[int, str] = field(default_factory=dict)


class OfflineBodies(BodyDownload):
    """Downloading the bodies a policy wants, and prefetching (see the module)."""

    def download_wanted_bodies(
        self,
        policy: BodyPolicy,
        *,
        limit: int | None = None,
        folders: Collection[int] | None = None,
    ) -> WantedBodies:
        """Download up to `limit` (None: all) of the bodies `policy` wants and the store lacks,
        newest first across the account's folders (or only `folders`), one committed batch at
        a time; `cancel` is checked between batches. Returns what was stored and whether more
        are wanted. A folder that fails (it vanished, or no longer holds what was cached: it is
        rebuilt) is named in `problems`, as are the bodies the server did not send; the others
        go on. A broken connection propagates.
        """
        if not policy.wants_any() or (limit is not None and limit <= 0):
            return WantedBodies(0, False)
        rows = self._wanted(policy, folders, None if limit is None else limit + 1)
        remaining = limit is not None and len(rows) > limit
        rows = rows[:limit]
        if not rows:
            return WantedBodies(0, remaining)
        problems: dict[int, str] = {}
        missing: dict[int, list[int]] = {}
        tally = BodyTally(len(rows))
        self._progress(self._folder(rows[0].folder_id).name, 0, tally.total)
        for start in range(0, len(rows), WANTED_SLICE):
            for folder_id, group in _by_folder(rows[start : start + WANTED_SLICE]):
                if folder_id in self._bodies_failed:
                    continue
                self._check_cancel()
                unsent: list[int] = []
                info = self._folder(folder_id)
                try:
                    # The writer, in a large pass, goes on storing while the next is fetched.
                    self._download_rows(info, group, tally=tally, unsent=unsent, behind=True)
                    if unsent:
                        self._writes_done()
                        missing.setdefault(folder_id, []).extend(self._present(unsent))
                except (imapclient.exceptions.IMAPClientError, ImapProtocolError) as exc:
                    if isinstance(exc, imapclient.IMAPClient.AbortError):
                        raise
                    self._writes_done()  # the folder may be rebuilt: its bodies first
                    self._folder_failed(info, exc, problems)
                finally:
                    by_uid = {row.uid: row.id for row in group}
                    self._bodies_unsent.update(by_uid[uid] for uid in unsent)
                skipped = self.unreadable.skipped.get(folder_id)
                if skipped and folder_id not in problems:
                    # As a folder sync does: its health names them until they come.
                    write.record_folder_error(self.conn, folder_id, skipped_text(skipped))
        self._writes_done()
        for folder_id, uids in missing.items():
            if uids and folder_id not in problems:
                problems[folder_id] = bodies_missing_text(uids)
        return WantedBodies(tally.done, remaining, problems)

    def prefetch_bodies(self, message_ids: Sequence[int]) -> int:
        """Bring local what opening each of `message_ids` would fetch (`fetch_body` without
        `full`), in as few round trips as may be: the messages of at most
        PREFETCH_WHOLE_BYTES whole, in one FETCH per folder; each larger one as opening it
        does. Messages already local (whole or their text), no longer in the store, or gone
        from the server (or their folder) are skipped. Returns how many were stored; a broken
        connection propagates."""
        rows = wanted.not_local(self.conn, message_ids)
        limit = min(PREFETCH_WHOLE_BYTES, self.max_literal)
        small = [row for row in rows if 0 < row.size <= limit]
        large = [row for row in rows if not 0 < row.size <= limit]
        stored = 0
        if small:
            for folder_id, group in _by_folder(small):
                self._check_cancel()
                try:
                    stored += self._download_rows(self._folder(folder_id), group)
                except (imapclient.exceptions.IMAPClientError, FolderChangedError) as exc:
                    if isinstance(exc, imapclient.IMAPClient.AbortError):
                        raise
                    # The folder is gone, or was rebuilt (its rows with it): nothing to
                    # open there; the sync says what happened to it.
                    log.info("IMAP %s: prefetch: %s", self.account, error_text(exc))
        for row in large:
            self._check_cancel()
            try:
                self.fetch_body(row.id)
            except MessageGoneError as exc:
                log.info("IMAP %s: prefetch of message %s: %s", self.account, row.id, exc)
                continue
            stored += 1
        return stored

    def _wanted(
        self, policy: BodyPolicy, folders: Collection[int] | None, limit: int | None
    ) -> list[WantedBody]:
        """The newest wanted bodies not local, leaving out what this engine knows the server
        will not send (and the folders that failed)."""
        if folders is None and self.subscribed_only:
            folders = [f.id for f in self.synced_folders()]  # not the unsubscribed ones
        if self._bodies_failed:
            chosen = (
                [f.id for f in read.folders(self.conn, self.account_id)]
                if folders is None
                else folders
            )
            folders = [f for f in chosen if f not in self._bodies_failed]
        exclude = set(self._bodies_unsent)
        for folder_id, uids in self.unreadable.skipped.items():
            for uid in uids:
                message_id = read.message_id_by_uid(self.conn, folder_id, uid)
                if message_id is not None:
                    exclude.add(message_id)
        return wanted.bodies_wanted(
            self.conn,
            self.account_id,
            since=int(time.time()) - policy.days * DAY if policy.keep == "recent" else None,
            max_bytes=policy.max_kib * 1024 if policy.max_kib else None,
            folder_ids=folders,
            exclude=exclude,
            limit=limit,
        )

    def _present(self, uids: Sequence[int]) -> list[int]:
        """Of `uids` in the selected folder, those the server still holds (a message expunged
        meanwhile has no body to send)."""
        present = set(imap_ext.uid_search(self.client, f"UID {uid_set(uids).decode()}"))
        return [uid for uid in uids if uid in present]

    def _folder_failed(
        self, info: read.FolderInfo, exc: Exception, problems: dict[int, str]
    ) -> None:
        """Note a folder whose bodies could not be downloaded: in its sync health, in
        `problems`, and left alone by this engine from now on."""
        message = error_text(exc)
        self._bodies_failed.add(info.id)
        problems[info.id] = message
        if not isinstance(exc, FolderChangedError):  # a rebuilt folder says so itself
            write.record_folder_error(self.conn, info.id, message)
        log.warning("IMAP %s/%s: bodies: %s", self.account, sanitize_line(info.name), message)


def bodies_missing_text(uids: Sequence[int]) -> str:
    """The sentence naming the UIDs whose body the server did not send when asked."""
    count = len(uids)
    shown = ", ".join(str(uid) for uid in sorted(uids)[:5]) + (", ..." if count > 5 else "")
    what = "the body of 1 message" if count == 1 else f"the bodies of {count} messages"
    again = "it is" if count == 1 else "they are"
    return (
        f"the server did not send {what} asked for (UID {shown}); {again} asked for again next time"
    )


def _by_folder(rows: Sequence[WantedBody]) -> Iterator[tuple[int, list[WantedBody]]]:
    """Rows grouped by folder, each group in the rows' order, the groups in the order of their
    first row (the folder with the newest message first)."""
    groups: dict[int, list[WantedBody]] = {}
    for row in rows:
        groups.setdefault(row.folder_id, []).append(row)
    yield from groups.items()
