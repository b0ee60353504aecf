"""Opening the app on a store made by an older version says first that the store is being
brought up to date (schema 13 rebuilds the search index once, which for a large store takes a
while, and the app's screen would stay blank meanwhile); a current store opens without it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.support.mailfactory import make_message
from tests.support.old_store import store_as_of
from tuimail.cli.app import cmd_app
from tuimail.config.load import parse_config
from tuimail.store import db

NOTICE = "bringing the store up to date"


def _open(data: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    opened: list[Path] = []
    monkeypatch.setattr(
        "tuimail.app.application.run_app", lambda config, directory, **_: opened.append(directory)
    )
    args = argparse.Namespace(mailto=None, data_dir=str(data), offline=True)
    cmd_app(args, parse_config(""))
    return opened


def test_an_older_store_is_announced_before_the_app_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_as_of(tmp_path / "old", 12, [make_message(message_id="a@x")])
    assert db.needs_upgrade(tmp_path / "old")
    assert _open(tmp_path / "old", monkeypatch) == [tmp_path / "old"]
    assert NOTICE in capsys.readouterr().err


def test_a_current_or_missing_store_opens_without_a_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db.open_store(tmp_path / "current").close()
    (tmp_path / "junk").mkdir()
    db.store_path(tmp_path / "junk").write_bytes(b"not a database")
    for name in ("current", "missing", "junk"):
        assert not db.needs_upgrade(tmp_path / name)
        _open(tmp_path / name, monkeypatch)
    assert NOTICE not in capsys.readouterr().err
