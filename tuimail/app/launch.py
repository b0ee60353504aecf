"""Starting a program for the user from a worker thread: the system's opener on a saved
attachment, the browser on a message's HTML. A failure becomes a notice; nothing waits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.message import Message

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
