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


def enable(client: imapclient.IMAPClient, capability: str) -> bool:
    """ENABLE a capability (RFC 5161) when the server offers it; True when it is enabled."""
    if not client.has_capability(capability) or not client.has_capability("ENABLE"):
        return False
    with server_response("ENABLE"):
        enabled = client.enable(capability)
        return any(item.upper() == capability.encode() for item in enabled)


def select(
    client: imapclient.IMAPClient,
    folder: str,
    *,
    readonly: bool = True,
    condstore: bool = False,
    qresync: tuple[int, int] | None = None,
) -> SelectResult:
    """SELECT (or EXAMINE when `readonly`) a folder, optionally with `(CONDSTORE)` or
    `(QRESYNC (uidvalidity modseq))` (QRESYNC must have been ENABLEd on the connection).

    With QRESYNC the server reports, in the same response, the UIDs expunged since `modseq`
    (`vanished`) and the messages whose flags changed (`changed`), unless the UIDVALIDITY given
    is no longer valid, in which case both are empty.
    """
    imap = imap_wire.imaplib_of(client)
    imap.untagged_responses = {}  # as imaplib's select: old responses belong to the old mailbox
    imap.is_readonly = readonly
    command = "EXAMINE" if readonly else "SELECT"
    parameters: bytes | None = None
    if qresync is not None:
        parameters = b"(QRESYNC (%d %d))" % qresync
    elif condstore:
        parameters = b"(CONDSTORE)"
    typ, data = imap_wire.simple_command(
        imap, command, imap_wire.normalise_folder(client, folder), parameters
    )
    if typ != "OK":
        imap.state = "AUTH"
        raise imapclient.exceptions.IMAPClientError(
            f"{command.lower()} failed: {response_text(data)}"
        )
    imap.state = "SELECTED"
    untagged = imap.untagged_responses
    vanished = parse_vanished(untagged.pop("VANISHED", []))
    mailbox_id = parse_mailbox_id(untagged.pop("MAILBOXID", []))
    fetched = untagged.pop("FETCH", [])
    changed = fetch_by_uid(fetched)
    with server_response(command):
        state = imap_wire.select_state(client, untagged)
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
    )


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
