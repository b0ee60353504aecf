"""Themes: the shipped ones load with the app's variables; broken user themes are reported."""

from __future__ import annotations

from pathlib import Path

from tuimail.ui.format import body_text, quote_depth
from tuimail.ui.themes import APP_VARIABLE_DEFAULTS, DEFAULT_THEME, load_themes


def test_shipped_themes_load_with_every_app_variable() -> None:
    loaded = load_themes()
    assert loaded.problems == []
    names = {theme.name for theme in loaded.themes}
    assert {DEFAULT_THEME, "tuimail-light", "tuimail-high-contrast", "tuimail-paper"} <= names
    assert {t.dark for t in loaded.themes} == {True, False}
    for theme in loaded.themes:
        assert set(theme.variables) == set(APP_VARIABLE_DEFAULTS), theme.name


def test_broken_user_themes_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    (tmp_path / "bad-toml.toml").write_text("name = \n")
    (tmp_path / "no-primary.toml").write_text('name = "x"\n')
    (tmp_path / "bad-colour.toml").write_text('name = "y"\nprimary = "not a colour"\n')
    (tmp_path / "bad-var.toml").write_text(
        'name = "z"\nprimary = "#123456"\n[variables]\nunred = "#fff"\n'
    )
    loaded = load_themes(tmp_path)
    assert "mine" in {t.name for t in loaded.themes}
    assert len(loaded.problems) == 4
    assert any("unknown variables unred" in p for p in loaded.problems)
    assert all(str(tmp_path) in p for p in loaded.problems)


def test_quote_depth_and_colours() -> None:
    assert quote_depth("> a") == 1
    assert quote_depth("> > b") == 2
    assert quote_depth(">>> c") == 3
    assert quote_depth("plain > not") == 0
    text = body_text("hello\n> one\n>> two\n", ["red", "green"])
    styles = [str(span.style) for span in text.spans]
    assert styles == ["red", "green"]
    assert text.plain == "hello\n> one\n>> two\n"
