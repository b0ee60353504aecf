"""A message's HTML part for a web browser: written to a private file, opened without a shell.

The file is the HTML rewritten by `mail.html_offline` (remote content blocked unless asked
for), in a directory only the user can enter (0700, made once per run in the system's temporary
directory, removed when tuimail ends; one left by a tuimail that was killed is removed by the
next one that writes such a file), readable only by the user (0600). The browser is
`[ui] browser`, else `$BROWSER` (a ":"-separated list, tried in order, "%s" standing for the
file), else the platform's opener; it is started in its own session with no terminal, and not
waited for once it runs.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from tuimail.mail.attachments import inline_images
from tuimail.mail.html_offline import browser_html
from tuimail.mail.parse import parse_message

STARTUP_WAIT = 3.0  # seconds a browser command may take to fail before it counts as started

_directory: Path | None = None
_numbers = itertools.count(1)
_lock = threading.Lock()


PREFIX = "tuimail-html-"  # then the process id, "-", and mkdtemp's random part


def _private_directory() -> Path:
    """This run's directory for HTML files (0700), removed with its files when tuimail ends."""
    global _directory
    with _lock:
        if _directory is None or not _directory.is_dir():
            remove_left_behind()
            # mode 0700; the process id tells a later run whether its owner still runs
            _directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            atexit.register(shutil.rmtree, _directory, ignore_errors=True)
        return _directory


def remove_left_behind() -> list[Path]:
    """Remove the HTML directories of this user's tuimail runs that ended without removing
    theirs (killed: atexit did not run); returns them. A directory whose process still runs,
    or that is another user's, stays."""
    removed: list[Path] = []
    try:
        entries = list(Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"))
    except OSError:
        return removed
    for entry in entries:
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue  # an older run's name, without its process id
        try:
            if entry.is_symlink() or entry.lstat().st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
            continue  # its run goes on
        except ProcessLookupError:
            pass
        except (PermissionError, OSError, OverflowError):
            continue  # another user's process, or not to be asked
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def html_part(raw: bytes) -> str | None:
    """The text of the message's first HTML part, or None when it has none."""
    parsed = parse_message(raw)
    for part in parsed.text_parts:
        if part.content_type == "text/html":
            return part.text
    return None


def write_for_browser(raw: bytes, *, remote: bool = False) -> Path:
    """Write the message's HTML, rewritten for a browser, to a new private file; its path.

    Raises LookupError when the message has no HTML part, OSError when writing fails.
    """
    markup = html_part(raw)
    if markup is None:
        raise LookupError("this message has no HTML part")
    html = browser_html(markup, remote=remote, images=inline_images(raw))
    data = html.encode("utf-8", "replace")
    name = f"message-{next(_numbers)}{'-remote' if remote else ''}.html"
    path = _private_directory() / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def browser_commands(configured: str | None, environ: Mapping[str, str]) -> list[list[str]]:
    """The commands to try, in order: `[ui] browser`, else each of `$BROWSER`'s, else the
    platform's opener (`open` on macOS, `xdg-open` elsewhere)."""
    candidates = [configured] if configured else environ.get("BROWSER", "").split(":")
    commands = []
    for candidate in candidates:
        try:
            words = shlex.split(candidate)
        except ValueError:  # unbalanced quotes: take the words as they are
            words = candidate.split()
        if words:
            commands.append(words)
    return commands or [["open"] if sys.platform == "darwin" else ["xdg-open"]]


def run_browser(commands: list[list[str]], path: Path) -> str | None:
    """Start the first browser command that works on `path` (blocking up to STARTUP_WAIT: call
    it from a worker); None when one started, else why none did, in words for the user."""
    problems = []
    for command in commands:
        argv = [word.replace("%s", str(path)) for word in command]
        if argv == command:
            argv.append(str(path))
        try:
            # The user's own configured command (or $BROWSER), on a file written here.
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError:
            problems.append(f"{command[0]!r} is not installed")
            continue
        except OSError as exc:
            problems.append(f"running {command[0]!r} failed: {exc.strerror or exc}")
            continue
        try:
            status = process.wait(timeout=STARTUP_WAIT)
        except subprocess.TimeoutExpired:  # still running: a browser window, most likely
            threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
            return None
        if status == 0:
            return None
        problems.append(f"{command[0]!r} failed (exit status {status})")
    return (
        f"cannot open the message in a browser: {'; '.join(problems)}. Set browser in [ui] "
        'of the config (e.g. browser = "firefox") or $BROWSER'
    )
