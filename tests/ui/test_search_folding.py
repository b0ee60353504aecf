"""The app's search line folds like the index (issue 19): `zazolc` finds "Zażółć"; and a store
made before is brought up to date by the app in the background, after which it does too."""

from __future__ import annotations

from pathlib import Path

from tests.support.mailfactory import make_message
from tests.support.old_store import store_as_of
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.store import reindex
from tuimail.ui.widgets.message_list import MessageList

CONFIG = '[accounts.work]\naddress = "me@example.org"\n'


async def _search(pilot, app: TuimailApp, words: str) -> list[int]:  # type: ignore[no-untyped-def]
    await pilot.press("slash")
    for char in words:
        await pilot.press(char)
    await pilot.press("enter")
    await pilot.pause()
    return list(app.screen.query_one(MessageList).ids)


async def test_the_search_line_finds_words_typed_without_their_marks(tmp_path: Path) -> None:
    raws = [
        make_message(message_id="p@x", subject="Zażółć gęślą jaźń", body="w Łodzi\r\n"),
        make_message(message_id="g@x", subject="Die Straße", body="Grüße\r\n"),
        make_message(message_id="q@x", subject="plain", body="nothing\r\n"),
    ]
    polish, german, _ = store_as_of(tmp_path, 11, raws)  # entries in the older form
    app = TuimailApp(parse_config(CONFIG), tmp_path)  # workers on: the upgrade runs
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: not reindex.behind(app.conn))
        assert await _search(pilot, app, "zazolc") == [polish]
        await pilot.press("escape")
        assert await _search(pilot, app, "strasse") == [german]
        assert "1 found for 'strasse'" in app.screen.sub_title
        await pilot.press("q")
