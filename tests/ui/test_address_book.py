"""Address books in the composer: vCard directories and the address book command complete To,
Cc and Bcc after the store's addresses; a failing book or command is reported, never fatal."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.support.demo_app import DemoStore
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.config.schema import ConfigError
from tuimail.mail.formats.addressbook import Contact
from tuimail.store.addresses import KnownAddress
from tuimail.ui.address_suggester import AddressSuggester, BookCommand, merged

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = Path(__file__).resolve().parents[1] / "unit" / "mail" / "formats" / "contacts"
ACCOUNT = """
[accounts.demo]
address = "you@demo.invalid"
[accounts.demo.smtp]
host = "127.0.0.1"
port = 9
security = "none"
"""


def known(name: str, email: str) -> KnownAddress:
    return KnownAddress(name=name, email=email, written_to=1, received_from=0, last_seen=0)


def _app(data: Path, compose: str) -> TuimailApp:
    """The app on the demo store in `data` (a `demo_store` copy)."""
    config = parse_config(ACCOUNT + "[compose]\n" + compose)
    return TuimailApp(config, data, clock=lambda: NOW, start_workers=False)


async def _suggestion_for(pilot, text: str) -> str:
    """Type `text` into To of a new message and wait (boundedly) for the suggestion."""
    await pilot.press("c")
    await pilot.pause()
    to = pilot.app.screen.query_one("#to", Input)
    to.focus()
    await pilot.press(*text)
    for _ in range(100):  # candidates load in threads; a command runs in one
        await pilot.pause(0.05)
        if to._suggestion:
            break
    return to._suggestion


# --- merging and the command contract in the suggester -------------------------------------


def test_each_address_is_offered_once_store_first() -> None:
    store = [known("Carol S.", "carol@example.org")]
    book = [Contact("Carol Smith", "Carol@Example.org"), Contact("Dan", "dan@example.org")]
    assert merged(store, book) == [store[0], book[1]]


def test_store_then_books_then_the_command(tmp_path: Path) -> None:
    asked = tmp_path / "asked"
    script = (
        f"echo \"$1\" >> {asked}; printf 'carl@cmd.example\\tCarl Cmd\\nann@example.org\\tX\\n'"
    )
    reports: list[str] = []
    suggester = AddressSuggester(
        lambda: [known("Ann Store", "ann@example.org")],
        books=[CONTACTS / "personal"],
        command=BookCommand(script + " # %s"),
        report=reports.append,
    )

    async def run() -> list[str | None]:
        return [
            await suggester.get_suggestion("an"),  # the store
            await suggester.get_suggestion("car"),  # a book (carol), not the command
            await suggester.get_suggestion("carl"),  # only the command has it
            await suggester.get_suggestion("carl@"),  # its answer for "carl" is reused
            await suggester.get_suggestion("x@y.org, zzz"),
        ]

    assert asyncio.run(run()) == [
        "Ann Store <ann@example.org>",
        "Carol Smith <carol@example.org>",
        "Carl Cmd <carl@cmd.example>",
        "carl@cmd.example",
        None,
    ]
    assert asked.read_text().splitlines() == ["carl", "zzz"]
    assert reports == []


def test_a_failing_command_is_reported_once_and_asked_no_more(tmp_path: Path) -> None:
    asked = tmp_path / "asked"
    reports: list[str] = []
    suggester = AddressSuggester(
        list,
        command=BookCommand(f"echo x >> {asked}; echo 'ldap: \x1b[31mdown' >&2; exit 4"),
        report=reports.append,
    )

    async def run() -> list[str | None]:
        return [await suggester.get_suggestion(text) for text in ("a", "b", "c")]

    assert asyncio.run(run()) == [None, None, None]
    assert reports == ["address_book_command failed with exit status 4: ldap: down"]
    assert asked.read_text() == "x\n"


def test_a_hanging_command_times_out_without_a_suggestion(tmp_path: Path) -> None:
    reports: list[str] = []
    suggester = AddressSuggester(
        list, command=BookCommand("sleep 30; : %s", timeout=0.3), report=reports.append
    )
    assert asyncio.run(suggester.get_suggestion("ann")) is None
    assert reports == ["address_book_command did not finish within 0.3 s"]


def test_a_missing_book_is_reported_and_the_others_still_complete(tmp_path: Path) -> None:
    reports: list[str] = []
    suggester = AddressSuggester(
        list, books=[tmp_path / "gone", CONTACTS / "work"], report=reports.append
    )
    assert asyncio.run(suggester.get_suggestion("dan.s")) == "dan.smith@example.org"
    assert len(reports) == 1 and "gone: No such file or directory" in reports[0]


def test_compose_keys_are_checked(tmp_path: Path) -> None:
    config = parse_config(
        '[compose]\naddress_books = ["~/.contacts", "/srv/book.vcf"]\n'
        'address_book_command = "khard email --parsable %s"\n'
        "address_book_skip_first_line = true\n"
    )
    assert config.compose.address_books == (Path.home() / ".contacts", Path("/srv/book.vcf"))
    assert config.compose.address_book_command == "khard email --parsable %s"
    assert config.compose.address_book_skip_first_line is True
    with pytest.raises(ConfigError, match=r"compose\.address_books: must be an array of strings"):
        parse_config('[compose]\naddress_books = "~/.contacts"\n')
    with pytest.raises(ConfigError, match=r"compose\.address_book: unknown key"):
        parse_config('[compose]\naddress_book = ["x"]\n')


# --- in the composer ---------------------------------------------------------------------


async def test_typing_completes_from_a_vcard_directory(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    books = tmp_path / "contacts"
    shutil.copytree(CONTACTS, books)
    app = _app(demo_store(tmp_path / "data"), f"address_books = [{json.dumps(str(books))}]\n")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        # A name with RFC 5322 specials is quoted, so it completes from the quote on.
        label = '"Jürgen Müller (Büro)" <juergen@example.de>'
        assert await _suggestion_for(pilot, '"Jürg') == label
        await pilot.press("right")
        assert app.screen.query_one("#to", Input).value == label


async def test_typing_completes_from_the_address_book_command(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    asked = tmp_path / "asked"
    script = tmp_path / "query"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> {asked}\n'
        'echo "Searching ... 1 entry"\n'
        "printf 'zed@example.org\\tZed \\033]0;x\\007Zebra\\tfriends\\n'\n"
    )
    script.chmod(0o755)
    app = _app(
        demo_store(tmp_path / "data"),
        f"address_book_command = {json.dumps(str(script) + ' %s')}\n"
        "address_book_skip_first_line = true\n",
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert await _suggestion_for(pilot, "Zed") == "Zed Zebra <zed@example.org>"
        await pilot.press("right")
        assert app.screen.query_one("#to", Input).value == "Zed Zebra <zed@example.org>"
    # One question for the start of the address (the store answered a shorter start).
    (question,) = asked.read_text().splitlines()
    assert "Zed".startswith(question)


async def test_a_failing_command_shows_a_notice_in_the_composer(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    app = _app(demo_store(tmp_path / "data"), 'address_book_command = "echo broken >&2; exit 9"\n')
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        to = app.screen.query_one("#to", Input)
        to.focus()
        await pilot.press(*"qqq")
        for _ in range(100):  # the command runs in a thread
            await pilot.pause(0.05)
            if app._notifications:
                break
        texts = [str(n.message) for n in app._notifications]
        assert texts == ["address_book_command failed with exit status 9: broken"]
        assert not to._suggestion and to.value == "qqq"  # still composing
