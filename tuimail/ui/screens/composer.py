"""The composer: To/Cc/Bcc/Subject, a body editor, attachments, and $EDITOR hand-off.

Sending writes the message to the outbox (an intent; screens/queueing.py checks and queues it)
and closes the composer; the app's sender worker delivers it after the undo-send grace period.
What is written is saved as a draft in the store every few seconds while it changes
(store/drafts.py); closing asks whether to keep it.
The app copies kept drafts to the IMAP Drafts folder when the composer closes or has been idle
for a while (DraftSaved). When a save fails (a full disk), the text stays in the composer, the
line above the keys says it is not saved, and the save is tried again on the next change and
every few seconds. Nothing here touches the network.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import getaddresses
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Static, TextArea

from tuimail.core.model import Address, AttachmentInfo, Draft
from tuimail.mail.compose import make_message_id
from tuimail.mail.parse import parse_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import drafts, read
from tuimail.store.db import StoreError, StoreFullError, failure
from tuimail.store.drafts import ServerCopy
from tuimail.ui.address_suggester import AddressSuggester, load_from_store
from tuimail.ui.host import Sender, app_host
from tuimail.ui.messages import DraftSaved, OutboxQueued
from tuimail.ui.screens import identities
from tuimail.ui.screens.close_choice import CloseChoice
from tuimail.ui.screens.prompt import Confirm, LinePrompt
from tuimail.ui.screens.queueing import NotQueued, queue_message, unsaved_words
from tuimail.ui.when import WhenError, parse_when
from tuimail.ui.widgets.field_input import FieldInput
from tuimail.ui.widgets.footer import Footer

AUTOSAVE_SECONDS = 5.0  # how often a changed draft is saved locally
IDLE_UPLOAD_SECONDS = 60.0  # a saved draft unchanged this long is copied to the server


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


def _lenient_addresses(text: str) -> tuple[Address, ...]:
    """What an address field holds, unchecked: a draft keeps half-typed addresses as they are."""
    found = getaddresses([text])
    if all(name or email for name, email in found):
        return tuple(Address(name, email) for name, email in found)
    # Something did not parse (the parser then gives it up as empty): keep each entry as typed.
    kept: list[Address] = []
    for piece in (p.strip() for p in text.split(",")):
        parsed = [Address(n, e) for n, e in getaddresses([piece]) if e] if piece else []
        kept.extend(parsed or ([Address("", piece)] if piece else []))
    return tuple(kept)


class ComposerScreen(Screen[None]):
    """Write one message; ctrl+s sends (through the outbox), ctrl+g saves it as a draft, escape
    closes it (asking whether to keep what was written)."""

    # Priority bindings, and keys the text editor does not use itself (it takes ctrl+a/ctrl+e
    # for the line start and end, as shells do). A priority binding runs when its key arrives,
    # while keys typed just before it may still wait in a field's queue: `typed_first` lets
    # those land before the action reads the fields.
    BINDINGS = [
        Binding("ctrl+s", "typed_first('send')", "Send", priority=True, id="send"),
        Binding(
            "ctrl+l", "typed_first('send_later')", "Send later", priority=True, id="send-later"
        ),
        Binding(
            "ctrl+o",
            "typed_first('edit_externally')",
            "Edit in $EDITOR",
            priority=True,
            id="edit-externally",
        ),
        Binding("ctrl+t", "typed_first('attach')", "Attach", priority=True, id="attach"),
        Binding(
            "ctrl+b",
            "typed_first('remove_attachment')",
            "Drop an attachment",
            priority=True,
            id="drop-attachment",
        ),
        Binding(
            "ctrl+g", "typed_first('save_draft')", "Save draft", priority=True, id="save-draft"
        ),
        Binding("ctrl+f", "typed_first('choose_from')", "From", priority=True, id="choose-from"),
        Binding("escape", "discard", "Close", id="discard"),
        Binding("ctrl+n", "show_copies", "Cc and Bcc", priority=True, id="show-copies"),
        # Priority, so the focus moves when the key arrives: as an ordinary binding, tab is
        # handled only after it has bubbled up from the field, and keys typed right after it
        # would still go to the field it leaves.
        # The fields' own order, not the layout's: Cc and Bcc just shown (ctrl+n) have no place
        # until the next layout, and keys typed fast come before it.
        Binding("tab", "field(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "field(-1)", "Previous field", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    ComposerScreen #fields {
        grid-size: 2;
        grid-columns: 10 1fr;
        grid-rows: auto;
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
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
    ComposerScreen #from {
        padding: 0 1;
    }
    ComposerScreen #attachments {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ComposerScreen #save-state {
        display: none;
        height: auto;
        padding: 0 1;
        color: $error;
        text-style: bold;
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
        *,
        draft_id: int | None = None,
        message_id: str | None = None,
        account_id: int | None = None,
        server_copy: ServerCopy | None = None,
        autosave_seconds: float = AUTOSAVE_SECONDS,
    ) -> None:
        """`draft_id` and `message_id` reopen a stored draft (its Message-ID is kept, also when
        it is sent); `account_id` is the store account its drafts belong to (default: the
        sender's); `server_copy` is a server draft that this one replaces once saved."""
        super().__init__()
        self.sender = sender
        self.draft = draft or Draft(from_=sender.address)
        self.from_ = self.draft.from_  # the identity written as (ctrl+f chooses another)
        self.attachments: list[str] = list(self.draft.attachments)
        self.attached_messages: list[int] = list(self.draft.attached_messages)
        # Attachments kept in the store as bytes (a message taken back from the outbox).
        self.stored_parts: list[int] = list(self.draft.stored_parts)
        self.forwarded_attachments = list(self.draft.forwarded_attachments)
        self.draft_id = draft_id
        domain = sender.address.email.rpartition("@")[2]
        self.message_id = (message_id or make_message_id(domain)).strip().strip("<>")
        self.account_id = account_id
        self.server_copy = server_copy
        self.autosave_seconds = autosave_seconds
        self.autosave_timer: Timer | None = None
        self._original = self._snapshot_of(self.draft)
        self._saved = self._original  # what the store holds (or what the composer opened with)
        self._saved_at = time.monotonic()
        self._upload_asked = True  # nothing saved here yet, so nothing to copy to the server
        self._finished = False
        # Why the last save failed (a full disk): the text stays here and saving is retried.
        self.save_problem: StoreError | None = None

    @staticmethod
    def _snapshot_of(draft: Draft) -> tuple[str, ...]:
        return (
            str(draft.from_),
            _field_text(draft.to),
            _field_text(draft.cc),
            _field_text(draft.bcc),
            draft.subject,
            draft.body,
            *(f"stored:{i}" for i in draft.stored_parts),
            *draft.attachments,
            *(f"message:{i}" for i in draft.attached_messages),
            *(f"part:{m}:{i}" for m, i in draft.forwarded_attachments),
        )

    def _address_suggester(self) -> AddressSuggester:
        """Completion from the store's addresses (right arrow accepts), loaded on first use."""
        return AddressSuggester(partial(load_from_store, app_host(self.app).data_dir))

    def compose(self) -> ComposeResult:
        suggester = self._address_suggester()
        with Vertical():
            with Grid(id="fields"):
                yield Label("From")
                yield Static(Text(sanitize_line(str(self.from_))), id="from")
                yield Label("To")
                yield FieldInput(
                    _field_text(self.draft.to),
                    id="to",
                    placeholder="ann@example.org",
                    suggester=suggester,
                )
                yield Label("Cc", classes="copies")
                yield FieldInput(
                    _field_text(self.draft.cc), id="cc", suggester=suggester, classes="copies"
                )
                yield Label("Bcc", classes="copies")
                yield FieldInput(
                    _field_text(self.draft.bcc), id="bcc", suggester=suggester, classes="copies"
                )
                yield Label("Subject")
                yield FieldInput(self.draft.subject, id="subject")
            yield Static(id="attachments")
            yield TextArea(self.draft.body, id="body", soft_wrap=True, show_line_numbers=False)
        yield Static(id="save-state")
        yield Footer()

    def on_mount(self) -> None:
        self._show_attachments()
        # Cc and Bcc only when they hold something, or on ctrl+n: the body gets the rows.
        if not (self.draft.cc or self.draft.bcc):
            self.query(".copies").set(display=False)
        self.autosave_timer = self.set_interval(self.autosave_seconds, self.autosave)
        first_empty = "#to" if not self.draft.to else "#body"
        self.query_one(first_empty).focus()
        if first_empty == "#body":
            self.query_one(TextArea).move_cursor((0, 0))

    def _attachment_names(self) -> list[str]:
        """What is attached, as shown (sanitized): the parts kept in the store (taken back from
        the outbox), files, the attachments carried from a forwarded message, messages attached
        whole; in the order ctrl+b numbers them (see `_drop_attachment`)."""
        conn = app_host(self.app).conn
        names = drafts.part_names(conn, self.stored_parts)
        shown = [sanitize_line(name) or "(no name)" for name in names]
        shown += [sanitize_line(Path(p).name) for p in self.attachments]
        originals: dict[int, Sequence[AttachmentInfo] | None] = {}
        for message_id, index in self.forwarded_attachments:
            if message_id not in originals:
                raw = read.body(conn, message_id)
                originals[message_id] = parse_message(raw).attachments if raw else None
            infos = originals[message_id]
            if infos is not None and 0 <= index < len(infos):
                info = infos[index]
                shown.append(sanitize_line(info.filename) or info.content_type)
            else:
                shown.append(f"attachment {index + 1} (no longer stored)")
        for message_id in self.attached_messages:
            row = read.row(conn, message_id)
            subject = row.envelope.subject if row is not None else "(no longer stored)"
            shown.append("message: " + (sanitize_line(subject) or "(no subject)"))
        return shown

    def _show_attachments(self) -> None:
        names = ", ".join(self._attachment_names())
        shown = self.query_one("#attachments", Static)
        shown.update(Text(f"Attachments: {names}" if names else ""))
        shown.display = bool(names)  # no empty row taken from the text

    def current_draft(self, *, lenient: bool = False) -> Draft:
        """The draft as the fields now hold it. Raises AddressError for a bad address field,
        unless `lenient` (a saved draft keeps what was typed)."""
        value = {name: self.query_one(f"#{name}", Input).value for name in ("to", "cc", "bcc")}

        def addresses(name: str) -> tuple[Address, ...]:
            text = value[name.lower()]
            return _lenient_addresses(text) if lenient else parse_address_field(name, text)

        return Draft(
            from_=self.from_,
            to=addresses("To"),
            cc=addresses("Cc"),
            bcc=addresses("Bcc"),
            subject=self.query_one("#subject", Input).value,
            body=self.query_one(TextArea).text,
            attachments=tuple(self.attachments),
            in_reply_to=self.draft.in_reply_to,
            references=self.draft.references,
            attached_messages=tuple(self.attached_messages),
            stored_parts=tuple(self.stored_parts),
            forwarded_attachments=tuple(self.forwarded_attachments),
            # A message forwarded whole whose attachment was dropped is no longer forwarded.
            originals=tuple(
                (message_id, flag)
                for message_id, flag in self.draft.originals
                if message_id in self.attached_messages
                or message_id not in self.draft.attached_messages
            ),
        )

    def _state(self) -> tuple[str, ...]:
        fields = tuple(self.query_one(f"#{n}", Input).value for n in ("to", "cc", "bcc", "subject"))
        return (
            str(self.from_),
            *fields,
            self.query_one(TextArea).text,
            *(f"stored:{i}" for i in self.stored_parts),
            *self.attachments,
            *(f"message:{i}" for i in self.attached_messages),
            *(f"part:{m}:{i}" for m, i in self.forwarded_attachments),
        )

    def _changed(self) -> bool:
        """Something differs from what the composer opened with."""
        return self._state() != self._original

    # --- drafts -------------------------------------------------------------------------------

    def _store_account_id(self) -> int | None:
        if self.account_id is None:
            self.account_id = read.account_id(app_host(self.app).conn, self.sender.account)
        return self.account_id

    def save_draft(self) -> bool:
        """Save what the fields hold as this composer's draft (cheap: the store only)."""
        account_id = self._store_account_id()
        if account_id is None or self._finished:
            return False
        try:
            self.draft_id = drafts.save(
                app_host(self.app).conn,
                account_id,
                self.current_draft(lenient=True),
                message_id=self.message_id,
                draft_id=self.draft_id,
                server=self.server_copy if self.draft_id is None else None,
            )
        except Exception as exc:
            problem = failure(exc, app_host(self.app).conn)
            if problem is None:
                raise
            self._save_failed(problem)
            return False
        self._saved = self._state()
        self._saved_at = time.monotonic()
        self._upload_asked = False
        if self.save_problem is not None:
            self.save_problem = None
            state = self.query_one("#save-state", Static)
            state.update("")
            state.display = False
            self.notify("The draft is saved now.", markup=False)
        return True

    def _save_failed(self, problem: StoreError) -> None:
        """The text stays in the composer, the line above the keys says it is not saved, and a
        notice says so once (the save is tried again every few seconds and on the next key)."""
        said = self.save_problem is not None
        self.save_problem = problem
        state = self.query_one("#save-state", Static)
        words = unsaved_words(problem, "Not saved")
        state.update(Text(f"{words}. The text is kept here; saving is tried again."))
        state.display = True
        if not said:
            self.notify(
                f"{unsaved_words(problem, 'The draft could not be saved')}. What you wrote is "
                "kept here in the composer and saved as soon as it can be (tried every few "
                "seconds and on your next key): free some space.",
                severity="error",
                timeout=10,
                markup=False,
            )

    @on(TextArea.Changed)
    @on(Input.Changed)
    def _retry_save(self) -> None:
        """After a save failed for a full disk, each change tries again at once (a store locked
        by another program waits for the autosave tick: each try may wait for the lock)."""
        if isinstance(self.save_problem, StoreFullError) and not self._finished:
            self.save_draft()

    def autosave(self, now: float | None = None) -> None:
        """The timer's tick: save when something changed since the last save; once a saved
        draft has rested for IDLE_UPLOAD_SECONDS, ask the app to copy it to the server."""
        if self._finished:
            return
        if self._state() != self._saved:
            self.save_draft()
            return
        moment = time.monotonic() if now is None else now
        if not self._upload_asked and moment - self._saved_at >= IDLE_UPLOAD_SECONDS:
            self._ask_upload()

    def _ask_upload(self) -> None:
        account_id = self._store_account_id()
        if account_id is not None:
            self.app.post_message(DraftSaved(account_id))
        self._upload_asked = True

    def _finish(self) -> None:
        self._finished = True
        if self.autosave_timer is not None:
            self.autosave_timer.stop()
        self.dismiss(None)

    def action_typed_first(self, action: str) -> None:
        """Run `action_<action>` once every field has handled the keys already sent to it.

        Each field (an Input or the TextArea) handles its keys in its own message queue; a
        callback put at the end of each queue in turn runs after all of them.
        """
        fields: list[Widget] = [*self.query(Input), self.query_one(TextArea)]
        run = getattr(self, f"action_{action}")

        def after(index: int) -> None:
            if self._finished:
                return
            if index == len(fields):
                run()
            else:
                fields[index].call_later(after, index + 1)

        after(0)

    def action_field(self, step: int) -> None:
        """Focus the next (`step` 1) or previous (-1) field shown: To, Cc, Bcc, Subject, text."""
        names = ("#to", "#cc", "#bcc", "#subject", "#body")
        fields = [field for name in names if (field := self.query_one(name)).display]
        focused = self.focused
        index = fields.index(focused) + step if focused in fields else (0 if step > 0 else -1)
        self.set_focus(fields[index % len(fields)])

    def action_show_copies(self) -> None:
        """Show the Cc and Bcc fields (hidden while empty) and go to Cc."""
        self.query(".copies").set(display=True)
        # Now, not deferred (Widget.focus): keys typed right after go to Cc, as after tab.
        self.set_focus(self.query_one("#cc", Input))

    def action_save_draft(self) -> None:
        """Save the draft now and have it copied to the server."""
        if self.save_draft():
            self._ask_upload()
            self.notify("Draft saved.", markup=False)

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
        try:
            queued = queue_message(
                app_host(self.app).conn,
                draft,
                account=self.sender.account,
                smtp_server=self.sender.smtp_server,
                send_delay=self.sender.send_delay,
                message_id=self.message_id,  # a draft keeps its Message-ID when it is sent
                draft_id=self.draft_id,
                scheduled_at=scheduled_at,
            )
        except NotQueued as exc:
            self.notify(exc.words, severity="error", timeout=exc.timeout, markup=False)
            return
        self.app.post_message(OutboxQueued(queued.account_id, queued.outbox_id, queued.delay))
        if self.draft_id is not None:
            self._ask_upload()  # its server copy goes
        self._finish()

    def action_discard(self) -> None:
        """Close: with nothing written, at once (a reopened draft stays as it is); else ask
        whether to keep it as a draft or discard it (after a confirmation)."""
        if not self._changed():
            if self.draft_id is not None and not self._upload_asked:
                self._ask_upload()
            self._finish()
            return

        def confirmed(discard: bool | None) -> None:
            if not discard:
                return
            if self.draft_id is not None:
                conn = app_host(self.app).conn
                try:
                    drafts.discard(conn, self.draft_id)
                except Exception as exc:
                    problem = failure(exc, conn)
                    if problem is None:
                        raise
                    self.notify(
                        unsaved_words(problem, "The draft was not discarded"),
                        severity="error",
                        markup=False,
                    )
                    return
                self._ask_upload()  # its server copy goes
            self._finish()

        def chosen(choice: str | None) -> None:
            if choice == "keep":
                unsaved = self._state() != self._saved or self.draft_id is None
                if unsaved and not self.save_draft():
                    return
                self._ask_upload()
                self._finish()
            elif choice == "discard":
                self.app.push_screen(Confirm("Discard this message?"), confirmed)

        self.app.push_screen(CloseChoice(), chosen)

    def action_choose_from(self) -> None:
        """Write as another of the account's identities (its signature follows)."""

        def chosen(address: Address, body: str) -> None:
            self.from_ = address
            self.query_one("#from", Static).update(Text(sanitize_line(str(address))))
            if body != self.query_one(TextArea).text:
                self.query_one(TextArea).load_text(body)

        identities.choose(self, self.sender, self.from_, self.query_one(TextArea).text, chosen)

    def action_attach(self) -> None:
        def add(path: str | None) -> None:
            if not path:
                return
            file = Path(path).expanduser()
            if not file.is_file():
                self.notify(
                    f"No such file: {sanitize_line(str(file))}", severity="error", markup=False
                )
                return
            self.attachments.append(str(file))
            self._show_attachments()

        self.app.push_screen(LinePrompt("Attach the file at", placeholder="~/report.pdf"), add)

    def action_remove_attachment(self) -> None:
        """Drop an attachment: the only one at once, else the one the user names by number."""
        names = self._attachment_names()
        if len(names) <= 1:
            if names:
                self._drop_attachment(0)
            return
        choices = "  ".join(f"{number}) {name}" for number, name in enumerate(names, 1))

        def chosen(answer: str | None) -> None:
            if not answer:
                return
            if not answer.isdigit() or not 1 <= int(answer) <= len(names):
                self.notify(f"There is no attachment {answer[:20]!r}.", markup=False)
                return
            self._drop_attachment(int(answer) - 1)

        self.app.push_screen(
            LinePrompt(f"Drop which attachment? {choices}", value=str(len(names))), chosen
        )

    def _drop_attachment(self, number: int) -> None:
        """Drop attachment `number` (0-based, in the order `_attachment_names` shows)."""
        lists = (
            self.stored_parts,
            self.attachments,
            self.forwarded_attachments,
            self.attached_messages,
        )
        for kept in lists:
            if number < len(kept):
                del kept[number]
                break
            number -= len(kept)
        self._show_attachments()

    def action_edit_externally(self) -> None:
        """Suspend the app, edit the body in $VISUAL/$EDITOR, and take the result back."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        body = self.query_one(TextArea)
        path: Path | None = None
        try:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".eml.txt", delete=False, encoding="utf-8"
            ) as handle:
                path = Path(handle.name)
                handle.write(body.text)
        except OSError as exc:  # a full disk: the text stays here, no part of it is left there
            if path is not None:
                path.unlink(missing_ok=True)
            why = exc.strerror or str(exc)
            self.notify(
                f"The text could not be handed to {editor!r}: {why}. It stays here.",
                severity="error",
                markup=False,
            )
            return
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
