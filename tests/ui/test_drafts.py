"""Drafts in the app: autosave while typing, close with keep / discard, the Drafts view (reopen,
discard), sending a draft, editing a message of a Drafts folder, and forward as attachment. No
network: the app's workers are off and the demo account has no IMAP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, TextArea

from tests.support.demo_app import DemoStore, demo_app
from tuimail.app.application import TuimailApp
from tuimail.core.model import FolderRole
from tuimail.mail.parse import parse_message
from tuimail.store import drafts, outbox, read
from tuimail.ui.screens.composer import CloseChoice, ComposerScreen
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList


@pytest.fixture
def app(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    return demo_app(demo_store(tmp_path / "data"))


async def _type(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    if isinstance(widget, TextArea):
        widget.load_text(text)
    else:
        widget.value = text
    await pilot.pause()


def _composer(app: TuimailApp) -> ComposerScreen:
    assert isinstance(app.screen, ComposerScreen)
    return app.screen


def _folder_entries(app: TuimailApp) -> list[str]:
    folders = app.screen.query_one("#folders", OptionList)
    return [str(folders.get_option_at_index(i).prompt) for i in range(folders.option_count)]


async def test_autosave_keeps_one_draft_up_to_date_while_typing(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        composer = _composer(app)
        assert composer.autosave_timer is not None  # the timer that calls autosave()
        composer.autosave()
        assert drafts.live(app.conn) == []  # nothing written, nothing saved
        await _type(pilot, "#to", "Ann <ann@example.org>, half@")
        await _type(pilot, "#subject", "plans")
        composer.autosave()
        (saved,) = drafts.live(app.conn)
        assert saved.draft.subject == "plans" and saved.upload_needed
        assert saved.message_id == composer.message_id
        # A half-typed address is kept as typed.
        assert [a.email for a in saved.draft.to] == ["ann@example.org", "half@"]
        revision = saved.revision
        composer.autosave()  # unchanged: no write
        (same,) = drafts.live(app.conn)
        assert same.revision == revision
        await _type(pilot, "#body", "More text.\n")
        composer.autosave()
        (updated,) = drafts.live(app.conn)
        assert updated.id == saved.id and updated.draft.body == "More text.\n"


async def test_close_keep_then_reopen_restores_every_field_and_send_removes_it(
    app: TuimailApp, tmp_path: Path
) -> None:
    attachment = tmp_path / "notes.txt"
    attachment.write_text("notes\n")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("down", "down")  # the message from Søren
        await pilot.press("r")
        await pilot.pause()
        composer = _composer(app)
        reply_to = composer.draft.in_reply_to
        assert reply_to
        message_id = composer.message_id
        composer.attachments.append(str(attachment))
        await _type(pilot, "#bcc", "secret@example.net")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CloseChoice)
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (kept,) = drafts.live(app.conn)
        assert kept.message_id == message_id
        assert "  Drafts 1" in _folder_entries(app)

        app.screen.action_drafts()  # type: ignore[attr-defined]
        await pilot.pause()
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("enter")
        await pilot.pause()
        composer = _composer(app)
        assert composer.draft_id == kept.id and composer.message_id == message_id
        assert composer.query_one("#to", Input).value == "Søren Berg <soren@example.org>"
        assert composer.query_one("#bcc", Input).value == "secret@example.net"
        assert composer.query_one("#subject", Input).value.startswith("Re: Rapport")
        assert "> Hallo," in composer.query_one(TextArea).text
        assert composer.attachments == [str(attachment)]
        assert composer.draft.in_reply_to == reply_to and composer.draft.references

        await pilot.press("ctrl+s")
        await pilot.pause()
        (item,) = outbox.items(app.conn)
        assert item.message_id == message_id  # the sent message keeps the draft's Message-ID
        raw = outbox.raw_message(app.conn, item.id)
        assert parse_message(raw).envelope.in_reply_to == reply_to
        assert drafts.live(app.conn) == []
        assert drafts.get(app.conn, kept.id) is None  # it never had a server copy


async def test_close_discard_asks_and_deletes_the_autosaved_draft(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await _type(pilot, "#subject", "throw away")
        _composer(app).autosave()
        assert len(drafts.live(app.conn)) == 1
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # go on writing
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("escape", "d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert drafts.live(app.conn) == []


async def test_the_drafts_view_discards_after_confirmation(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await _type(pilot, "#subject", "for later")
        await pilot.press("ctrl+g")  # save draft
        await pilot.pause()
        assert len(drafts.live(app.conn)) == 1
        await pilot.press("escape")  # nothing changed since it opened? it did: asks
        await pilot.pause()
        await pilot.press("k")
        await pilot.pause()
        folders = app.screen.query_one("#folders", OptionList)
        folders.focus()
        folders.highlighted = _folder_entries(app).index("  Drafts 1")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert len(drafts.live(app.conn)) == 1
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert drafts.live(app.conn) == []
        await pilot.press("escape")
        await pilot.pause()
        assert "  Drafts" in _folder_entries(app), "the local Drafts entry, no count left"


async def test_forward_as_attachment_opens_the_composer_with_the_original(
    app: TuimailApp,
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        messages.focus()
        await pilot.press("down", "down")
        row = read.row(app.conn, messages.current_message_id)  # type: ignore[arg-type]
        assert row is not None
        original = read.body(app.conn, row.id)
        assert original is not None
        await pilot.press("ctrl+f")
        await pilot.pause()
        composer = _composer(app)
        assert composer.attached_messages == [row.id]
        assert composer.query_one("#subject", Input).value.startswith("Fwd: Rapport")
        assert composer.query_one(TextArea).text == ""
        assert "message: Rapport" in str(composer.query_one("#attachments").render())
        await _type(pilot, "#to", "carol@example.org")
        await pilot.press("ctrl+s")
        await pilot.pause()
        (item,) = outbox.items(app.conn)
        raw = outbox.raw_message(app.conn, item.id)
        assert b"Content-Type: message/rfc822" in raw
        assert original.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") in raw


async def test_a_message_of_the_drafts_folder_is_edited_as_a_new_draft(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        folder = next(f for f in read.folders(app.conn) if f.role is FolderRole.DRAFTS)
        main.show_place((folder.id,))
        await pilot.pause()
        messages = main.query_one(MessageList)
        messages.focus()
        row = read.row(app.conn, messages.current_message_id)  # type: ignore[arg-type]
        assert row is not None
        await pilot.press("e")
        await pilot.pause()
        composer = _composer(app)
        assert composer.query_one("#subject", Input).value == row.envelope.subject
        if row.envelope.message_id:
            assert composer.message_id == row.envelope.message_id
        await _type(pilot, "#body", "edited here\n")
        composer.autosave()
        (saved,) = drafts.live(app.conn)
        assert saved.draft.body == "edited here\n"
        assert saved.draft.subject == row.envelope.subject


async def test_e_outside_a_drafts_folder_only_explains(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.screen.query_one(MessageList).focus()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert drafts.live(app.conn) == []
