"""Whether a folder's name still stands for the mailbox the store cached (`FolderIdentity`),
and the rebuild of a folder when it does not.

- UIDVALIDITY changed: the folder's cached server messages are dropped (`write.reset_folder`;
  local-only messages stay), its pending ops fail (`ops.fail_folder`), and it is synced afresh.
- The folder's name stands for another mailbox than the one cached (another client renamed or
  swapped folders; a server such as Cyrus may give both the same UIDVALIDITY): rebuilt the same
  way. The MAILBOXID the SELECT reports (RFC 8474 OBJECTID) decides where the server offers it;
  elsewhere what the server says does (`_other_mailbox`): UIDNEXT or HIGHESTMODSEQ going back,
  or a sample of cached UIDs (one FETCH) that no longer hold the same Message-IDs. A UID command
  of the ops replay, and a body stored under a UID, are checked the same way each time: by
  MAILBOXID, else by the messages' Message-IDs in the same or one extra FETCH.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tuimail.mail.sanitize import sanitize_line
from tuimail.store import ops, read, write
from tuimail.store.db import transaction
from tuimail.sync.events import GIVEN_UP_FOLDER_CHANGED, GIVEN_UP_RENUMBERED
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap.engine import EngineBase, FolderResult
from tuimail.sync.imap.extensions import ImapProtocolError, uid_set
from tuimail.sync.imap.selection import Behind, SelectResult

log = logging.getLogger(__name__)

# What tells a message under a UID from another one, where no MAILBOXID vouches for the folder.
IDENTITY_ITEMS = ("UID", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
IDENTITY_SAMPLE = 5  # cached UIDs a resync checks when the server tells no MAILBOXID

RENUMBERED = (
    "the server renumbered this folder (UIDVALIDITY changed); the action could not be carried out"
)
FOLDER_REBUILT = (
    "this folder's name now stands for another folder on the server (renamed or swapped by"
    " another client); its messages are fetched again"
)
FOLDER_CHANGED = (
    "this folder's name now stands for another folder on the server (renamed or swapped by"
    " another client); the action could not be carried out"
)
NOT_CONFIRMED = (
    "the server could not confirm that the message is still the one acted on (it has no"
    " Message-ID to compare); the action was not carried out"
)


class FolderIdentity(EngineBase):
    """Telling the cached mailbox behind a folder's name from another one (see the module)."""

    # The identities of a sample of UIDs, fetched behind the SELECT of the folder being synced.
    _identities_ahead: tuple[tuple[int, ...], dict[int, read.Identity]] | None = None

    def identity_check_behind(self, info: read.FolderInfo) -> tuple[tuple[int, ...], Behind] | None:
        """The FETCH that `_other_mailbox` will need for `info`, to send behind its SELECT;
        None when the MAILBOXID will decide or nothing is cached."""
        if info.uidvalidity in (None, 0) or (self.objectid and info.mailbox_id is not None):
            return None
        uids = tuple(item.uid for item in read.identity_sample(self.conn, info.id, IDENTITY_SAMPLE))
        if not uids:
            return None
        items = ("(" + " ".join(IDENTITY_ITEMS) + ")").encode("ascii")
        return uids, Behind((b"FETCH", uid_set(uids), items), "FETCH")

    def identities_fetched(self, uids: tuple[int, ...], fetched: Behind) -> None:
        """Keep what the FETCH sent behind the SELECT said, for `_identities`."""
        if not fetched.ok:
            self._identities_ahead = None
            return
        data = imap_ext.fetch_by_uid(fetched.lines)
        asked = set(uids)
        found = {uid: identity_of(uid, item) for uid, item in data.items() if uid in asked}
        self._identities_ahead = (uids, found)

    def _reset(
        self,
        info: read.FolderInfo,
        selected: SelectResult,
        result: FolderResult | None,
        why: str,
    ) -> None:
        """Drop the folder's cached server messages (local-only ones stay) and fail its pending
        ops: the mailbox behind the name is not the one cached, or it was renumbered."""
        renumbered = info.uidvalidity not in (None, 0, selected.uidvalidity)
        error, reason = (
            (RENUMBERED, GIVEN_UP_RENUMBERED)
            if renumbered
            else (FOLDER_CHANGED, GIVEN_UP_FOLDER_CHANGED)
        )
        pending = [op for op in ops.pending(self.conn, self.account_id) if op.folder_id == info.id]
        told = [self._told(op, reason, error) for op in pending]
        with transaction(self.conn):
            write.reset_folder(
                self.conn, info.id, selected.uidvalidity, mailbox_id=selected.mailbox_id
            )
            failed = ops.fail_folder(self.conn, info.id, error)
        # What the ops had put in other folders is gone from there too (see ops._settle).
        changed = {info.id} | {
            int(op.args["to_folder_id"]) for op in failed if op.args.get("to_folder_id")
        }
        if result is not None:
            result.reset = True
        else:
            self._rebuilt.add(info.id)
        log.warning(
            "IMAP %s/%s: %s; cache rebuilt, %d pending op(s) failed",
            self.account,
            sanitize_line(info.name),
            sanitize_line(why),
            len(failed),
        )
        self._changed(sorted(changed))
        failed_ids = {op.id for op in failed}
        self._given_up.extend(t for op, t in zip(pending, told, strict=True) if op.id in failed_ids)
        if not self._replaying:
            self._tell_given_up()

    def _same_mailbox(self, info: read.FolderInfo, selected: SelectResult) -> bool | None:
        """Whether the selected mailbox is the one the folder's cache was made from, by
        MAILBOXID; None when that cannot tell (the server or the store has none)."""
        if info.mailbox_id is None or selected.mailbox_id is None:
            return None
        return info.mailbox_id == selected.mailbox_id

    def _other_mailbox(self, info: read.FolderInfo, selected: SelectResult) -> str | None:
        """Why the selected mailbox (of the same UIDVALIDITY) is not the one cached, or None.

        MAILBOXID decides where both sides have one. Elsewhere what the server says does: UIDNEXT
        and HIGHESTMODSEQ never go back in one mailbox, and the cached UIDs sampled (one FETCH)
        must hold the same messages, or at least one of them be there when the folder is not
        empty. A folder with nothing cached has nothing to compare (and little to get wrong).
        """
        same = self._same_mailbox(info, selected)
        if same is not None:
            return None if same else "its MAILBOXID changed: another folder has taken its name"
        before, now = info.uidnext, selected.uidnext
        if before is not None and now is not None and now < before:
            return f"its UIDNEXT went back ({before} -> {now})"
        if (
            info.highestmodseq
            and selected.highestmodseq is not None
            and selected.highestmodseq < info.highestmodseq
        ):
            return f"its HIGHESTMODSEQ went back ({info.highestmodseq} -> {selected.highestmodseq})"
        sample = read.identity_sample(self.conn, info.id, IDENTITY_SAMPLE)
        if not sample or not selected.exists:
            return None
        found = self._identities([item.uid for item in sample])
        for item in sample:
            if item.uid in found and same_message(item, found[item.uid]) is False:
                return f"UID {item.uid} holds another message than the one cached"
        if not found:
            return "none of the cached messages checked is in it any more"
        return None

    def _identities(self, uids: Sequence[int]) -> dict[int, read.Identity]:
        """What the server holds under `uids` now (absent UIDs are left out): one FETCH, or
        none when the resync sent it behind its SELECT (`identities_ahead`)."""
        if not uids:
            return {}
        ahead = self._identities_ahead
        if ahead is not None and ahead[0] == tuple(uids):
            return ahead[1]
        data, _ = imap_ext.uid_fetch(self.client, uid_set(uids), IDENTITY_ITEMS)
        asked = set(uids)
        return {uid: identity_of(uid, item) for uid, item in data.items() if uid in asked}

    def _confirmed(
        self,
        op: ops.PendingOp,
        folder: read.FolderInfo,
        selected: SelectResult,
        uids: list[int],
    ) -> list[int]:
        """The UIDs of `uids` still in the selected folder, each confirmed to hold the message
        the op was queued for; raises FolderChangedError when one holds another message, or
        cannot be confirmed. An op never acts on a message it was not queued for.

        The MAILBOXID vouches for every UID where the server and the store have one; elsewhere
        the messages' Message-IDs (or sizes, for a message without one) are compared in one
        FETCH, which also tells which UIDs are gone (an expunged message needs no action).
        """
        same = self._same_mailbox(folder, selected)
        if same is False:
            raise FolderChangedError(FOLDER_CHANGED, selected)
        if same:
            return uids
        expected = self._expected(op)
        found = self._identities(uids)
        confirmed = []
        for uid in uids:
            if uid not in found:
                continue
            want = expected.get(uid)
            verdict = None if want is None else same_message(want, found[uid])
            if verdict is False:
                raise FolderChangedError(FOLDER_CHANGED, selected)
            if verdict is None:
                raise FolderChangedError(NOT_CONFIRMED, selected)
            confirmed.append(uid)
        return confirmed

    def _expected(self, op: ops.PendingOp) -> dict[int, read.Identity]:
        """UID -> what the op was queued for under it: the Message-ID (and size) the op
        recorded, else, for an op queued before they were recorded, what its row says now."""
        headers = op.args.get("message_id_headers")
        sizes = op.args.get("sizes")
        expected: dict[int, read.Identity] = {}
        for index, target in enumerate(op.targets):
            if target.uid is None:
                continue
            if isinstance(headers, list) and index < len(headers):
                header = headers[index]
                size = sizes[index] if isinstance(sizes, list) and index < len(sizes) else None
                expected[target.uid] = read.Identity(
                    target.uid,
                    str(header) if header else None,
                    int(size) if isinstance(size, int) else None,
                )
                continue
            row = read.row(self.conn, target.message_id)
            if row is not None and row.envelope.message_id:
                expected[target.uid] = read.Identity(target.uid, row.envelope.message_id, None)
        return expected


class RenumberedError(Exception):
    """The folder's UIDVALIDITY is not the one an op was queued under."""


class FolderChangedError(ImapProtocolError):
    """The folder's name stands for another mailbox than the one cached (or a message under a
    UID could not be confirmed to be the one cached): nothing is done to it under those UIDs.
    `selected`: what selecting the folder said, where the replay found it out."""

    def __init__(self, message: str, selected: SelectResult | None = None) -> None:
        super().__init__(message)
        self.selected = selected


def identity_of(uid: int, item: dict[bytes, Any]) -> read.Identity:
    """A message's identity from a FETCH of IDENTITY_ITEMS."""
    from tuimail.mail.headers import parse_envelope  # the email package: only when needed

    header = b""
    for key, value in item.items():
        if key.upper().startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            header = value
            break
    size = item.get(b"RFC822.SIZE")
    message_id = parse_envelope(header).message_id if header.strip() else None
    return read.Identity(uid, message_id, size if isinstance(size, int) else None)


def same_message(expected: read.Identity, found: read.Identity) -> bool | None:
    """Whether `found` is the message `expected` stands for: by Message-ID, else (neither has
    one) by size; None when neither tells."""
    if expected.message_id is not None or found.message_id is not None:
        return expected.message_id == found.message_id
    if expected.size is not None and found.size is not None:
        return expected.size == found.size
    return None
