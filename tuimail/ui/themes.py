"""Themes: shipped ones from themes/*.toml and the user's from <config dir>/tuimail/themes/.

A theme file is TOML with `name` and the colours of a `textual.theme.Theme`. A broken user theme
is reported (one message listing every problem) and skipped; the app falls back to the default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "tuimail-dark"
# The app's own theme variables (used in tuimail.tcss and the widgets), with the values a theme
# that does not set them gets. A theme file sets them in its [variables] table.
APP_VARIABLE_DEFAULTS: dict[str, str] = {
    "unread": "#ffffff",
    "flagged": "#d7af5f",
    "selection": "#005f87",
    "marked": "#5f005f",  # the background of lines marked to act on together
    "quote-1": "#87afaf",
    "quote-2": "#af87af",
    "quote-3": "#87af87",
}
_COLOUR_KEYS = (
    "primary", "secondary", "accent", "foreground", "background", "surface", "panel",
    "success", "warning", "error", "boost",
)  # fmt: skip


@dataclass
class LoadedThemes:
    """The themes that loaded, and one line per file that did not."""

    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def shipped_theme_dir() -> Path:
    """Where the shipped themes are: inside the installed package, or the source tree's themes/."""
    package = Path(__file__).resolve().parents[1]  # tuimail/
    installed = package / "themes"
    return installed if installed.is_dir() else package.parent / "themes"


def load_theme_file(path: Path) -> Theme:
    """Read one theme file; ValueError says what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from None
    name = data.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f'{path}: needs a name = "..."')
    dark = data.pop("dark", True)
    variables = data.pop("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValueError(f"{path}: [variables] must hold colours as strings")
    unknown_variables = sorted(set(variables) - set(APP_VARIABLE_DEFAULTS))
    if unknown_variables:
        raise ValueError(
            f"{path}: unknown variables {', '.join(unknown_variables)} "
            f"(known: {', '.join(APP_VARIABLE_DEFAULTS)})"
        )
    unknown = sorted(set(data) - set(_COLOUR_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(unknown)}")
    if "primary" not in data or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f'{path}: needs primary = "#rrggbb" and colours as strings')
    for key, value in {**data, **variables}.items():
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{path}: {key} = {value!r} is not a colour") from None
    try:
        return Theme(name=name, dark=bool(dark), variables=variables, **data)
    except Exception as exc:  # Textual validates colours with its own errors
        raise ValueError(f"{path}: {exc}") from None


def load_themes(user_dir: Path | None = None) -> LoadedThemes:
    """Shipped themes, then the user's (a user theme may replace a shipped one by name)."""
    loaded = LoadedThemes()
    directories = [shipped_theme_dir()] + ([user_dir] if user_dir else [])
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                loaded.themes.append(load_theme_file(path))
            except ValueError as exc:
                loaded.problems.append(str(exc))
    return loaded
