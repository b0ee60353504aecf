"""Snapshots of the message list's conversation tree and of the conversation reader (SVGs in
__snapshots__/). When the screen changes on purpose, regenerate with `pytest
tests/ui/test_list_snapshots.py --snapshot-update` and look at every changed SVG first."""

from __future__ import annotations

from pathlib import Path

from tests.support.list_view_mail import NOW, list_store
from tuimail.app.application import TuimailApp
from tuimail.app.demo import demo_config


def _app(data_dir: Path) -> TuimailApp:
    list_store(data_dir)
    return TuimailApp(
        demo_config(), data_dir, title="tuimail demo", clock=lambda: NOW, start_workers=False
    )


def test_open_conversation_tree(tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path), press=["t", "z"], terminal_size=(120, 30))


def test_conversation_reader(tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path), press=["t", "enter"], terminal_size=(120, 40))


def test_sorted_by_size_smallest_first(tmp_path: Path, snap_compare) -> None:
    assert snap_compare(_app(tmp_path), press=["S", "S", "S", "I"], terminal_size=(120, 30))
