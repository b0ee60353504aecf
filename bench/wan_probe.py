"""What the wan group's rows look at, never through the latency proxy: the servers straight
(a direct IMAPS session of the bench's own: the raw message a row expects, the flags on the
server, a new message APPENDed) and the app's store read-only while the app runs (with the app's
own read, render and format functions: what the screen will show). See bench/wan.py.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.ui import ListRow

if TYPE_CHECKING:
    from bench.bench import SizeRun
    from tuimail.store.read import MessageRow


class RowFailed(Exception):
    """A screen row could not go on (the app left, a screen never came); the reason."""


class NotWithin(Exception):
    """What a row waits for did not happen within its bound (the row says so, no figure)."""


# --- the servers, straight (never through the proxy) --------------------------------------------


class DirectImap:
    """One IMAPS connection of the bench's own to Dovecot, for what a row expects or checks."""

    def __init__(self, run: SizeRun) -> None:
        servers = run.servers
        self.imap = imaplib.IMAP4_SSL(
            servers.host, servers.imaps_port, ssl_context=servers.client_ssl_context(), timeout=60
        )
        self.imap.login(run.user, run.password)
        self.selected = ""

    def select(self, folder: str) -> None:
        """EXAMINE ``folder`` (read-only: the bench never changes a flag)."""
        if folder != self.selected:
            typ, data = self.imap.select(_quoted(folder), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"EXAMINE {folder}: {data!r}")
            self.selected = folder

    def raw(self, folder: str, uid: int) -> bytes:
        """The message's bytes (BODY.PEEK[]: no \\Seen)."""
        self.select(folder)
        typ, data = self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                return bytes(item[1])
        raise RuntimeError(f"UID {uid} of {folder}: no body ({typ} {data!r})")

    def flags(self, folder: str, uid: int) -> frozenset[str]:
        """The message's flags on the server now (NOOP first: changes made by other sessions)."""
        self.select(folder)
        self.imap.noop()
        typ, data = self.imap.uid("FETCH", str(uid), "(FLAGS)")
        for item in data:
            text = item.decode() if isinstance(item, bytes) else str(item)
            found = re.search(r"FLAGS \(([^)]*)\)", text)
            if found:
                return frozenset(found.group(1).split())
        raise RuntimeError(f"UID {uid} of {folder}: no flags ({typ} {data!r})")

    def append(self, folder: str, raw: bytes) -> None:
        """APPEND ``raw`` to ``folder`` (returns when the server has it)."""
        typ, data = self.imap.append(_quoted(folder), None, None, raw)
        if typ != "OK":
            raise RuntimeError(f"APPEND to {folder}: {data!r}")

    def close(self) -> None:
        """Log out."""
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the app's store, read-only while the app runs ------------------------------------------------


class StoreView:
    """The app's store, read-only and with the app's own read functions."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "tuimail.db"
        self.conn = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, timeout=10, isolation_level=None
        )
        self.now = datetime.now().astimezone()

    def folder_id(self, name: str) -> int:
        """The store id of the account's folder ``name``."""
        from tuimail.store import read

        for folder in read.folders(self.conn):
            if folder.name == name:
                return folder.id
        raise RowFailed(f"no folder {name!r} in the store")

    def palette_name(self, name: str) -> str:
        """How the command palette names the folder ("Go to ACCOUNT/NAME")."""
        from tuimail.store import read

        for folder in read.folders(self.conn):
            if folder.name == name:
                return f"{folder.account}/{folder.display_name}"
        raise RowFailed(f"no folder {name!r} in the store")

    def message_id(self, folder: str, index: int) -> int:
        """The store id of the message at ``index`` of the folder's list (newest first)."""
        from tuimail.store import read

        ids = read.message_ids(self.conn, [self.folder_id(folder)])
        if index >= len(ids):
            raise RowFailed(f"{folder} has {len(ids)} messages, not {index + 1}")
        return ids[index]

    def message(self, message_id: int) -> MessageRow:
        """The message's list row (read.MessageRow)."""
        from tuimail.store import read

        found = read.row(self.conn, message_id)
        if found is None:
            raise RowFailed(f"message {message_id} is gone from the store")
        return found

    def list_row(self, message_id: int) -> ListRow:
        """What the list shows for the message (date, sender, subject: their starts)."""
        from tuimail.mail.sanitize import sanitize_line
        from tuimail.ui.format import sender_text, short_date

        row = self.message(message_id)
        env = row.envelope
        return ListRow(
            0,
            short_date(env.date or row.sort_date, self.now),
            sender_text(env.from_)[:8],
            (sanitize_line(env.subject) or "(no subject)")[:20],
        )

    def last_outbox_item(self) -> tuple[str, float, str] | None:
        """(Message-ID, next attempt as epoch seconds, state) of the newest outbox item."""
        found = self.conn.execute(
            "SELECT message_id, next_attempt, state FROM outbox ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if found is None else (str(found[0]), float(found[1]), str(found[2]))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def contains(text: str) -> Callable[[str], bool]:
    """A screen condition: ``text`` is on the screen."""
    return lambda screen: text in screen


def matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """A screen condition: ``pattern`` is found on the screen."""
    return lambda screen: pattern.search(screen) is not None


def body_markers(raw: bytes) -> list[str]:
    """Starts of the first lines of the message's text as the message view renders it (the
    app's own parse and render): any of them on the screen means the body is shown."""
    from tuimail.mail.parse import parse_message
    from tuimail.mail.render import render_message
    from tuimail.mail.sanitize import sanitize_line

    markers = []
    for line in render_message(parse_message(raw), raw).splitlines()[:12]:
        clean = sanitize_line(line).strip()
        if len(clean) >= 16 and "\t" not in line and not clean.startswith(">"):
            markers.append(clean[:24])
    return markers
