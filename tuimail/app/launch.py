"""Starting a program for the user from a worker thread: the system's opener on a saved
attachment, the browser on a message's HTML (a failure becomes a notice; nothing waits); and
saving a screenshot of the app where the user keeps files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.message import Message

from tuimail.core.paths import user_files_dirs, write_private_file
from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.browse import run_browser
from tuimail.ui.messages import UserNotice
from tuimail.ui.save import run_opener


def open_in_thread(post: Callable[[Message], object], command: list[str], path: Path) -> None:
    """Worker thread: run the opener on `path`; a failure is posted as a notice."""
    problem = run_opener(command, path)
    if problem is not None:
        post(UserNotice(sanitize_line(problem), title="Open", error=True))


def browse_in_thread(
    post: Callable[[Message], object], commands: list[list[str]], path: Path
) -> None:
    """Worker thread: start the browser on a message's HTML; a failure is posted as a notice."""
    problem = run_browser(commands, path)
    if problem is not None:
        post(UserNotice(sanitize_line(problem), title="Browser", error=True))


def save_screenshot(
    svg: str, data_dir: Path, filename: str | None, path: str | None, time_format: str | None
) -> tuple[Path | None, str | None]:
    """Save `svg` into `path`, else the Downloads directory, else the home directory, else the
    data directory: a new file, mode 0600, never over another. (where, None) or (None, why not
    in words)."""
    stamp = datetime.now().strftime(time_format or "%Y-%m-%dT%H_%M_%S")
    name = filename or f"tuimail_{stamp}.svg"
    directories = [Path(path).expanduser()] if path else user_files_dirs(data_dir)
    try:
        return write_private_file(directories, name, svg.encode()), None
    except OSError as exc:
        return None, f"The screenshot was not saved: {exc.strerror or exc}"
