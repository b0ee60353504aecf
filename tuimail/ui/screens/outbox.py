"""The outbox: every queued, failing or unresolved message, with its state, the server's reply and
the history of its state changes.

e takes a message back into the composer (undo send, while it has not left: from that moment it
is a draft, with its attachments, kept whatever happens to the composer), r sends a failed or
unknown one again, x removes one, s records an unknown one as sent. Everything is an intent in
the store (store/outbox.py); the app's sender worker does the network part.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tuimail.core.model import Address, Draft
from tuimail.mail.attachments import attachment_parts
from tuimail.mail.headers import parse_envelope
from tuimail.mail.parse import parse_message
from tuimail.mail.reply import original_text
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts, outbox, outbox_history, outbox_refusals
from tuimail.store.db import StoreError, failure
from tuimail.store.outbox import OutboxState
from tuimail.ui.format import addresses_text
from tuimail.ui.host import app_host
from tuimail.ui.messages import DraftSaved
from tuimail.ui.screens import identities
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.tables import selected_id
from tuimail.ui.widgets.footer import Footer

SHOWN_STATES = (
    OutboxState.QUEUED,
    OutboxState.SENDING,
    OutboxState.FAILED,
    OutboxState.UNKNOWN,
)
_STATE_STYLE = {
    OutboxState.SENT: "bold red",  # shown only when some recipients were refused
    OutboxState.QUEUED: "",
    OutboxState.SENDING: "bold",
    OutboxState.FAILED: "bold red",
    OutboxState.UNKNOWN: "bold yellow",
}


def draft_from_outbox(raw: bytes, env_rcpts: tuple[str, ...], sender: Address) -> Draft:
    """The draft a queued message came from: Bcc is what the envelope has beyond To and Cc."""
    parsed = parse_message(raw)
    env = parsed.envelope
    shown = {a.email.lower() for a in (*env.to, *env.cc)}
    bcc = tuple(Address("", r) for r in env_rcpts if r.lower() not in shown)
    return Draft(
        from_=sender,
        to=env.to,
        cc=env.cc,
        bcc=bcc,
        subject=env.subject,
        body=original_text(parsed),
        in_reply_to=env.in_reply_to,
        references=env.references,
    )


def _waiting(item: outbox.OutboxItem) -> str:
    """What a queued item waits for, in words."""
    when = item.next_attempt.astimezone().strftime("%a %d %b %H:%M")
    if item.attempts:
        return (
            "to try again after a temporary refusal or failure (the last reply above); "
            f"next attempt {when}"
        )
    if item.scheduled_at is not None and item.scheduled_at >= item.next_attempt:
        return f"scheduled for {when}"
    return f"the undo-send grace period (e takes it back); sent from {when}"


class OutboxScreen(Screen[None]):
    """Lists the outbox; refreshes itself every second (counts down the undo time)."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("e", "take_back", "Take back (edit)", id="outbox-take-back"),
        Binding("r", "retry", "Send again", id="outbox-retry"),
        Binding("x", "remove", "Remove", id="outbox-remove"),
        Binding("s", "confirm_sent", "It was sent", id="outbox-confirm-sent"),
    ]

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="outbox", cursor_type="row")
        yield Static(id="outbox-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("State", "state"), ("When", "when"), ("To", "to"),
                           ("Subject", "subject")):  # fmt: skip
            table.add_column(label, key=key)
        self.sub_title = "Outbox"
        self.reload()
        self.set_interval(1.0, self.reload)
        table.focus()

    def reload(self) -> None:
        """Re-read the outbox, keeping the cursor on the same item."""
        table = self.query_one(DataTable)
        keep = self._selected_id()
        table.clear()
        now = datetime.now(UTC)
        # Sent items stay while some of their recipients were refused, until x dismisses them.
        listed = [
            *outbox.items(self.conn, states=SHOWN_STATES),
            *outbox_refusals.with_refusals(self.conn),
        ]
        for item in sorted(listed, key=lambda i: i.id):
            # The header is enough (read every second; a queued message may be 70 MB).
            env = parse_envelope(outbox.raw_head(self.conn, item.id))
            if item.state is OutboxState.QUEUED:
                wait = (item.next_attempt - now).total_seconds()
                if wait > 3600:
                    when = item.next_attempt.astimezone().strftime("%a %d %b %H:%M")
                elif wait > 120:
                    when = f"in {wait / 60:.0f} min"
                else:
                    when = f"in {wait:.0f} s" if wait > 0 else "now"
                if item.attempts:  # refused for now (or cut off): a retry, not the undo time
                    when = f"retry {when}"
            else:
                when = item.updated.astimezone().strftime("%H:%M")
            table.add_row(
                Text(item.state.value, style=_STATE_STYLE[item.state]),
                when,
                Text(addresses_text(env.to) or ", ".join(item.env_rcpts), no_wrap=True),
                Text(sanitize_line(env.subject) or "(no subject)", no_wrap=True),
                key=str(item.id),
            )
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
        self._show_detail()

    def _selected_id(self) -> int | None:
        return selected_id(self.query_one(DataTable))

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        item_id = self._selected_id()
        detail = self.query_one("#outbox-detail", Static)
        item = outbox.get(self.conn, item_id) if item_id is not None else None
        if item is None:
            detail.update(Text("The outbox is empty." if item_id is None else ""))
            return
        text = Text()
        text.append("Recipients: ", style="bold")
        text.append(sanitize_line(", ".join(item.env_rcpts)) + "\n")
        text.append("Attempts: ", style="bold")
        text.append(f"{item.attempts}\n")
        if item.last_reply:
            text.append("Last reply: ", style="bold")
            text.append(sanitize_line(item.last_reply) + "\n")
        if item.state is OutboxState.QUEUED:
            text.append("Waiting: ", style="bold")
            text.append(_waiting(item) + "\n")
        refused = outbox_refusals.refusals(self.conn, item.id)
        if refused:
            text.append("Sent, but these recipients were refused (x: dismiss):\n", style="bold red")
            for recipient, reply in refused.items():
                text.append(f"  {sanitize_line(recipient)}: {sanitize_line(reply)}\n")
        history = outbox_history.history(self.conn, item.id)
        if history:
            text.append("History:\n", style="bold")
            for entry in history:
                change = entry.to_state.value
                if entry.from_state is not None:
                    change = f"{entry.from_state.value} → {change}"
                when = entry.at.astimezone().strftime("%d %b %H:%M:%S")
                reply = f": {sanitize_line(entry.reply)}" if entry.reply else ""
                text.append(f"  {when}  {change}{reply}\n")
        if item.state is OutboxState.UNKNOWN:
            text.append(
                "The connection broke after the message was handed over, before the server "
                "confirmed it: it may or may not have been delivered. Check with a recipient, "
                "then press s (it was sent) or r (send again).",
                style="yellow",
            )
        detail.update(text)

    def _act(self, action: str) -> None:
        item_id = self._selected_id()
        if item_id is None:
            return
        item = outbox.get(self.conn, item_id)
        if item is None:
            return
        try:
            if action == "retry":
                outbox.retry(self.conn, item_id)
                app_host(self.app).start_sender_for_account_id(item.account_id)
            elif action == "confirm_sent":
                outbox.confirm_sent(self.conn, item_id, "the user confirmed it arrived")
            elif action == "remove" and item.state is OutboxState.SENT:
                outbox_refusals.dismiss_refusals(self.conn, item_id)  # its refusals were seen
            elif action == "remove":
                outbox.cancel(self.conn, item_id)
        except Exception as exc:  # an illegal step, or the store could not write (a full disk)
            problem = failure(exc, self.conn)
            if problem is None:
                raise
            self.notify(str(problem), severity="error", markup=False)
        self.reload()

    def action_retry(self) -> None:
        self._act("retry")

    def action_confirm_sent(self) -> None:
        self._act("confirm_sent")

    def action_remove(self) -> None:
        """Remove a waiting message (asking first), or dismiss a sent one's refused recipients."""
        item_id = self._selected_id()
        item = outbox.get(self.conn, item_id) if item_id is not None else None
        if item is None:
            return
        if item.state is OutboxState.SENT:
            question = "Dismiss its refused recipients? (The message itself was sent.)"
        else:
            question = "Remove this message from the outbox? It will not be sent."

        def answer(yes: bool | None) -> None:
            if yes:
                self._act("remove")

        self.app.push_screen(Confirm(question), answer)

    def action_take_back(self) -> None:
        """Undo send: the message becomes a draft (attachments included) in the same store
        transaction that takes it out of the outbox, and opens in the composer."""
        item_id = self._selected_id()
        item = outbox.get(self.conn, item_id) if item_id is not None else None
        if item is None:
            return
        sender = app_host(self.app).sender_for(item.account_id)
        if sender is None:
            self.notify("No account to send from is configured.", severity="error")
            return
        try:
            raw = outbox.raw_message(self.conn, item.id)
            sent_as = parse_message(raw).envelope.from_[:1]
            # Written as one of the account's identities: taken back as that one.
            from_ = identities.kept_identity(sender, sent_as[0]) if sent_as else sender.address
            draft = draft_from_outbox(raw, item.env_rcpts, from_)
            stored = drafts.take_back(self.conn, item.id, draft, attachment_parts(raw))
        except StoreError as exc:
            self.notify(f"Too late to take it back: {exc}", severity="error", markup=False)
            self.reload()
            return
        except sqlite3.Error as exc:  # the store could not write (a full disk): still queued
            problem = failure(exc, self.conn)
            self.notify(f"Not taken back: {problem}", severity="error", markup=False)
            return
        from tuimail.ui.screens.composer import ComposerScreen

        # The draft is stored: its server copy (IMAP Drafts) can be made at once.
        self.app.post_message(DraftSaved(stored.account_id))
        self.app.switch_screen(
            ComposerScreen(
                sender,
                stored.draft,
                draft_id=stored.id,
                message_id=stored.message_id,
                account_id=stored.account_id,
            )
        )
