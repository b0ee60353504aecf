"""Floors: how fast a bare Python client could be, keeping nothing.

- ``imap meta``: one imapclient IMAPS connection, SELECT (read-only), UID SEARCH ALL, then UID
  FETCH ENVELOPE FLAGS BODYSTRUCTURE RFC822.SIZE INTERNALDATE in batches of 500 UIDs;
- ``imap full``: the same with BODY.PEEK[];
- ``smtplib DIR`` / ``aiosmtplib DIR``: every file in DIR sent to bob over ONE submission
  connection (STARTTLS + AUTH): the one-process counterpart of one msmtp process per message.

Each takes the server directory of ``python -m tests.support.mailservers up`` (its servers.json)::

    python -m bench.floors SERVER_DIR imap meta|full
    python -m bench.floors SERVER_DIR smtplib|aiosmtplib OUTBOX_DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import smtplib
import ssl
import sys
from pathlib import Path
from typing import Any

BATCH = 500
SENDER = "alice"
RECIPIENT = "bob"


def imap_floor(state: dict[str, Any], what: str, mailbox: str = "INBOX") -> int:
    """Fetch metadata or bodies of every message in ``mailbox``; returns the count fetched."""
    from imapclient import IMAPClient  # imported here so each floor loads only its own client

    context = ssl.create_default_context(cafile=state["ca_file"])
    items = (
        ["ENVELOPE", "FLAGS", "BODYSTRUCTURE", "RFC822.SIZE", "INTERNALDATE"]
        if what == "meta"
        else ["BODY.PEEK[]"]
    )
    fetched = 0
    with IMAPClient(state["host"], port=state["imaps_port"], ssl=True, ssl_context=context) as c:
        c.login(SENDER, state["users"][SENDER])
        c.select_folder(mailbox, readonly=True)
        uids = c.search("ALL")
        for start in range(0, len(uids), BATCH):
            fetched += len(c.fetch(uids[start : start + BATCH], items))
    if fetched != len(uids):
        raise RuntimeError(f"fetched {fetched} of {len(uids)} messages")
    return fetched


def _outbox(directory: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(directory.iterdir())]


def send_smtplib(state: dict[str, Any], messages: list[bytes]) -> None:
    """Send every message over one stdlib smtplib connection."""
    context = ssl.create_default_context(cafile=state["ca_file"])
    sender, recipient = f"{SENDER}@{state['domain']}", f"{RECIPIENT}@{state['domain']}"
    with smtplib.SMTP(state["host"], state["submission_port"], timeout=60) as smtp:
        smtp.starttls(context=context)
        smtp.login(SENDER, state["users"][SENDER])
        for raw in messages:
            smtp.sendmail(sender, [recipient], raw)


async def send_aiosmtplib(state: dict[str, Any], messages: list[bytes]) -> None:
    """Send every message over one aiosmtplib connection."""
    import aiosmtplib

    context = ssl.create_default_context(cafile=state["ca_file"])
    sender, recipient = f"{SENDER}@{state['domain']}", f"{RECIPIENT}@{state['domain']}"
    client = aiosmtplib.SMTP(
        hostname=state["host"],
        port=state["submission_port"],
        start_tls=True,
        tls_context=context,
        timeout=60,
    )
    await client.connect()
    await client.login(SENDER, state["users"][SENDER])
    for raw in messages:
        await client.sendmail(sender, [recipient], raw)
    await client.quit()


def main(argv: list[str] | None = None) -> int:
    """Run one floor against the servers in SERVER_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server_dir", type=Path)
    parser.add_argument("kind", choices=["imap", "smtplib", "aiosmtplib"])
    parser.add_argument("argument", help="meta|full for imap; the outbox directory for SMTP")
    args = parser.parse_args(argv)
    state = json.loads((args.server_dir / "servers.json").read_text())
    if args.kind == "imap":
        if args.argument not in ("meta", "full"):
            parser.error("imap takes meta or full")
        count = imap_floor(state, args.argument)
        print(f"imap {args.argument}: {count} messages")
    elif args.kind == "smtplib":
        messages = _outbox(Path(args.argument))
        send_smtplib(state, messages)
        print(f"smtplib: sent {len(messages)} messages")
    else:
        messages = _outbox(Path(args.argument))
        asyncio.run(send_aiosmtplib(state, messages))
        print(f"aiosmtplib: sent {len(messages)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
