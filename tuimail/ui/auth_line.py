"""The message view's line with the receiving server's verdicts (SPF, DKIM, DMARC), from the
account's own server only (tuimail.mail.authres).

The line is built by tuimail: its label, the words for each result and their colours are
tuimail's, and of the message only a checked domain name (letters, digits, dots and hyphens)
appears in it. It sits among the header lines, each of which is one sanitized line after its
own label, so no header text can make a line that looks like it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from rich.text import Text

from tuimail.config.schema import AccountConfig
from tuimail.mail.authres import Verdict, verdicts
from tuimail.store import read

LABEL = "Server check"
_WORDS = {
    "pass": "pass",
    "fail": "FAIL",
    "softfail": "soft fail",
    "neutral": "neutral",
    "none": "none",
    "temperror": "temporary error",
    "permerror": "permanent error",
    "policy": "refused by policy",
}


def _style(result: str, colours: Mapping[str, str]) -> str:
    if result == "pass":
        return f"bold {colours.get('success', 'green')}"
    if result in ("fail", "permerror", "policy"):
        return f"bold {colours.get('error', 'red')}"
    return colours.get("warning", "yellow")


def verdict_text(found: list[Verdict], colours: Mapping[str, str]) -> Text:
    """`SPF pass · DKIM pass (example.org) · DMARC FAIL`, after the label."""
    text = Text()
    text.append(f"{LABEL}: ", style="bold")
    for number, verdict in enumerate(found):
        if number:
            text.append(" · ")
        text.append(f"{verdict.method.upper()} ")
        text.append(
            _WORDS.get(verdict.result, verdict.result), style=_style(verdict.result, colours)
        )
        if verdict.domain and verdict.method == "dkim":
            text.append(f" ({verdict.domain})")
    return text


def server_verdicts(
    conn: sqlite3.Connection,
    accounts: Mapping[str, AccountConfig],
    row: read.MessageRow,
    raw: bytes,
) -> list[Verdict]:
    """The verdicts of the message's account's own server (none without `authserv_id`)."""
    folder = read.folder(conn, row.folder_id)
    account = accounts.get(folder.account) if folder is not None else None
    if account is None or not account.authserv_id:
        return []
    return verdicts(raw, account.authserv_id)
