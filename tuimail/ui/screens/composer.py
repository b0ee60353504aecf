"""The composer: To/Cc/Bcc/Subject, a body editor, attachments, and $EDITOR hand-off.

Sending writes the message to the outbox (an intent) and closes the composer; the app's sender
worker delivers it after the undo-send grace period. Nothing here touches the network.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, TextArea

from tuimail.mail.compose import ComposeError, compose, make_message_id
from tuimail.mail.sanitize import sanitize_line
from tuimail.model import Address, Draft
from tuimail.store import outbox, read
from tuimail.ui.messages import OutboxQueued
from tuimail.ui.screens.prompt import Confirm, LinePrompt
from tuimail.ui.when import WhenError, parse_when

DEFAULT_SEND_DELAY = timedelta(seconds=10)


@dataclass(frozen=True)
class Sender:
    """Who a message is sent as: the account's name in the store, and its identity."""

    account: str
    address: Address
    can_send: bool  # the account has an SMTP server
    own_addresses: tuple[str, ...] = field(default=())
    # How long a sent message waits in the outbox, so it can still be taken back.
    send_delay: timedelta = DEFAULT_SEND_DELAY


class AddressError(ValueError):
    """An address field the user typed could not be read."""


def parse_address_field(name: str, text: str) -> tuple[Address, ...]:
    """`"Ann <a@x>, b@y"` → Addresses; AddressError names the field and the bad entry."""
    if not text.strip():
        return ()
    found = []
    for display, email in getaddresses([text]):
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in email):
            shown = sanitize_line(display or email or text)
            raise AddressError(f"{name}: {shown!r} is not an address like ann@example.org")
        found.append(Address(display, email))
    return tuple(found)


def _field_text(addresses: tuple[Address, ...]) -> str:
    return ", ".join(str(a) for a in addresses)


class ComposerScreen(Screen[None]):
    """Write one message; ctrl+s sends (through the outbox), escape discards after asking."""

    # Priority bindings, and keys the text editor does not use itself (it takes ctrl+a/ctrl+e
    # for the line start and end, as shells do).
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True, id="send"),
        Binding("ctrl+l", "send_later", "Send later", priority=True, id="send-later"),
        Binding(
            "ctrl+o", "edit_externally", "Edit in $EDITOR", priority=True, id="edit-externally"
        ),
        Binding("ctrl+t", "attach", "Attach", priority=True, id="attach"),
        Binding(
            "ctrl+b",
            "remove_attachment",
            "Drop last attachment",
            priority=True,
            id="drop-attachment",
        ),
        Binding("escape", "discard", "Discard", id="discard"),
    ]
    DEFAULT_CSS = """
    ComposerScreen #fields {
        grid-size: 2;
        grid-columns: 10 1fr;
        grid-rows: auto;
        height: auto;
        padding: 0 1;
    }
    ComposerScreen #fields Label {
        text-style: bold;
    }
    ComposerScreen #fields Input {
        border: none;
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    ComposerScreen #fields Input:focus {
        background: $boost;
        border: none;
    }
    ComposerScreen #fields {
        grid-gutter: 1 0;
        margin: 1 0;
    }
    ComposerScreen #from {
        padding: 0 1;
    }
    ComposerScreen #attachments {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ComposerScreen TextArea {
        height: 1fr;
        border: round $panel;
    }
    ComposerScreen TextArea:focus {
        border: round $primary;
    }
    """

    def __init__(
        self,
        sender: Sender,
        draft: Draft | None = None,
    ) -> None:
        super().__init__()
        self.sender = sender
        self.draft = draft or Draft(from_=sender.address)
        self.attachments: list[str] = list(self.draft.attachments)
        self._original = self._snapshot_of(self.draft)

    @staticmethod
    def _snapshot_of(draft: Draft) -> tuple[str, ...]:
        return (
            _field_text(draft.to),
            _field_text(draft.cc),
            _field_text(draft.bcc),
            draft.subject,
            draft.body,
            *draft.attachments,
        )

    def compose(self) -> ComposeResult:
        with Vertical():
            with Grid(id="fields"):
                yield Label("From")
                yield Static(Text(sanitize_line(str(self.sender.address))), id="from")
                yield Label("To")
                yield Input(_field_text(self.draft.to), id="to", placeholder="ann@example.org")
                yield Label("Cc")
                yield Input(_field_text(self.draft.cc), id="cc")
                yield Label("Bcc")
                yield Input(_field_text(self.draft.bcc), id="bcc")
                yield Label("Subject")
                yield Input(self.draft.subject, id="subject")
            yield Static(id="attachments")
            yield TextArea(self.draft.body, id="body", soft_wrap=True, show_line_numbers=False)
        yield Footer()

    def on_mount(self) -> None:
        self._show_attachments()
        first_empty = "#to" if not self.draft.to else "#body"
        self.query_one(first_empty).focus()
        if first_empty == "#body":
            self.query_one(TextArea).move_cursor((0, 0))

    def _show_attachments(self) -> None:
        names = ", ".join(sanitize_line(Path(p).name) for p in self.attachments)
        self.query_one("#attachments", Static).update(
            Text(f"Attachments: {names}" if names else "")
        )

    def current_draft(self) -> Draft:
        """The draft as the fields now hold it. Raises AddressError for a bad address field."""
        value = {name: self.query_one(f"#{name}", Input).value for name in ("to", "cc", "bcc")}
        return Draft(
            from_=self.sender.address,
            to=parse_address_field("To", value["to"]),
            cc=parse_address_field("Cc", value["cc"]),
            bcc=parse_address_field("Bcc", value["bcc"]),
            subject=self.query_one("#subject", Input).value,
            body=self.query_one(TextArea).text,
            attachments=tuple(self.attachments),
            in_reply_to=self.draft.in_reply_to,
            references=self.draft.references,
        )

    def _changed(self) -> bool:
        fields = tuple(self.query_one(f"#{n}", Input).value for n in ("to", "cc", "bcc", "subject"))
        return (*fields, self.query_one(TextArea).text, *self.attachments) != self._original

    # --- actions ------------------------------------------------------------------------------

    def action_send_later(self) -> None:
        """Ask when, then queue the message to leave at that time."""

        def chosen(text: str | None) -> None:
            if not text:
                return
            try:
                moment = parse_when(text, datetime.now(UTC))
            except WhenError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self.action_send(scheduled_at=moment)

        self.app.push_screen(
            LinePrompt("Send at (+30m, +2h, +1d, 09:00, 2026-12-24 09:00)", placeholder="+1h"),
            chosen,
        )

    def action_send(self, scheduled_at: datetime | None = None) -> None:
        """Queue the message in the outbox (it leaves after the undo-send delay, or at
        `scheduled_at`)."""
        if not self.sender.can_send:
            self.notify(
                f"The account {self.sender.account!r} has no [smtp] server configured; "
                "add one to send from it.",
                severity="error",
                markup=False,
            )
            return
        try:
            draft = self.current_draft()
        except AddressError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        recipients = [a.email for a in (*draft.to, *draft.cc, *draft.bcc)]
        if not recipients:
            self.notify("Add at least one recipient.", severity="error", markup=False)
            return
        message_id = make_message_id(self.sender.address.email.rpartition("@")[2])
        try:
            raw = compose(draft, message_id=message_id)
        except ComposeError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        conn = self.app.conn  # type: ignore[attr-defined]
        account_id = read.account_id(conn, self.sender.account)
        if account_id is None:
            self.notify("The account is not in the local store yet.", severity="error")
            return
        now = datetime.now(UTC)
        item = outbox.enqueue(
            conn,
            account_id,
            raw,
            message_id=message_id.strip("<>"),
            env_from=self.sender.address.email,
            env_rcpts=recipients,
            not_before=now + self.sender.send_delay,
            scheduled_at=scheduled_at,
            now=now,
        )
        delay = self.sender.send_delay.total_seconds()
        if scheduled_at is not None:
            delay = max(delay, (scheduled_at - now).total_seconds())
        self.app.post_message(OutboxQueued(account_id, item, delay))
        self.dismiss(None)

    def action_discard(self) -> None:
        if not self._changed():
            self.dismiss(None)
            return

        def answer(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(Confirm("Discard this message?"), answer)

    def action_attach(self) -> None:
        def add(path: str | None) -> None:
            if not path:
                return
            file = Path(path).expanduser()
            if not file.is_file():
                self.notify(f"No such file: {sanitize_line(str(file))}", severity="error")
                return
            self.attachments.append(str(file))
            self._show_attachments()

        self.app.push_screen(LinePrompt("Attach the file at", placeholder="~/report.pdf"), add)

    def action_remove_attachment(self) -> None:
        if self.attachments:
            self.attachments.pop()
            self._show_attachments()

    def action_edit_externally(self) -> None:
        """Suspend the app, edit the body in $VISUAL/$EDITOR, and take the result back."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        body = self.query_one(TextArea)
        with tempfile.NamedTemporaryFile(
            "w", suffix=".eml.txt", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(body.text)
            path = Path(handle.name)
        try:
            try:
                with self.app.suspend():
                    result = subprocess.run([*shlex.split(editor), str(path)], check=False)
            except Exception as exc:  # no terminal to hand over (e.g. headless), or no editor
                self.notify(f"Could not run {editor!r}: {exc}", severity="error", markup=False)
                return
            if result.returncode != 0:
                self.notify(f"{editor} exited with {result.returncode}; body unchanged.")
                return
            body.load_text(path.read_text(encoding="utf-8", errors="replace"))
        finally:
            path.unlink(missing_ok=True)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        self.focus_next()
