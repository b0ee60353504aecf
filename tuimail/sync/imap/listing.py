"""The folder list: LIST (with `RETURN (SPECIAL-USE)` where the server has it, and the
subscriptions: `RETURN (SUBSCRIBED)` or LSUB), the personal NAMESPACE, and the role of each
folder (SPECIAL-USE attributes, else guessed from its name).

What the store makes of the list (folders added, updated, removed) is the engine's
(`ImapSync.sync_folders`); the SMTP engine uses the same list to find the Sent folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import imapclient
import imapclient.exceptions

from tuimail.core.model import FolderRole
from tuimail.sync.imap import wire as imap_wire
from tuimail.sync.imap.extensions import ImapProtocolError, response_text, server_response

log = logging.getLogger(__name__)

# Folder roles by name, for servers without SPECIAL-USE (compared case-insensitively with the
# last component of the name).
ROLE_NAMES: dict[FolderRole, tuple[str, ...]] = {
    FolderRole.SENT: ("sent", "sent items", "sent messages", "sent mail"),
    FolderRole.DRAFTS: ("drafts", "draft"),
    FolderRole.TRASH: ("trash", "deleted items", "deleted messages", "bin"),
    FolderRole.JUNK: ("junk", "spam", "junk e-mail", "junk email"),
    FolderRole.ARCHIVE: ("archive", "archives"),
}
_SPECIAL_USE_FLAGS: dict[bytes, FolderRole] = {
    b"\\sent": FolderRole.SENT,
    b"\\drafts": FolderRole.DRAFTS,
    b"\\trash": FolderRole.TRASH,
    b"\\junk": FolderRole.JUNK,
    b"\\archive": FolderRole.ARCHIVE,
    b"\\all": FolderRole.ALL,
    b"\\flagged": FolderRole.FLAGGED,
}
# LIST attributes of a hierarchy node, which cannot hold messages.
UNSELECTABLE = {b"\\noselect", b"\\nonexistent"}


@dataclass(frozen=True, slots=True)
class ServerFolder:
    """A folder as LIST reported it."""

    name: str
    delimiter: str | None
    role: FolderRole


def folder_role(flags: Iterable[bytes | str]) -> FolderRole:
    """The SPECIAL-USE role among a LIST response's flags (NONE when there is none)."""
    for flag in flags:
        raw = flag.encode() if isinstance(flag, str) else bytes(flag)
        role = _SPECIAL_USE_FLAGS.get(raw.lower())
        if role is not None:
            return role
    return FolderRole.NONE


def guess_role(name: str, delimiter: str | None) -> FolderRole:
    """A role from a folder's name (Sent, Sent Items, Trash, Deleted Items, Spam, ...)."""
    if name.upper() == "INBOX":
        return FolderRole.INBOX
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    leaf = leaf.strip().casefold()
    for role, names in ROLE_NAMES.items():
        if leaf in names:
            return role
    return FolderRole.NONE


def assign_roles(listing: Sequence[tuple[str, str | None, FolderRole]]) -> list[ServerFolder]:
    """Roles for a LIST result: SPECIAL-USE flags win; a role nobody carries is guessed by name
    (the shallowest, then alphabetically first, candidate); INBOX is always the inbox.
    """
    flagged = {role for _, _, role in listing if role is not FolderRole.NONE}
    guessed: dict[FolderRole, str] = {}
    for name, delimiter, role in sorted(
        listing, key=lambda item: (item[0].count(item[1] or "\0"), item[0].casefold())
    ):
        if role is not FolderRole.NONE or name.upper() == "INBOX":
            continue
        guess = guess_role(name, delimiter)
        if guess is not FolderRole.NONE and guess not in flagged and guess not in guessed:
            guessed[guess] = name
    by_name = {name: role for role, name in guessed.items()}
    folders = []
    for name, delimiter, role in listing:
        if name.upper() == "INBOX":
            role = FolderRole.INBOX
        elif role is FolderRole.NONE:
            role = by_name.get(name, FolderRole.NONE)
        folders.append(ServerFolder(name, delimiter, role))
    return folders


def list_folders(client: imapclient.IMAPClient) -> list[tuple[Any, Any, Any]]:
    """Every folder as imapclient's `list_folders` gives them: (flags, delimiter, name).

    A server that announces SPECIAL-USE is asked `LIST "" "*" RETURN (SPECIAL-USE)`: RFC 6154
    lets it send `\\Sent`, `\\Trash`, ... only then (Cyrus does so unless `specialusealways`).
    A server that refuses the extended form (it does not have LIST-EXTENDED, whose syntax that
    is) gets the plain LIST, as do servers without SPECIAL-USE.
    """
    if client.has_capability("SPECIAL-USE"):
        listed = _extended_list(client, b"SPECIAL-USE")
        if listed is not None:
            return listed
    return list(client.list_folders())


def list_with_subscriptions(
    client: imapclient.IMAPClient,
) -> tuple[list[tuple[Any, Any, Any]], set[str] | None]:
    """`list_folders`, and the names of the folders the user subscribed to (None when the
    server would not say).

    A server with LIST-EXTENDED (RFC 5258) marks them `\\Subscribed` in the same LIST
    (`RETURN (SUBSCRIBED)`); others are asked LSUB, one more round trip. One that announces
    LIST-EXTENDED and refuses the option gets a plain LIST (it would refuse `RETURN
    (SPECIAL-USE)` too).
    """
    extended = client.has_capability("LIST-EXTENDED")
    if extended:
        returns = (
            b"SUBSCRIBED SPECIAL-USE" if client.has_capability("SPECIAL-USE") else b"SUBSCRIBED"
        )
        listed = _extended_list(client, returns)
        if listed is not None:
            subscribed = {
                _name_text(name)
                for flags, _delimiter, name in listed
                if b"\\subscribed" in {bytes(f).lower() for f in flags}
            }
            return listed, subscribed
    listed = list(client.list_folders()) if extended else list_folders(client)
    try:
        lsub = client.list_sub_folders()
    except imapclient.exceptions.IMAPClientAbortError:
        raise
    except (imapclient.exceptions.IMAPClientError, ValueError, TypeError) as exc:
        log.info("LSUB refused or unreadable (%s): subscriptions not known", exc)
        return listed, None
    return listed, {_name_text(name) for _flags, _delimiter, name in lsub}


def _extended_list(
    client: imapclient.IMAPClient, returns: bytes
) -> list[tuple[Any, Any, Any]] | None:
    """`LIST "" "*" RETURN (returns)`; None when the server refuses it (no LIST-EXTENDED)."""
    imap = imap_wire.imaplib_of(client)
    try:
        typ, data = imap_wire.simple_command(
            imap, "LIST", b'""', b'"*"', b"RETURN (" + returns + b")"
        )
    except imapclient.exceptions.IMAPClientAbortError:
        raise
    except imapclient.exceptions.IMAPClientError as exc:  # BAD
        typ, data = "BAD", [str(exc).encode("utf-8", "replace")]
    if typ == "OK":
        typ, data = imap_wire.untagged_response(imap, typ, data, "LIST")
        return imap_wire.folder_list(client, data)
    imap.untagged_responses.pop("LIST", None)
    log.info(
        "LIST RETURN (%s) refused (%s); asking plain LIST", returns.decode(), response_text(data)
    )
    return None


def _name_text(name: Any) -> str:
    """A listed folder name as text (imapclient gives str, or bytes when it cannot decode)."""
    return name if isinstance(name, str) else bytes(name).decode("utf-8", "replace")


def personal_namespace(client: imapclient.IMAPClient) -> tuple[str, str | None] | None:
    """The first personal namespace (RFC 2342) as (prefix, delimiter), e.g. ("INBOX.", "."):
    None when the server has no NAMESPACE or names none. A refused or malformed answer is None
    too: the names are then shown whole, which is what they are."""
    if not client.has_capability("NAMESPACE"):
        return None
    try:
        with server_response("NAMESPACE"):
            personal = client.namespace().personal
            if personal:
                prefix, delimiter = personal[0][0], personal[0][1]
    except imapclient.exceptions.IMAPClientAbortError:
        raise
    except (imapclient.exceptions.IMAPClientError, ImapProtocolError, ValueError) as exc:
        log.info("NAMESPACE refused or not understood: %s", exc)
        return None
    if not personal or not isinstance(prefix, str | bytes):
        return None
    text = prefix if isinstance(prefix, str) else bytes(prefix).decode("utf-8", "replace")
    if isinstance(delimiter, bytes):
        delimiter = delimiter.decode("utf-8", "replace")
    return text, delimiter if isinstance(delimiter, str) else None
