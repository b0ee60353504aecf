"""Mailing-list keys in the app: `l` replies to the list (List-Post), `p` to the sender alone
past a Reply-To the list set to itself, `r` honours Reply-To; the message view shows
List-Unsubscribe, and ctrl+u acts on it only after a question naming the target: mailto: opens
the composer prefilled, https: with RFC 8058 one-click is one POST made by the app (against a
local HTTPS server with the test CA), https: without it only opens the browser."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from textual.widgets import Static, TextArea

from tests.support.ca import CertificateAuthority
from tests.support.http_server import Answer, web_server
from tests.support.list_mail import LISTS, OWN, app_for, message
from tests.support.pilot import wait_for
from tuimail.core.model import Address
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList

LIST_FIELDS = (
    "To: Developers <dev@lists.example.org>",
    "Reply-To: Developers <dev@lists.example.org>",
    f"Delivered-To: {LISTS}",
    "Subject: [dev] release notes",
    "List-Id: Developers <dev.lists.example.org>",
    "List-Post: <mailto:dev@lists.example.org>",
)
MAILTO_UNSUBSCRIBE = (
    "List-Unsubscribe: "
    "<mailto:dev-leave@lists.example.org?subject=leave%20dev&body=unsubscribe%20me>"
)


def _notices(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


async def _on_message(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    pilot.app.screen.query_one(MessageList).focus()
    await pilot.pause()


async def _answer(pilot, key: str) -> ComposerScreen:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ComposerScreen))
    return pilot.app.screen


async def _close(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ComposerScreen))
    if not isinstance(pilot.app.screen, MainScreen):
        await pilot.press("d")  # discard
        await pilot.pause()
        await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MainScreen))


async def test_list_reply_private_reply_and_reply_go_where_mutt_sends_them(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, message(*LIST_FIELDS))
    async with app.run_test(size=(120, 40)) as pilot:
        await _on_message(pilot)
        composer = await _answer(pilot, "l")
        assert composer.query_one("#to").value == "dev@lists.example.org"
        assert composer.query_one("#cc").value == ""
        assert composer.from_.email == LISTS  # the address the message was delivered to
        assert composer.query_one("#subject").value == "Re: [dev] release notes"
        await _close(pilot)

        composer = await _answer(pilot, "p")
        assert composer.query_one("#to").value == "Carol <carol@example.org>"
        assert composer.query_one("#cc").value == ""
        assert composer.draft.in_reply_to == "plans@example.org"
        await _close(pilot)

        composer = await _answer(pilot, "r")  # Reply-To is honoured: the list
        assert composer.query_one("#to").value == "Developers <dev@lists.example.org>"
        await _close(pilot)


async def test_list_reply_on_a_message_not_from_a_list_says_so(tmp_path: Path) -> None:
    app = app_for(tmp_path, message(f"To: {OWN}"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _on_message(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: any("List-Post" in n for n in _notices(app)))
        assert isinstance(app.screen, MainScreen)


async def test_unsubscribe_by_mail_asks_naming_the_address_then_prefills_the_composer(
    tmp_path: Path,
) -> None:
    app = app_for(tmp_path, message(*LIST_FIELDS, MAILTO_UNSUBSCRIBE))
    async with app.run_test(size=(120, 40)) as pilot:
        await _on_message(pilot)
        await pilot.press("enter")
        headers = app.screen.query_one("#view-headers", Static)
        await wait_for(pilot, lambda: "Unsubscribe: mailto:dev-leave@" in str(headers.render()))
        await _on_message(pilot)
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "mailto:dev-leave@lists.example.org" in shown
        assert "nothing is sent until you send it" in shown
        await pilot.press("n")  # No: nothing happens
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        composer = await _answer(pilot, "y")
        assert composer.query_one("#to").value == "dev-leave@lists.example.org"
        assert composer.query_one("#subject").value == "leave dev"
        assert composer.query_one(TextArea).text.startswith("unsubscribe me")
        assert composer.from_ == Address("Me on lists", LISTS)  # the subscribed address


async def test_one_click_unsubscribe_is_one_https_post_made_after_yes(
    tmp_path: Path, test_ca: CertificateAuthority
) -> None:
    tls = test_ca.write_server_files(tmp_path / "tls")
    with web_server(tls.good.cert, tls.good.key) as server:
        server.serve("localhost", "/unsubscribe/dev/8f3a", Answer(b"bye", headers=()))
        uri = f"https://localhost:{server.port}/unsubscribe/dev/8f3a?u=7"
        fields = (
            *LIST_FIELDS,
            f"{MAILTO_UNSUBSCRIBE},\r\n <{uri}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        )
        app = app_for(tmp_path, message(*fields), extra=f"ca_file = {json.dumps(str(tls.ca_file))}")
        async with app.run_test(size=(120, 40)) as pilot:
            await _on_message(pilot)
            await pilot.press("ctrl+u")
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
            shown = " ".join(str(s.render()) for s in app.screen.query(Static))
            assert "one click" in shown and f"localhost:{server.port}/unsubscribe" in shown
            assert server.posts == []  # nothing before the answer
            await pilot.press("y")
            await wait_for(pilot, lambda: any(n.startswith("Unsubscribed") for n in _notices(app)))
        ((host, path, headers, body),) = server.posts
        assert (host, path, body) == (
            "localhost",
            "/unsubscribe/dev/8f3a?u=7",
            b"List-Unsubscribe=One-Click",
        )
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert not {"Cookie", "Authorization", "Referer"} & set(headers)


async def test_one_click_to_a_server_with_an_untrusted_certificate_is_not_done(
    tmp_path: Path, test_ca: CertificateAuthority
) -> None:
    tls = test_ca.write_server_files(tmp_path / "tls")
    with web_server(tls.good.cert, tls.good.key) as server:
        uri = f"https://localhost:{server.port}/u"
        fields = (
            *LIST_FIELDS,
            f"List-Unsubscribe: <{uri}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        )
        app = app_for(tmp_path, message(*fields))  # no ca_file: the test CA is not trusted
        async with app.run_test(size=(120, 40)) as pilot:
            await _on_message(pilot)
            await pilot.press("ctrl+u")
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
            await wait_for(
                pilot, lambda: any(n.startswith("Not unsubscribed") for n in _notices(app))
            )
        assert server.posts == []
        assert any("certificate" in n for n in _notices(app))


async def test_an_https_link_without_one_click_only_opens_in_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", f"{browser} %s")
    fields = (*LIST_FIELDS, "List-Unsubscribe: <https://lists.example.org/leave?id=5>")
    app = app_for(tmp_path, message(*fields))
    async with app.run_test(size=(120, 40)) as pilot:
        await _on_message(pilot)
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "opens in your browser" in shown and "lists.example.org/leave?id=5" in shown
        await pilot.press("y")
        await wait_for(pilot, lambda: opened.exists() and opened.read_text() != "", seconds=10)
    assert opened.read_text() == "https://lists.example.org/leave?id=5\n"


async def test_offline_the_mailto_way_out_comes_before_one_click(tmp_path: Path) -> None:
    fields = (
        *LIST_FIELDS,
        f"{MAILTO_UNSUBSCRIBE},\r\n <https://lists.example.org/u/1>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    )
    app = app_for(tmp_path, message(*fields), offline=True)  # as with --offline
    async with app.run_test(size=(120, 40)) as pilot:
        await _on_message(pilot)
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "by mail to mailto:dev-leave@lists.example.org" in shown
        composer = await _answer(pilot, "y")
        assert composer.query_one("#to").value == "dev-leave@lists.example.org"
