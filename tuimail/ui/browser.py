"""Opening a link of a message in the user's browser: `$BROWSER`, else the platform's opener.

tuimail never fetches the link itself: it hands the address to the browser as one argument,
without a shell, and does not wait for it. The browser gets no terminal (its input and output are
/dev/null, in its own session), so it can neither draw over the app nor be stopped by its keys.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping


def browser_commands(environ: Mapping[str, str]) -> list[list[str]]:
    """The commands to try, in order: each entry of `$BROWSER` (separated by ':', split like a
    shell would, '%s' standing for the link), then `xdg-open` (`open` on macOS)."""
    commands: list[list[str]] = []
    for entry in environ.get("BROWSER", "").split(os.pathsep):
        try:
            words = shlex.split(entry)
        except ValueError:  # unbalanced quotes: take the words as they are
            words = entry.split()
        if words:
            commands.append(words)
    commands.append(["open"] if sys.platform == "darwin" else ["xdg-open"])
    return commands


def _with_link(command: list[str], link: str) -> list[str]:
    if any("%s" in word for word in command):
        return [word.replace("%s", link) for word in command]
    return [*command, link]


def open_link(
    link: str,
    environ: Mapping[str, str] | None = None,
    on_failure: Callable[[str], object] | None = None,
) -> str | None:
    """Start the browser on `link` (an http or https address) and return at once: None when a
    browser started, else why not, in words. `on_failure` is called from another thread with
    words for the user when the browser that started exits with a failure status."""
    if not link.lower().startswith(("http://", "https://")):
        return f"not opened: {link[:60]!r} is not a web address"
    tried: list[str] = []
    for command in browser_commands(os.environ if environ is None else environ):
        try:
            process = subprocess.Popen(  # the user's own browser command, no shell
                _with_link(command, link),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:  # not installed (or not runnable): the next one
            tried.append(command[0])
            continue
        # Reaped by a thread of its own, so that the browser never becomes a zombie and a
        # failure can still be told.
        threading.Thread(target=_wait, args=(process, command[0], on_failure), daemon=True).start()
        return None
    names = ", ".join(repr(name) for name in tried)
    return f"no browser could be started (tried {names}): set $BROWSER"


def _wait(
    process: subprocess.Popen[bytes], name: str, on_failure: Callable[[str], object] | None
) -> None:
    status = process.wait()
    if status != 0 and on_failure is not None:
        on_failure(f"the browser {name!r} failed (exit status {status})")
