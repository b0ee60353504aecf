"""Normalized snapshots of a local store and of a Dovecot mailbox, for comparing two runs.

A crash test runs a scenario once without interruption (the reference) and once with a crash at
a named step followed by an ordinary run; both must end in the same state. The two runs use
different Dovecot users, so what differs by nature (UIDVALIDITY, which Dovecot takes from the
clock; user names inside messages; a fresh Date in a composed draft) is normalized away, and
what is checked instead is that each run's store agrees with its own server.

`store_snapshot(data_dir)` reads the store; `imap_snapshot(...)` reads a mailbox over IMAP;
`pop3_uidls(...)` lists what a POP3 session would see. Every message is identified by the
SHA-256 of its exact bytes (`sha256`), and by a `key` that a scenario may compute from bytes it
normalized first (by default the same digest).
"""

from __future__ import annotations

import hashlib
import poplib
import ssl
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import imapclient

from tuimail.store import body_codec
from tuimail.store.db import open_store
from tuimail.store.index_entries import INDEX_VERSION
from tuimail.store.ingest import CONTENT_KEY_PREFIX

Normalize = Callable[[bytes], bytes]


def digest(raw: bytes) -> str:
    """The SHA-256 of `raw`, in hex."""
    return hashlib.sha256(raw).hexdigest()


def keep(raw: bytes) -> bytes:
    """The default normalization: the bytes as they are."""
    return raw


@dataclass(frozen=True, order=True)
class MessageState:
    """One message as a store or a server holds it."""

    uid: int | None
    uidl: str | None
    flags: tuple[str, ...]
    sha256: str | None  # of the exact bytes; None when the body is not local
    key: str | None  # of the normalized bytes
    body_local: bool = True
    searchable: bool = True  # the full-text entry is complete (a store's; a server's always)


@dataclass(frozen=True)
class FolderState:
    """One folder: its IMAP sync state and its messages, ordered by UID (then by key)."""

    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: int | None
    sync_resume: str | None
    messages: tuple[MessageState, ...]


@dataclass(frozen=True)
class StoreSnapshot:
    """What a store holds: folders by (account, folder name), outbox, drafts, queued ops."""

    folders: dict[tuple[str, str], FolderState]
    outbox: tuple[tuple[str, str, bool, str], ...]  # (Message-ID, state, Sent copy done, key)
    drafts: tuple[tuple[str, bool, bool, str | None, bool], ...]
    pending_ops: tuple[tuple[str, str], ...]  # (kind, state)
    pop3_uidls: tuple[str, ...]

    def folder(self, account: str, name: str) -> FolderState:
        """The folder `name` of `account` (KeyError when the store has no such folder)."""
        return self.folders[(account, name)]


@dataclass(frozen=True)
class MailboxSnapshot:
    """Every mailbox of one server user: STATUS values and messages."""

    mailboxes: dict[str, FolderState] = field(default_factory=dict)


def _flags(items: Iterable[bytes | str]) -> tuple[str, ...]:
    text = (item.decode() if isinstance(item, bytes) else item for item in items)
    return tuple(sorted(flag for flag in text if flag and flag.lower() != "\\recent"))


def store_snapshot(
    data_dir: Path,
    *,
    normalize: Normalize = keep,
    normalize_uidl: Callable[[str], str] = str,
) -> StoreSnapshot:
    """Read everything a crash comparison needs from the store in `data_dir`.

    `normalize` is applied to message bytes before their `key` is taken; `normalize_uidl` to
    POP3 UIDLs (Dovecot's hold the mailbox's UIDVALIDITY)."""
    conn = open_store(data_dir)
    try:
        folders: dict[tuple[str, str], FolderState] = {}
        rows = conn.execute(
            "SELECT f.id, a.name, f.name, f.uidvalidity, f.uidnext, f.highestmodseq,"
            " f.sync_resume FROM folders AS f JOIN accounts AS a ON a.id = f.account_id"
        ).fetchall()
        for folder_id, account, name, uidvalidity, uidnext, modseq, resume in rows:
            messages = []
            for uid, uidl, flags, body_local, raw, codec, dict_id, version in conn.execute(
                "SELECT m.uid, m.uidl, m.flags, m.body_local, b.raw, b.codec, b.dict_id,"
                " m.index_version"
                " FROM messages AS m LEFT JOIN bodies AS b ON b.message_id = m.id"
                " WHERE m.folder_id = ?",
                (folder_id,),
            ).fetchall():
                body = body_codec.unpack(conn, raw, codec, dict_id) if raw is not None else None
                messages.append(
                    MessageState(
                        uid=uid,
                        uidl=normalize_uidl(uidl) if uidl is not None else None,
                        flags=_flags(flags.split()),
                        sha256=digest(body) if body is not None else None,
                        key=digest(normalize(body)) if body is not None else None,
                        body_local=bool(body_local),
                        searchable=version == INDEX_VERSION,
                    )
                )
            folders[(account, name)] = FolderState(
                uidvalidity, uidnext, modseq, resume, tuple(sorted(messages, key=_order))
            )
        outbox = tuple(
            (message_id, state, bool(copy_done), digest(normalize(bytes(raw))))
            for message_id, state, copy_done, raw in conn.execute(
                "SELECT message_id, state, sent_copy_done, raw FROM outbox ORDER BY id"
            )
        )
        drafts = tuple(
            (
                message_id,
                bool(upload_needed),
                bool(discarded),
                digest(normalize(bytes(raw))) if raw is not None else None,
                server_uid is not None,
            )
            for message_id, upload_needed, discarded, raw, server_uid in conn.execute(
                "SELECT message_id, upload_needed, discarded, raw, server_uid FROM drafts"
                " ORDER BY id"
            )
        )
        pending = tuple(
            (kind, state)
            for kind, state in conn.execute("SELECT kind, state FROM pending_ops ORDER BY id")
        )
        # A content key (a digest of the message's bytes, see ingest.pop3_content_key) counts,
        # but its digest differs between runs whose servers stamp messages differently.
        uidls = tuple(
            sorted(
                CONTENT_KEY_PREFIX if key.startswith(CONTENT_KEY_PREFIX) else normalize_uidl(key)
                for (key,) in conn.execute("SELECT uidl FROM pop3_uidls")
            )
        )
    finally:
        conn.close()
    return StoreSnapshot(folders, outbox, drafts, pending, uidls)


def _order(message: MessageState) -> tuple[int, str, str]:
    return (message.uid or 0, message.uidl or "", message.key or "")


def imap_client(
    host: str, port: int, ca_file: Path, user: str, password: str
) -> imapclient.IMAPClient:
    """A logged-in IMAP client over implicit TLS that trusts only `ca_file`."""
    context = ssl.create_default_context(cafile=str(ca_file))
    client = imapclient.IMAPClient(host, port, ssl=True, ssl_context=context, timeout=20)
    client.login(user, password)
    return client


def imap_snapshot(client: imapclient.IMAPClient, *, normalize: Normalize = keep) -> MailboxSnapshot:
    """Every mailbox of the logged-in user: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, and each
    message's UID, flags and digests (read with BODY.PEEK, so nothing changes)."""
    snapshot = MailboxSnapshot()
    for _flags_of_box, _delimiter, name in client.list_folders():
        status = client.folder_status(name, ["UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"])
        client.select_folder(name, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        messages = tuple(
            sorted(
                MessageState(
                    uid=uid,
                    uidl=None,
                    flags=_flags(item[b"FLAGS"]),
                    sha256=digest(item[b"BODY[]"]),
                    key=digest(normalize(item[b"BODY[]"])),
                )
                for uid, item in fetched.items()
            )
        )
        client.unselect_folder()
        snapshot.mailboxes[name] = FolderState(
            status[b"UIDVALIDITY"],
            status[b"UIDNEXT"],
            status.get(b"HIGHESTMODSEQ"),
            None,
            messages,
        )
    return snapshot


def message_id_counts(client: imapclient.IMAPClient, mailbox: str) -> Counter[str]:
    """How many messages of `mailbox` carry each Message-ID (delivered copies gain trace
    headers, so they are counted rather than compared byte for byte)."""
    client.select_folder(mailbox, readonly=True)
    uids = client.search("ALL")
    fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    client.unselect_folder()
    counts: Counter[str] = Counter()
    for item in fetched.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode("ascii", "replace")
        value = header.partition(":")[2].strip().strip("<>")
        counts[value] += 1
    return counts


def pop3_uidls(host: str, port: int, ca_file: Path, user: str, password: str) -> list[str]:
    """The UIDLs a POP3 session lists now (over implicit TLS; QUIT without deleting)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    pop = poplib.POP3_SSL(host, port, context=context, timeout=20)
    try:
        pop.user(user)
        pop.pass_(password)
        return [line.split(b" ", 1)[1].decode() for line in pop.uidl()[1]]
    finally:
        pop.quit()


def assert_store_matches_server(
    store: StoreSnapshot, server: MailboxSnapshot, account: str, folders: Iterable[str]
) -> None:
    """Each of `folders` in the store holds exactly what the server holds, with the same
    UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, the same UIDs and flags, and the exact bytes."""
    for name in folders:
        local = store.folder(account, name)
        remote = server.mailboxes[name]
        assert local.sync_resume is None, f"{name}: the first sync is not finished"
        assert (local.uidvalidity, local.uidnext) == (remote.uidvalidity, remote.uidnext), name
        if remote.highestmodseq is not None:
            assert local.highestmodseq == remote.highestmodseq, name
        uids = [m.uid for m in local.messages]
        assert len(uids) == len(set(uids)), f"{name}: a UID stored twice"
        assert None not in uids, f"{name}: a row without a UID is left"
        assert {m.uid: (m.flags, m.sha256) for m in local.messages} == {
            m.uid: (m.flags, m.sha256) for m in remote.messages
        }, name


def comparable_store(store: StoreSnapshot, *, renumbered: Iterable[str] = ()) -> dict:
    """The store in a form equal between two runs on different users: UIDVALIDITY reduced to
    whether it is known, exact digests left out (keys stay), and in `renumbered` folders (where
    a crash legitimately uses up UIDs) UIDs, UIDNEXT and HIGHESTMODSEQ left out too."""
    renumbered = set(renumbered)
    folders = {}
    for (account, name), state in store.folders.items():
        folders[(account, name)] = _comparable_folder(state, name in renumbered)
    return {
        "folders": folders,
        "outbox": store.outbox,
        "drafts": store.drafts,
        "pending_ops": store.pending_ops,
        "pop3_uidls": store.pop3_uidls,
    }


def comparable_server(server: MailboxSnapshot, *, renumbered: Iterable[str] = ()) -> dict:
    """A server snapshot in the same comparable form as `comparable_store`."""
    renumbered = set(renumbered)
    return {
        name: _comparable_folder(state, name in renumbered)
        for name, state in server.mailboxes.items()
    }


def _comparable_folder(state: FolderState, renumbered: bool) -> tuple:
    messages = [replace(m, sha256=None) for m in state.messages]
    if renumbered:
        messages = sorted(replace(m, uid=None) for m in messages)
        return (state.uidvalidity is not None, None, None, state.sync_resume, tuple(messages))
    return (
        state.uidvalidity is not None,
        state.uidnext,
        state.highestmodseq,
        state.sync_resume,
        tuple(messages),
    )
