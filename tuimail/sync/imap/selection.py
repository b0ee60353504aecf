"""Selecting a mailbox: SELECT or EXAMINE with CONDSTORE or QRESYNC parameters (RFC 7162),
which imapclient's `select_folder` does not take, ENABLE, and what a SELECT reports with the
mailbox's state: the UIDs expunged (VANISHED (EARLIER)) and the flags changed since a modseq,
and the mailbox's MAILBOXID (RFC 8474), which imapclient does not read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import imapclient
import imapclient.exceptions

from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.extensions import (
    ImapProtocolError,
    SequenceSet,
    fetch_by_uid,
    parse_vanished,
    response_text,
    server_response,
)


@dataclass(frozen=True, slots=True)
class SelectResult:
    """A selected mailbox's state, and what a QRESYNC SELECT reported with it."""

    exists: int
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None  # None: no CONDSTORE, or the mailbox has NOMODSEQ
    readonly: bool
    vanished: SequenceSet = field(default_factory=SequenceSet)
    changed: dict[int, dict[bytes, Any]] = field(default_factory=dict)  # UID -> FETCH data
    mailbox_id: str | None = None  # MAILBOXID (RFC 8474), when the server sent one
    # The folder selected before had news the connection had not read when it was left (what
    # an IDLE ended without waiting said last): whoever watches for news resyncs it.
    left_news: bool = False


def enable(client: imapclient.IMAPClient, capability: str) -> bool:
    """ENABLE a capability (RFC 5161) when the server offers it; True when it is enabled."""
    if not client.has_capability(capability) or not client.has_capability("ENABLE"):
        return False
    with server_response("ENABLE"):
        enabled = client.enable(capability)
        return any(item.upper() == capability.encode() for item in enabled)


@dataclass(slots=True)
class Behind:
    """A read-only UID command sent right behind a SELECT, before its answer (RFC 3501, 5.5:
    the server runs them in order), so that both cost one round trip. After `select`, `ok`
    says whether it succeeded and `lines` holds its untagged `answer` lines (e.g. "SEARCH")."""

    arguments: tuple[bytes, ...]  # after UID, e.g. (b"SEARCH", b"UID 5:* UNDELETED")
    answer: str
    ok: bool = False
    lines: list[Any] = field(default_factory=list)


# imaplib's names of the untagged responses that tell of a change in the selected folder.
SELECTED_NEWS = ("EXISTS", "EXPUNGE", "FETCH", "VANISHED")


def select(
    client: imapclient.IMAPClient,
    folder: str,
    *,
    readonly: bool = True,
    condstore: bool = False,
    qresync: tuple[int, int] | None = None,
    behind: Sequence[Behind] = (),
) -> SelectResult:
    """SELECT (or EXAMINE when `readonly`) a folder, optionally with `(CONDSTORE)` or
    `(QRESYNC (uidvalidity modseq))` (QRESYNC must have been ENABLEd on the connection), and
    the commands `behind` it in the same round trip.

    With QRESYNC the server reports, in the same response, the UIDs expunged since `modseq`
    (`vanished`) and the messages whose flags changed (`changed`), unless the UIDVALIDITY given
    is no longer valid, in which case both are empty.

    Commands sent earlier whose answers were not read yet (an IDLE ended without waiting,
    `wire.end_idle_later`) are read first: what the server said before their answers belongs
    to the folder selected before, not to this one (`SelectResult.left_news`). STATUS news of
    other folders (NOTIFY) is kept for whoever watches for news.
    """
    if len({item.answer for item in behind}) < len(behind):
        raise ValueError("commands behind a SELECT must answer with different responses")
    imap = imap_wire.imaplib_of(client)
    earlier = imap_wire.unanswered(imap)
    kept_status = imap.untagged_responses.pop("STATUS", [])
    imap.untagged_responses = {}  # as imaplib's select: old responses belong to the old mailbox
    imap.is_readonly = readonly
    command = "EXAMINE" if readonly else "SELECT"
    parameters: bytes | None = None
    if qresync is not None:
        parameters = b"(QRESYNC (%d %d))" % qresync
    elif condstore:
        parameters = b"(CONDSTORE)"
    arguments = [imap_wire.normalise_folder(client, folder)]
    if parameters is not None:
        arguments.append(parameters)
    tag = imap_wire.send_command(imap, command, *arguments)
    # imaplib checks a command against the state it knows: the SELECT's answer is not read yet.
    imap.state = "SELECTED"
    tags = [imap_wire.send_command(imap, "UID", *item.arguments) for item in behind]
    left_news = False
    if earlier:
        for earlier_tag in earlier:
            with server_response("IDLE"):
                imap_wire.command_complete(imap, "IDLE", earlier_tag)
        tail = imap.untagged_responses
        imap.untagged_responses = {}
        kept_status.extend(tail.pop("STATUS", []))
        left_news = any(tail.get(name) for name in SELECTED_NEWS)
    try:
        with server_response(command):
            typ, data = imap_wire.command_complete(imap, command, tag)
    except BaseException:
        imap.state = "AUTH"
        raise
    if typ != "OK":
        imap.state = "AUTH"
        _drain(imap, tags)
        raise imapclient.exceptions.IMAPClientError(
            f"{command.lower()} failed: {response_text(data)}"
        )
    untagged = imap.untagged_responses
    vanished = parse_vanished(untagged.pop("VANISHED", []))
    mailbox_id = parse_mailbox_id(untagged.pop("MAILBOXID", []))
    fetched = untagged.pop("FETCH", [])
    changed = fetch_by_uid(fetched)
    kept_status.extend(untagged.pop("STATUS", []))
    with server_response(command):
        state = imap_wire.select_state(client, untagged)
    # A server may answer them in any order (Dovecot does): all are read before any is taken.
    for item in behind:
        untagged.pop(item.answer, None)
    answers: list[tuple[str, list[Any]]] = []
    for item, item_tag in zip(behind, tags, strict=True):
        try:
            with server_response(item.answer):
                answers.append(imap_wire.command_complete(imap, item.answer, item_tag))
        except imapclient.IMAPClient.AbortError:
            raise
        except imapclient.exceptions.IMAPClientError as exc:
            answers.append(("BAD", [str(exc).encode()]))  # refused: asked again when needed
    for item, (item_typ, item_data) in zip(behind, answers, strict=True):
        _, lines = imap_wire.untagged_response(imap, item_typ, item_data, item.answer)
        item.ok = item_typ == "OK"
        item.lines = [line for line in lines if line is not None] if item.ok else []
    if kept_status:
        untagged.setdefault("STATUS", [])[:0] = kept_status
    if b"UIDVALIDITY" not in state:
        raise ImapProtocolError(f"the server gave no UIDVALIDITY for {folder!r}")
    nomodseq = b"NOMODSEQ" in {key.upper() for key in state}
    return SelectResult(
        exists=int(state.get(b"EXISTS", 0)),
        uidvalidity=int(state[b"UIDVALIDITY"]),
        uidnext=int(state[b"UIDNEXT"]) if b"UIDNEXT" in state else None,
        highestmodseq=None if nomodseq else _optional_int(state.get(b"HIGHESTMODSEQ")),
        readonly=readonly,
        vanished=vanished,
        changed=changed,
        mailbox_id=mailbox_id,
        left_news=left_news,
    )


def _drain(imap: Any, tags: Sequence[bytes]) -> None:
    """Read the answers of commands sent behind a SELECT that failed (they fail too: no folder
    is selected), so that the connection can go on."""
    for tag in tags:
        try:
            imap_wire.command_complete(imap, "UID", tag)
        except imapclient.IMAPClient.AbortError:
            raise
        except imapclient.exceptions.IMAPClientError:
            continue  # a BAD ("no mailbox selected"): expected


# RFC 8474: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
_OBJECTID_RE = re.compile(rb"\(\s*([A-Za-z0-9_-]{1,255})\s*\)")


def parse_mailbox_id(lines: Sequence[Any]) -> str | None:
    """The MAILBOXID of an `OK [MAILBOXID (id)]` response code (RFC 8474), else None (none
    sent, or not one well-formed id: then it cannot tell one mailbox from another)."""
    found = {
        match.group(1).decode("ascii")
        for line in lines
        if isinstance(line, bytes | bytearray)
        for match in (_OBJECTID_RE.fullmatch(bytes(line).strip()),)
        if match is not None
    }
    return found.pop() if len(found) == 1 else None


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
