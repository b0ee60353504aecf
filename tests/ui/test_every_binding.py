"""Every key of every screen, pressed on a populated store: the app keeps running.

The cases are built from the screens' (and widgets', and the app's) BINDINGS, so a new binding is
pressed here without anyone adding it; a new screen class fails
`test_every_screen_is_pressed_here` until it gets an opener below. `run_test` raises when the
app had an exception, so a key whose action crashes fails its case.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.screen import Screen

from tests.support.demo_app import DEMO_SENDER_CONFIG, NOW, DemoStore
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import Address, Draft
from tuimail.mail.compose import compose
from tuimail.store import drafts, outbox, outbox_history, read
from tuimail.store.db import open_store
from tuimail.ui import screens
from tuimail.ui.screens.composer import CloseChoice, ComposerScreen
from tuimail.ui.screens.drafts import DraftsScreen
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.health import HealthScreen
from tuimail.ui.screens.help import HelpScreen
from tuimail.ui.screens.link_picker import LinkPicker
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import Confirm, LinePrompt
from tuimail.ui.screens.setup import AccountSetupScreen
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.pager import Pager

CONFIG = '[ui]\nopener = "true"\n' + DEMO_SENDER_CONFIG

Opener = Callable[..., Awaitable[None]]


async def _main(pilot) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(pilot.app.screen, MainScreen)


async def _message_list(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.screen.query_one(MessageList).focus()
    await pilot.pause()


async def _message_view(pilot) -> None:  # type: ignore[no-untyped-def]
    await _message_list(pilot)
    await pilot.press("j", "enter")  # the demo's newsletter: it has a link
    await pilot.pause()
    assert isinstance(pilot.app.focused, Pager)


async def _link_picker(pilot) -> None:  # type: ignore[no-untyped-def]
    await _message_view(pilot)
    await pilot.press("L")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LinkPicker)


async def _outbox(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("o")
    await pilot.pause()
    assert isinstance(pilot.app.screen, OutboxScreen)


async def _confirm(pilot) -> None:  # type: ignore[no-untyped-def]
    await _outbox(pilot)
    await pilot.press("x")
    await pilot.pause()
    assert isinstance(pilot.app.screen, Confirm)


async def _drafts(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.screen.action_drafts()
    await pilot.pause()
    assert isinstance(pilot.app.screen, DraftsScreen)


async def _health(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("H")
    await pilot.pause()
    assert isinstance(pilot.app.screen, HealthScreen)


async def _help(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("question_mark")
    await pilot.pause()
    assert isinstance(pilot.app.screen, HelpScreen)


async def _composer(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ComposerScreen)
    await pilot.press(*"bob@example.org", "tab", "tab", "tab", *"keys", "tab", *"Hello.")
    await pilot.pause()


async def _close_choice(pilot) -> None:  # type: ignore[no-untyped-def]
    await _composer(pilot)
    await pilot.press("escape")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CloseChoice)


async def _line_prompt(pilot) -> None:  # type: ignore[no-untyped-def]
    await _composer(pilot)
    await pilot.press("ctrl+t")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LinePrompt)


async def _folder_picker(pilot) -> None:  # type: ignore[no-untyped-def]
    await _message_list(pilot)
    await pilot.press("s")
    await pilot.pause()
    assert isinstance(pilot.app.screen, FolderPicker)


async def _setup(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("A")
    await pilot.pause()
    assert isinstance(pilot.app.screen, AccountSetupScreen)


# Where each set of bindings is pressed: (name, whose BINDINGS, how to get there).
PLACES: list[tuple[str, type, Opener]] = [
    ("app", TuimailApp, _main),
    ("main", MainScreen, _main),
    ("message-list", MessageList, _message_list),
    ("message-view", Pager, _message_view),
    ("link-picker", LinkPicker, _link_picker),
    ("outbox", OutboxScreen, _outbox),
    ("confirm", Confirm, _confirm),
    ("drafts", DraftsScreen, _drafts),
    ("health", HealthScreen, _health),
    ("help", HelpScreen, _help),
    ("composer", ComposerScreen, _composer),
    ("close-choice", CloseChoice, _close_choice),
    ("line-prompt", LinePrompt, _line_prompt),
    ("folder-picker", FolderPicker, _folder_picker),
    ("setup", AccountSetupScreen, _setup),
]


def _keys(owner: type) -> Iterator[tuple[str, str]]:
    """(key, action) for every key of the class's own BINDINGS (a binding may name several)."""
    for binding in owner.__dict__.get("BINDINGS", []):
        if isinstance(binding, Binding):
            keys, action = binding.key, binding.action
        else:
            keys, action = binding[0], binding[1]
        for key in keys.split(","):
            yield key.strip(), action


CASES = [
    pytest.param(opener, key, action, id=f"{name}-{key}")
    for name, owner, opener in PLACES
    for key, action in _keys(owner)
]


def test_every_screen_is_pressed_here() -> None:
    """Every Screen class of tuimail/ui/screens has a place above (a new one fails here)."""
    pressed = {owner for _, owner, _ in PLACES}
    found = set()
    for path in Path(screens.__file__).parent.glob("*.py"):
        module = importlib.import_module(f"tuimail.ui.screens.{path.stem}")
        found |= {
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls)
            and issubclass(cls, Screen)
            and cls.__module__ == module.__name__
        }
    assert found, "no screens found"
    # A base class of a screen pressed here (the main screen's reading keys, apart from it)
    # has its keys pressed through that screen.
    found = {cls for cls in found if not any(issubclass(owner, cls) for owner in pressed)}
    assert found <= pressed, f"screens without a place here: {found - pressed}"
    assert len(CASES) > 60


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory, demo_store: DemoStore) -> Path:
    """The demo store, with outbox items in every state the outbox shows (the first, under the
    cursor, unknown) and a local draft."""
    data = tmp_path_factory.mktemp("populated") / "data"
    demo_store(data)
    conn = open_store(data)
    try:
        account_id = read.account_id(conn, "demo")
        assert account_id is not None
        me = Address("Demo User", "you@demo.invalid")
        later = datetime.now(UTC) + timedelta(hours=1)
        for number, state in enumerate(("unknown", "failed", "queued")):
            draft = Draft(from_=me, to=(Address("", "bob@example.org"),), subject=state)
            message_id = f"keys-{number}@demo.invalid"
            item = outbox.enqueue(
                conn,
                account_id,
                compose(draft, message_id=message_id),
                message_id=message_id,
                env_from=me.email,
                env_rcpts=["bob@example.org"],
                not_before=None if state != "queued" else later,
            )
            if state != "queued":
                outbox.begin_sending(conn, item)
            if state == "unknown":
                outbox.mark_data_end(conn, item)
                outbox.mark_unknown(conn, item, "no reply after the final dot")
            elif state == "failed":
                outbox.mark_failed(conn, item, "550 no such user")
        drafts.save(
            conn,
            account_id,
            Draft(from_=me, to=(Address("", "ann@example.org"),), subject="a draft"),
            message_id="keys-draft@demo.invalid",
        )
    finally:
        conn.close()
    return data


@pytest.mark.parametrize(("opener", "key", "action"), CASES)
async def test_the_key_leaves_the_app_running(
    populated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opener: Opener,
    key: str,
    action: str,
) -> None:
    monkeypatch.setenv("VISUAL", "true")
    monkeypatch.setenv("BROWSER", "true")  # a link chosen opens nothing
    monkeypatch.setenv("TUIMAIL_CONFIG", str(tmp_path / "config.toml"))
    data = tmp_path / "data"
    shutil.copytree(populated, data)
    app = TuimailApp(parse_config(CONFIG), data, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await opener(pilot)
        await pilot.press(key)
        await pilot.pause()
        await pilot.pause()
        if action == "app.quit":
            assert app.return_code == 0
        else:
            assert app.is_running, f"{key} ({action}) ended the app"


async def test_s_in_the_outbox_records_an_unknown_message_as_sent(
    populated: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(populated, data)
    app = TuimailApp(parse_config(CONFIG), data, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _outbox(pilot)
        (unknown,) = outbox.items(app.conn, states=[outbox.OutboxState.UNKNOWN])
        await pilot.press("s")
        await pilot.pause()
        item = outbox.get(app.conn, unknown.id)
        assert item is not None and item.state is outbox.OutboxState.SENT
        assert (
            outbox_history.history(app.conn, unknown.id)[-1].from_state
            is outbox.OutboxState.UNKNOWN
        )
