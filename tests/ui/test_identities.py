"""Identities in the app: a reply is written as the address the original was sent to, with its
signature; the composer's From picker (ctrl+f) switches From and an unchanged signature; the
outbox gets the identity as From and as the envelope sender; a missing signature file costs
the signature, not the message."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from textual.widgets import OptionList, Static, TextArea

from tests.support.list_mail import LISTS, OWN, WORK, app_for, message
from tests.support.pilot import wait_for
from tuimail.store import outbox
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.identities import IdentityPicker
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.widgets.message_list import MessageList

WORK_SIGNATURE = "-- \nAlice\nWork Example Ltd\n"


async def _press_on_message(pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    pilot.app.screen.query_one(MessageList).focus()
    await pilot.press(*keys)
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, MainScreen))


def _from_shown(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one("#from", Static).render())


async def test_a_reply_is_written_as_the_identity_in_to_with_its_signature_and_sent_so(
    tmp_path: Path,
) -> None:
    original = message("To: Friend <friend@example.org>, Alice <ALICE@Work.Example>", f"Cc: {OWN}")
    app = app_for(tmp_path, original)
    async with app.run_test(size=(120, 40)) as pilot:
        await _press_on_message(pilot, "r")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.from_.email == WORK
        assert _from_shown(app) == f"Alice Work <{WORK}>"
        body = composer.query_one(TextArea).text
        assert body.endswith("\n\n" + WORK_SIGNATURE)
        assert "> Hello." in body  # the quote, then the signature
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        (item,) = outbox.items(app.conn)
        assert item.env_from == WORK
        raw = outbox.raw_message(app.conn, item.id)
    sent = message_from_bytes(raw, policy=policy.default)
    assert sent["From"] == f"Alice Work <{WORK}>"
    assert sent.get_content().endswith("\r\n-- \r\nAlice\r\nWork Example Ltd\r\n")


async def test_delivered_to_picks_the_identity_of_a_list_message(tmp_path: Path) -> None:
    original = message("To: dev@lists.example.org", f"Delivered-To: {LISTS}")
    app = app_for(tmp_path, original)
    async with app.run_test(size=(120, 40)) as pilot:
        await _press_on_message(pilot, "r")
        assert app.screen.from_ == app.screen.from_.__class__("Me on lists", LISTS)


async def test_a_message_to_none_of_the_identities_is_answered_as_the_account(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, message("To: someone@example.org"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _press_on_message(pilot, "r")
        assert app.screen.from_.email == OWN
        assert app.screen.query_one(TextArea).text.endswith("\n\n-- \nMe at home\n")


async def test_the_from_picker_switches_from_and_an_unchanged_signature(tmp_path: Path) -> None:
    app = app_for(tmp_path, message(f"To: {OWN}"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _press_on_message(pilot, "c")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.from_.email == OWN
        assert composer.query_one(TextArea).text == "\n\n-- \nMe at home\n"
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityPicker))
        assert app.screen.query_one(OptionList).highlighted == 0  # the one written as
        await pilot.press("2")  # Alice Work
        await wait_for(pilot, lambda: app.screen is composer)
        assert composer.from_.email == WORK
        assert _from_shown(app) == f"Alice Work <{WORK}>"
        assert composer.query_one(TextArea).text == "\n\n" + WORK_SIGNATURE
        # Edited, the signature stays when From changes again.
        composer.query_one(TextArea).load_text("Hi\n\n-- \nAlice (edited)\n")
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityPicker))
        assert app.screen.query_one(OptionList).highlighted == 1
        await pilot.press("3")  # lists: no signature
        await wait_for(pilot, lambda: app.screen is composer)
        assert composer.from_.email == LISTS
        assert composer.query_one(TextArea).text == "Hi\n\n-- \nAlice (edited)\n"
        assert any("left as it is" in str(n.message) for n in app._notifications)
        # Back to the account's own address: the signature-less identity's body gets one.
        composer.query_one(TextArea).load_text("Hi")
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityPicker))
        await pilot.press("1")
        await wait_for(pilot, lambda: app.screen is composer)
        assert composer.query_one(TextArea).text == "Hi\n\n-- \nMe at home\n"
        composer.query_one("#to").value = "bob@example.org"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        (item,) = outbox.items(app.conn)
        assert item.env_from == OWN


async def test_a_missing_signature_file_costs_the_signature_not_the_message(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, message(f"To: {WORK}", body="Question?"))
    (tmp_path / "work.sig").unlink()  # after the config was loaded
    async with app.run_test(size=(120, 40)) as pilot:
        await _press_on_message(pilot, "r")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.from_.email == WORK
        body = composer.query_one(TextArea).text
        assert "> Question?" in body and "-- \n" not in body
        notices = [str(n.message) for n in app._notifications]
        assert any(str(tmp_path / "work.sig") in n and "cannot be read" in n for n in notices)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        (item,) = outbox.items(app.conn)
        assert item.env_from == WORK


async def _write_as_work(pilot) -> ComposerScreen:  # type: ignore[no-untyped-def]
    await _press_on_message(pilot, "c")
    composer = pilot.app.screen
    await pilot.press("ctrl+f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, IdentityPicker))
    await pilot.press("2")
    await wait_for(pilot, lambda: pilot.app.screen is composer)
    composer.query_one("#to").value = "bob@example.org"
    return composer


async def test_a_kept_draft_and_a_message_taken_back_stay_with_their_identity(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, message(f"To: {OWN}"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _write_as_work(pilot)
        await pilot.press("ctrl+g", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ComposerScreen))
        if not isinstance(app.screen, MainScreen):
            await pilot.press("k")  # keep it
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        app.screen.action_drafts()
        await wait_for(pilot, lambda: isinstance(app.screen, DraftsScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        assert app.screen.from_.email == WORK
        assert _from_shown(app) == f"Alice Work <{WORK}>"
        await pilot.press("ctrl+s")  # queued: it waits out the undo-send delay
        await wait_for(pilot, lambda: isinstance(app.screen, DraftsScreen | MainScreen))
        if isinstance(app.screen, DraftsScreen):
            await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OutboxScreen))
        await pilot.press("e")  # take it back
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        assert app.screen.from_.email == WORK
        assert app.screen.query_one(TextArea).text.endswith(WORK_SIGNATURE.rstrip("\n"))
        # Its signature is still the one put there: it follows a change of identity.
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityPicker))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
        assert app.screen.query_one(TextArea).text == "-- \nMe at home\n"
