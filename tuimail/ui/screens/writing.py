"""The main screen's ways into the composer: a new message, one from a mailto: link, a reply,
a forward (inline, or the message whole as an attachment) and editing a server draft.

Who writes comes from the app (`AppHost.sender_for`); a message not (whole) on this computer
yet is downloaded first (`BodyWaits`), and the composer opens once it is here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from textual.screen import Screen

from tuimail.core.model import ANSWERED, FORWARDED, Draft, FolderRole
from tuimail.mail.mailto import MailtoFields
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import (
    draft_from_message,
    forward_attached_draft,
    forward_draft,
    reply_draft,
)
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts as store_drafts
from tuimail.store import read
from tuimail.store.drafts import ServerCopy
from tuimail.ui.host import Sender, app_host
from tuimail.ui.screens import identities
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.widgets.message_list import MessageList


class Writing:
    """Opens the composer over `screen` (the main screen) for its messages."""

    def __init__(self, screen: Screen[None], conn: sqlite3.Connection, waits: BodyWaits) -> None:
        self.screen = screen
        self.conn = conn
        self.waits = waits

    def sender_for(self, account_id: int | None) -> Sender | None:
        """Who writes from the store account `account_id` (None: the default account); a
        notice says so when no account can send."""
        sender = app_host(self.screen.app).sender_for(account_id)
        if sender is None:
            self.screen.notify(
                "No account to send from: add an account with an [smtp] server to the config.",
                severity="error",
                markup=False,
            )
        return sender

    def open_composer(
        self, sender: Sender, draft: Draft | None = None, *, answering: bytes | None = None
    ) -> None:
        """Open the composer on `draft` (None: an empty one), begun from its identity (for an
        answer to the message `answering`, the one it was sent to) with its signature."""
        begun = identities.begin(
            self.screen, sender, draft or Draft(from_=sender.address), answering=answering
        )
        self._push(ComposerScreen(sender, begun))

    def _push(self, composer: ComposerScreen) -> None:
        """Open the composer; however it closes (sent, kept as a draft, discarded), the message
        list has the focus again, as after mutt's and aerc's composers."""
        self.screen.app.push_screen(composer, lambda _result: self._back_to_list())

    def _back_to_list(self) -> None:
        if self.screen.is_attached:
            self.screen.query_one(MessageList).focus()

    def compose(self, account_id: int | None) -> None:
        """A new message from the account `account_id` (None: the default account)."""
        sender = self.sender_for(account_id)
        if sender is not None:
            self.open_composer(sender)

    def compose_prefilled(self, fields: MailtoFields) -> None:
        """Open the composer with a mailto: link's fields, from the default account; nothing
        is sent until the user sends it."""
        sender = self.sender_for(None)
        if sender is None:
            return
        draft = Draft(
            from_=sender.address,
            to=fields.to,
            cc=fields.cc,
            bcc=fields.bcc,
            subject=fields.subject,
            body=fields.body,
            in_reply_to=fields.in_reply_to,
            references=(fields.in_reply_to,) if fields.in_reply_to else (),
        )
        self.open_composer(sender, draft)
        if fields.ignored:
            left_out = ", ".join(sanitize_line(name) for name in fields.ignored)
            self.screen.notify(f"Left out of the link: {left_out}.", markup=False)

    def reply(self, row: read.MessageRow, reply_all: bool) -> None:
        """Reply to the message (to all with `reply_all`) once its text is here."""
        sender = self.sender_for(row.account_id)
        if sender is None:
            return

        def reply(raw: bytes) -> None:
            draft = reply_draft(
                parse_message(raw), sender=sender.address, own=sender.own_addresses,
                reply_all=reply_all,
            )  # fmt: skip
            draft = replace(draft, originals=((row.id, ANSWERED),))
            self.open_composer(sender, draft, answering=raw)

        self.waits.with_text(row, reply)

    def forward(self, row: read.MessageRow) -> None:
        """Forward inline: the original's text quoted, its attachments carried along (when only
        its text is local, the composer opens once the whole message has arrived)."""
        sender = self.sender_for(row.account_id)
        if sender is None:
            return
        text = self.waits.text_of(row)
        if text is not None and not self.waits.attachments_of(row):
            draft = forward_draft(parse_message(text), sender=sender.address)
            draft = replace(draft, originals=((row.id, FORWARDED),))
            self.open_composer(sender, draft, answering=text)
            return

        def forward(raw: bytes) -> None:
            draft = forward_draft(parse_message(raw), sender=sender.address, stored_id=row.id)
            draft = replace(draft, originals=((row.id, FORWARDED),))
            self.open_composer(sender, draft, answering=raw)

        self.waits.with_whole_body(row, forward)

    def forward_attached(self, row: read.MessageRow) -> None:
        """Forward the message whole, as an attachment (its bytes as they are)."""
        sender = self.sender_for(row.account_id)
        if sender is None:
            return
        draft = forward_attached_draft(row.envelope, row.id, sender=sender.address)
        draft = replace(draft, originals=((row.id, FORWARDED),))
        # The composer attaches the exact bytes: when only the text is local, it opens once the
        # whole message has arrived.
        self.waits.with_whole_body(
            row, lambda raw: self.open_composer(sender, draft, answering=raw)
        )

    def forward_attached_many(self, rows: list[read.MessageRow]) -> None:
        """Forward several messages whole in one composer, each attached as message/rfc822
        (their bytes as they are), in the order given; the subject is the first one's. The
        composer opens once every message is whole on this computer."""
        if not rows:
            return
        sender = self.sender_for(rows[0].account_id)
        if sender is None:
            return
        draft = forward_attached_draft(rows[0].envelope, rows[0].id, sender=sender.address)
        draft = replace(
            draft,
            attached_messages=tuple(row.id for row in rows),
            originals=tuple((row.id, FORWARDED) for row in rows),
        )
        self.waits.with_whole_bodies(rows, lambda _bodies: self.open_composer(sender, draft))

    def edit_draft(self, row: read.MessageRow) -> None:
        """Edit a message of a Drafts folder (saved by any client): it becomes a local draft
        that replaces the server copy when saved."""
        folder = read.folder(self.conn, row.folder_id)
        if folder is None or folder.role is not FolderRole.DRAFTS:
            self.screen.notify("Only messages in a Drafts folder can be edited.", markup=False)
            return
        sender = self.sender_for(row.account_id)
        if sender is None:
            return
        mine = (
            store_drafts.find_by_message_id(self.conn, row.account_id, row.envelope.message_id)
            if row.envelope.message_id
            else None
        )
        if mine is not None:  # a copy of a local draft: open that one
            self._push(
                ComposerScreen(
                    sender,
                    replace(mine.draft, from_=identities.kept_identity(sender, mine.draft.from_)),
                    draft_id=mine.id,
                    message_id=mine.message_id,
                    account_id=mine.account_id,
                )
            )
            return
        self.waits.with_whole_body(
            row, lambda raw: self._edit_server_draft(row, folder, sender, raw)
        )

    def _edit_server_draft(
        self, row: read.MessageRow, folder: read.FolderInfo, sender: Sender, raw: bytes
    ) -> None:
        """Open a server draft's bytes in the composer, to replace that copy when saved."""
        parsed = parse_message(raw)
        if parsed.attachments:
            self.screen.notify(
                "Its attachments are not carried over: attach them again (ctrl+t).",
                severity="warning",
                markup=False,
            )
        copy = None
        if row.uid is not None:
            copy = ServerCopy(folder.id, folder.uidvalidity, row.uid)
        self._push(
            ComposerScreen(
                sender,
                draft_from_message(
                    parsed,
                    sender=identities.kept_identity(sender, parsed.envelope.from_[0])
                    if parsed.envelope.from_
                    else sender.address,
                ),
                message_id=row.envelope.message_id,
                account_id=row.account_id,
                server_copy=copy,
            )
        )
