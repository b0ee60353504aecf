"""The main screen's actions on a message's attachments: save them into a directory (a, asking
where, whether to create it and whether to replace what is there) and open one with the
system's opener (O). The whole message is downloaded first when only its text is local.
Also opening the message's HTML part in a web browser (v; V with remote content).
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.screen import Screen

from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.browse import write_for_browser
from tuimail.ui.host import app_host
from tuimail.ui.messages import OpenWanted
from tuimail.ui.save import plan_save, save_attachments, save_for_opening
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.prompt import Confirm, LinePrompt


def _why_not(exc: OSError, directory: Path) -> str:
    """Why saving into `directory` failed, in words (not "[Errno 2] ...")."""
    shown = sanitize_line(str(directory))
    if isinstance(exc, FileNotFoundError):
        return f"the directory {shown} does not exist"
    if isinstance(exc, NotADirectoryError):
        return f"{shown} is not a directory"
    if isinstance(exc, PermissionError):
        return f"no permission to write into {shown}"
    where = f" ({sanitize_line(exc.filename)})" if isinstance(exc.filename, str) else ""
    return sanitize_line(exc.strerror or str(exc)).lower() + where


def save_all(screen: Screen[None], waits: BodyWaits, row: read.MessageRow) -> None:
    """Ask for a directory and save the message's attachments there (downloading the
    whole message first when only its text is local)."""
    listed = waits.attachments_of(row)
    if listed is None:
        return
    if not listed:
        screen.notify("This message has no attachments.", markup=False)
        return
    downloads = Path("~/Downloads").expanduser()
    default = "~/Downloads" if downloads.is_dir() else "~"

    def save(directory: str | None) -> None:
        if directory:
            waits.with_whole_body(row, lambda raw: save_into(raw, directory))

    def save_into(raw: bytes, directory: str) -> None:
        path = Path(directory).expanduser()
        if not os.path.lexists(path):
            shown = sanitize_line(str(path))
            screen.app.push_screen(
                Confirm(f"The directory {shown} does not exist. Create it and save there?"),
                lambda yes: create_and_save(raw, directory) if yes else not_created(path),
            )
            return
        try:
            plan = plan_save(raw, path)
        except OSError as exc:
            screen.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
            return
        if not plan.taken:
            write(raw, directory, replace=False)
            return
        taken = ", ".join(sanitize_line(name) for name in plan.taken)
        question = (
            f"Already in {sanitize_line(str(plan.directory))}: {taken}. Replace? "
            "(No: save under new names, the old files stay as they are.)"
        )
        # No is focused: enter keeps the old files (the README's promise).
        screen.app.push_screen(
            Confirm(question, default=False),
            lambda yes: write(raw, directory, replace=bool(yes)),
        )

    def not_created(path: Path) -> None:
        shown = sanitize_line(str(path))
        screen.notify(f"Not saved: the directory {shown} does not exist.", markup=False)

    def create_and_save(raw: bytes, directory: str) -> None:
        path = Path(directory).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            screen.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
            return
        save_into(raw, directory)

    def write(raw: bytes, directory: str, *, replace: bool) -> None:
        path = Path(directory).expanduser()
        try:
            written = save_attachments(raw, path, replace=replace)
        except OSError as exc:
            screen.notify(f"Not saved: {_why_not(exc, path)}", severity="error", markup=False)
            return
        names = ", ".join(sanitize_line(p.name) for p in written)
        screen.notify(f"Saved to {sanitize_line(str(Path(directory).expanduser()))}: {names}",
                      markup=False)  # fmt: skip

    count = len(listed)
    screen.app.push_screen(
        LinePrompt(f"Save {count} attachment(s) into the directory", value=default), save
    )


def open_one(screen: Screen[None], waits: BodyWaits, row: read.MessageRow) -> None:
    """Open an attachment with the system's opener (asking which one when there are
    several); it is saved into a private temporary directory first."""
    listed = waits.attachments_of(row)
    if listed is None:
        return
    if not listed:
        screen.notify("This message has no attachments.", markup=False)
        return

    def open_index(raw: bytes, index: int) -> None:
        try:
            path = save_for_opening(raw, index)
        except (LookupError, OSError) as exc:
            screen.notify(f"Not opened: {exc}", severity="error", markup=False)
            return
        screen.post_message(OpenWanted(path))

    if len(listed) == 1:
        waits.with_whole_body(row, lambda raw: open_index(raw, 0))
        return
    choices = "  ".join(
        f"{number}) {sanitize_line(item.info.filename) or item.info.content_type}"
        for number, item in enumerate(listed, 1)
    )

    def chosen(answer: str | None) -> None:
        if not answer:
            return
        if not answer.isdigit() or not 1 <= int(answer) <= len(listed):
            screen.notify(f"There is no attachment {answer[:20]!r}.", markup=False)
            return
        index = int(answer) - 1
        waits.with_whole_body(row, lambda raw: open_index(raw, index))

    screen.app.push_screen(LinePrompt(f"Open which attachment? {choices}", value="1"), chosen)


def open_html(
    screen: Screen[None], waits: BodyWaits, row: read.MessageRow, *, remote: bool
) -> None:
    """Open the message's HTML part in the web browser, written to a private file first;
    remote content (images, stylesheets) stays blocked unless `remote`."""
    raw = waits.text_of(row)  # the text is enough: the HTML part is part of it
    if raw is None:
        waits.say_not_here_yet()
        return
    try:
        path = write_for_browser(raw, remote=remote)
    except LookupError:
        screen.notify("This message has no HTML part to open in a browser.", markup=False)
        return
    except OSError as exc:
        screen.notify(f"Not opened: {sanitize_line(str(exc))}", severity="error", markup=False)
        return
    # The key as configured ([keys] open-html-remote), W unless changed.
    key = str(app_host(screen.app).config.keys.get("open-html-remote", "W"))
    loads = "with its remote content" if remote else f"remote content blocked ({key} allows it)"
    screen.notify(f"Opening the message in the browser, {loads}.", markup=False)
    screen.post_message(OpenWanted(path, browser=True))
