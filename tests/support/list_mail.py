"""A local account's store holding given messages, and an app on it with identities (no
network: the app's workers are off), for the identity and mailing-list tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.demo_app import NOW
from tuimail.app.application import TuimailApp
from tuimail.config.load import load_config
from tuimail.core.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

ACCOUNT = "home"
OWN = "me@home.example"
WORK = "alice@work.example"
LISTS = "lists@home.example"


def store_with(data: Path, *messages: bytes) -> Path:
    """A store in `data` whose account `home` has an INBOX with `messages`."""
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, ACCOUNT, None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=raw) for raw in messages])
    finally:
        conn.close()
    return data


def config_text(signature_file: Path, *, extra: str = "") -> str:
    """The account `home`: its own address with a signature, a work identity whose signature
    is `signature_file`, a lists identity without one; SMTP that is never reached."""
    return f"""
[accounts.home]
address = "{OWN}"
display_name = "Me Myself"
signature = "Me at home"
{extra}
[[accounts.home.identities]]
address = "{WORK}"
name = "Alice Work"
signature_file = {json.dumps(str(signature_file))}

[[accounts.home.identities]]
address = "{LISTS}"
name = "Me on lists"

[accounts.home.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""


def app_for(tmp_path: Path, *messages: bytes, extra: str = "", offline: bool = False) -> TuimailApp:
    """The app on a new store with `messages`, its config written to a file (the work
    signature file, `work.sig`, beside it) and loaded as tuimail loads it."""
    signature = tmp_path / "work.sig"
    if not signature.exists():
        signature.write_text("Alice\nWork Example Ltd\n")
    path = tmp_path / "config.toml"
    path.write_text(config_text(signature, extra=extra))
    data = store_with(tmp_path / "data", *messages)
    return TuimailApp(
        load_config(path), data, clock=lambda: NOW, start_workers=False, offline=offline
    )


def message(*fields: str, body: str = "Hello.") -> bytes:
    """A message with `fields` (header lines) and a short text."""
    defaults = {
        "from": "From: Carol <carol@example.org>",
        "subject": "Subject: plans",
        "date": "Date: Mon, 30 Nov 2026 10:00:00 +0000",
        "message-id": "Message-ID: <plans@example.org>",
    }
    names = {field.split(":", 1)[0].lower() for field in fields}
    lines = [*fields, *(line for name, line in defaults.items() if name not in names)]
    return (
        "\r\n".join([*lines, "MIME-Version: 1.0", "Content-Type: text/plain", "", body, ""])
    ).encode()
