"""The command line on an account whose server puts every folder under a personal namespace
prefix (`INBOX.` on Cyrus and Courier): folders are named as the app shows them ("Lists.dev")
or by their full server name ("INBOX.Lists.dev"), and `list` prints the name shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.app.notify import news_for
from tuimail.cli.main import main
from tuimail.core.model import FolderRole, Protocol
from tuimail.mail.corpus import MailGenerator
from tuimail.mail.formats.export import read_mboxrd
from tuimail.store import write
from tuimail.store.db import open_store
from tuimail.store.ingest import store_message


class Store:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.config = root / "config.toml"
        self.config.write_text("")
        self.lists_id = 0

    def args(self, *args: str) -> list[str]:
        return [*args, "--config", str(self.config), "--data-dir", str(self.data)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """IMAP account `cyrus` (prefix "INBOX.", "." between levels): INBOX, INBOX.Lists.dev with
    three messages, INBOX.Archive."""
    built = Store(tmp_path)
    conn = open_store(built.data)
    try:
        cyrus = write.ensure_account(conn, "cyrus", Protocol.IMAP)
        write.set_folder_prefix(conn, cyrus, "INBOX.")
        write.upsert_folder(conn, cyrus, "INBOX", delimiter=".", role=FolderRole.INBOX)
        lists = write.upsert_folder(conn, cyrus, "INBOX.Lists.dev", delimiter=".")
        write.upsert_folder(conn, cyrus, "INBOX.Archive", delimiter=".")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        generator = MailGenerator(3, "you@example.org")
        for number, generated in enumerate(
            generator.messages("Lists", 3, start, start + timedelta(days=3)), start=1
        ):
            store_message(conn, lists, raw=generated.raw, uid=number)
        built.lists_id = lists
    finally:
        conn.close()
    return built


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_list_prints_the_names_the_app_shows(store: Store, capsys) -> None:
    assert main(store.args("list")) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "cyrus/INBOX",
        "cyrus/Archive",
        "cyrus/Lists.dev",
    ]
    assert main(store.args("list", "cyrus", "--json")) == 0
    records = _records(capsys.readouterr().out)
    assert [(r["folder"], r["display_name"]) for r in records] == [
        ("INBOX", "INBOX"),
        ("INBOX.Archive", "Archive"),
        ("INBOX.Lists.dev", "Lists.dev"),
    ]


@pytest.mark.parametrize("name", ["Lists.dev", "INBOX.Lists.dev", "Lists/dev"])
def test_a_folder_is_named_as_shown_or_in_full(store: Store, capsys, name: str) -> None:
    assert main(store.args("list", f"cyrus/{name}", "--json")) == 0
    records = _records(capsys.readouterr().out)
    assert len(records) == 3 and {r["folder"] for r in records} == {"INBOX.Lists.dev"}
    assert main(store.args("search", "from:example", "--folder", f"cyrus/{name}")) == 0
    out = capsys.readouterr().out
    assert main(store.args("search", "from:example", "--folder", "cyrus/INBOX.Lists.dev")) == 0
    assert out == capsys.readouterr().out
    mbox = store.data.parent / f"{name.replace('/', '_')}.mbox"
    assert main(store.args("export", f"cyrus/{name}", "--mbox", str(mbox))) == 0
    assert "cyrus/Lists.dev: 3 messages exported" in capsys.readouterr().out
    with mbox.open("rb") as file:
        assert len(list(read_mboxrd(file))) == 3


def test_search_across_folders_shows_the_name_shown(store: Store, capsys) -> None:
    assert main(store.args("search", "from:example")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("cyrus/Lists.dev" in line for line in lines)


def test_an_unknown_folder_lists_and_suggests_the_names_shown(store: Store, capsys) -> None:
    assert main(store.args("list", "cyrus/lists.dev")) == 2
    err = capsys.readouterr().err
    assert "did you mean 'cyrus/Lists.dev'?" in err
    assert "folders: INBOX, Archive, Lists.dev" in err


def test_notify_folders_patterns_match_the_name_shown(store: Store) -> None:
    for patterns in (["Lists.*"], ["INBOX.Lists.*"], ["Lists/dev"]):
        news = news_for(store.data, "cyrus", store.lists_id, 1, patterns)
        assert news is not None, patterns
        assert news.folder == "Lists.dev"
    assert news_for(store.data, "cyrus", store.lists_id, 1, ["INBOX"]) is None
