"""The main screen's keys for mailing-list messages: a reply to the list (List-Post), a
private reply to the sender alone (past a Reply-To the list set to itself), and leaving the
list (List-Unsubscribe) once the user confirmed a question that names where it goes.

Leaving goes the first of these ways the message offers: RFC 8058 one-click (the app POSTs
to the https address; nothing is written, nothing opened), a message to the list's mailto:
address (the composer opens prefilled, nothing is sent until the user sends it), or the web
page, opened in the browser (tuimail never fetches it). Offline, the message comes first: it
waits in the outbox, a one-click request cannot. The UI asks; the app does the network.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from textual.notifications import SeverityLevel
from textual.screen import Screen

from tuimail.core.model import ANSWERED, Draft
from tuimail.mail.lists import ListInfo, list_info, list_reply_draft, private_reply_draft
from tuimail.mail.mailto import MailtoError, parse_mailto
from tuimail.mail.parse import parse_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.browser import open_link
from tuimail.ui.host import app_host
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.screens.writing import Writing


def _list_name(info: ListInfo) -> str:
    return f"the list {info.list_id}" if info.list_id else "the list"


class ListActions:
    """Acts on the mailing-list message the main screen `screen` has highlighted."""

    def __init__(
        self, screen: Screen[None], conn: sqlite3.Connection, writing: Writing, waits: BodyWaits
    ) -> None:
        self.screen = screen
        self.conn = conn
        self.writing = writing
        self.waits = waits

    def act(self, what: str, row: read.MessageRow) -> None:
        """`what` ("reply_list", "reply_private", "unsubscribe") on the message `row`."""
        {
            "reply_list": self.reply_list,
            "reply_private": self.reply_private,
            "unsubscribe": self.unsubscribe,
        }[what](row)

    def _say(self, words: str, severity: SeverityLevel = "information") -> None:
        self.screen.notify(words, severity=severity, markup=False)

    def reply_list(self, row: read.MessageRow) -> None:
        """Reply to the list's posting address (List-Post) alone, from the identity the
        message was sent to."""
        sender = self.writing.sender_for(row.account_id)
        if sender is None:
            return

        def reply(raw: bytes) -> None:
            info = list_info(raw)
            draft = list_reply_draft(
                parse_message(raw), info, sender=sender.address, own=sender.own_addresses
            )
            if draft is None:
                self._say(
                    "The list takes no posts (List-Post: NO): reply to the sender instead."
                    if info.posting_refused
                    else "Not from a mailing list: the message names no address for posts "
                    "(List-Post).",
                    "warning",
                )
                return
            draft = replace(draft, originals=((row.id, ANSWERED),))
            self.writing.open_composer(sender, draft, answering=raw)

        self.waits.with_text(row, reply)

    def reply_private(self, row: read.MessageRow) -> None:
        """Reply to the sender alone: past a Reply-To that the list set to itself."""
        sender = self.writing.sender_for(row.account_id)
        if sender is None:
            return

        def reply(raw: bytes) -> None:
            draft = private_reply_draft(
                parse_message(raw), list_info(raw), sender=sender.address,
                own=sender.own_addresses,
            )  # fmt: skip
            draft = replace(draft, originals=((row.id, ANSWERED),))
            self.writing.open_composer(sender, draft, answering=raw)

        self.waits.with_text(row, reply)

    def unsubscribe(self, row: read.MessageRow) -> None:
        """Leave the list the message came from, after a question naming where it goes."""
        self.waits.with_text(row, lambda raw: self._unsubscribe(row, raw))

    def _unsubscribe(self, row: read.MessageRow, raw: bytes) -> None:
        info = list_info(raw)
        online = app_host(self.screen.app).network_closed("sent") is None
        way = info.preferred_unsubscribe(online=online)
        if way is None:
            self._say("The message names no way to unsubscribe (List-Unsubscribe).", "warning")
            return
        shown, name = way.shown(), _list_name(info)
        if way.kind == "one-click":
            question = (
                f"Unsubscribe from {name} with one click? tuimail sends a request "
                f"(HTTPS POST, RFC 8058) to {shown}."
            )
        elif way.kind == "mailto":
            question = (
                f"Unsubscribe from {name} by mail to {shown}? The message opens in the "
                "composer; nothing is sent until you send it."
            )
        else:
            question = (
                f"Unsubscribe from {name} on its web page? {shown} opens in your browser "
                "(tuimail does not fetch it)."
            )

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            if way.kind == "one-click":
                self._one_click(row, way.uri, shown)
            elif way.kind == "mailto":
                self._by_mail(row, way.uri, raw)
            else:
                problem = open_link(way.uri)
                if problem is not None:
                    self._say(sanitize_line(problem), "error")
                else:
                    self._say(f"Opened in the browser: {shown}")

        self.screen.app.push_screen(Confirm(question, default=False), answered)

    def _one_click(self, row: read.MessageRow, uri: str, shown: str) -> None:
        def done(ok: bool, words: str) -> None:
            self._say(sanitize_line(words), "information" if ok else "error")

        closed = app_host(self.screen.app).one_click_unsubscribe(uri, row.account_id, done)
        if closed is not None:
            self._say(closed, "warning")
        else:
            self._say(f"Unsubscribing at {shown}…")

    def _by_mail(self, row: read.MessageRow, uri: str, raw: bytes) -> None:
        try:
            fields = parse_mailto(uri)
        except MailtoError as exc:
            self._say(f"The unsubscribe link cannot be used: {exc}", "error")
            return
        sender = self.writing.sender_for(row.account_id)
        if sender is None:
            return
        draft = Draft(
            from_=sender.address,
            to=fields.to,
            cc=fields.cc,
            subject=fields.subject or "unsubscribe",
            body=fields.body,
        )
        self.writing.open_composer(sender, draft, answering=raw)
