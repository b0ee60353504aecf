"""The browser command for a message's HTML (`ui.browse.browser_commands`)."""

from __future__ import annotations

import sys

from tuimail.ui.browse import browser_commands


def test_the_configured_browser_comes_first() -> None:
    assert browser_commands('firefox --new-tab "%s"', {"BROWSER": "lynx"}) == [
        ["firefox", "--new-tab", "%s"]
    ]


def test_browser_from_the_environment_each_tried_in_order() -> None:
    assert browser_commands(None, {"BROWSER": "chromium --incognito:firefox::"}) == [
        ["chromium", "--incognito"],
        ["firefox"],
    ]


def test_else_the_platforms_opener() -> None:
    opener = ["open"] if sys.platform == "darwin" else ["xdg-open"]
    assert browser_commands(None, {}) == [opener]
    assert browser_commands(None, {"BROWSER": ""}) == [opener]
