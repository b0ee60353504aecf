"""Two IMAP folders that swap names on the server, and the subjects each side holds: what the
folder-identity tests compare."""

from __future__ import annotations

import email
import re
import threading

from tests.support.dovecot import DovecotServer
from tests.support.imap_sync import (
    RESYNC_CASES,
    FaultProxyFactory,
    Mailbox,
    ReducedDovecot,
    folder_id,
    message,
    new_mailbox,
)
from tests.support.proxy import Faults
from tuimail.store.db import StoreConnection

UIDVALIDITY = "1700000000"
_SELECT = re.compile(rb'^\S+ (?:SELECT|EXAMINE) "?([^"\s]+)"?', re.IGNORECASE)
_GUID = re.compile(r"\b([0-9a-f]{32})\b")


def mailbox_with_objectid(server: DovecotServer, fault_proxy: FaultProxyFactory) -> Mailbox:
    """A fresh mailbox whose engine connection sees a server with OBJECTID (see the module)."""
    box = new_mailbox(server)
    selecting: list[bytes] = []
    lock = threading.Lock()

    def client_line(line: bytes) -> bytes:
        found = _SELECT.match(line)
        if found:
            with lock:
                selecting.append(found.group(1))
        return line

    def server_line(line: bytes) -> bytes:
        if re.search(rb"CAPABILITY IMAP4rev1 ", line, re.IGNORECASE):
            return re.sub(rb"(CAPABILITY IMAP4rev1) ", rb"\1 OBJECTID ", line, flags=re.I)
        if line.startswith(b"* OK [UIDVALIDITY "):
            with lock:
                name = selecting[-1].decode()
            status = server.doveadm("mailbox", "status", "-u", box.user, "guid", name)
            guid = _GUID.search(status)
            assert guid is not None, status
            return line + b"* OK [MAILBOXID (F" + guid.group(1).encode() + b")] Ok\r\n"
        return line

    proxy = fault_proxy(
        server.host,
        server.imap_port,
        client=Faults(rewrite_line=client_line),
        server=Faults(rewrite_line=server_line),
    )
    return box.through(proxy)


def identity_box(
    case: str, reduced_dovecot: ReducedDovecot, fault_proxy: FaultProxyFactory
) -> Mailbox:
    if case == "mailboxid":
        return mailbox_with_objectid(reduced_dovecot(without=frozenset()), fault_proxy)
    return new_mailbox(reduced_dovecot(without=RESYNC_CASES[case]))


def two_folders(box: Mailbox) -> None:
    """Work holds w0..w2 and Play holds p0..p2, UIDs 1 to 3 in both, under one UIDVALIDITY."""
    with box.device() as device:
        device.create_folder("Work")
        device.create_folder("Play")
        device.create_folder("Archive")
    for name in ("Work", "Play"):
        box.server.doveadm(  # type: ignore[attr-defined]
            "mailbox", "update", "-u", box.user, "--uid-validity", UIDVALIDITY, name
        )
    with box.device() as device:
        for number in range(3):
            device.append("Work", message(number, subject=f"w{number}"))
            device.append("Play", message(10 + number, subject=f"p{number}"))


def swap(box: Mailbox) -> None:
    """Another client swaps the two folders' names (each keeps its UIDVALIDITY and UIDs)."""
    for old, new in (("Work", "Swap"), ("Play", "Work"), ("Swap", "Play")):
        box.server.doveadm("mailbox", "rename", "-u", box.user, old, new)  # type: ignore[attr-defined]


def server_subjects(box: Mailbox, folder: str) -> dict[int, tuple[str, frozenset[str]]]:
    """UID -> (Subject, flags) as the server holds them, \\Deleted ones left out."""
    with box.device() as device:
        device.select_folder(folder, readonly=True)
        data = device.fetch(device.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER]"])
    found = {}
    for uid, item in data.items():
        flags = frozenset(f.decode() for f in item[b"FLAGS"] if f.lower() != b"\\recent")
        if "\\Deleted" in flags:
            continue
        subject = email.message_from_bytes(item[b"BODY[HEADER]"])["Subject"]
        found[uid] = (subject, flags)
    return found


def stored_subjects(conn: StoreConnection, folder: str) -> dict[int, tuple[str, frozenset[str]]]:
    rows = conn.execute(
        "SELECT uid, subject, flags FROM messages WHERE folder_id = ? AND uid IS NOT NULL",
        (folder_id(conn, folder),),
    ).fetchall()
    return {row[0]: (row[1], frozenset(row[2].split())) for row in rows}


def row_by_subject(conn: StoreConnection, folder: str, subject: str) -> int:
    found = conn.execute(
        "SELECT id FROM messages WHERE folder_id = ? AND subject = ?",
        (folder_id(conn, folder), subject),
    ).fetchone()
    assert found is not None, subject
    return int(found[0])
