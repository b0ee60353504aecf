"""Saving attachments into a directory the user chose: inside it, under safe names, never over
an existing file (a taken name gets " (1)", " (2)", ... added). Opening one with the system's
opener: saved into a private temporary directory first."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from tuimail.mail.attachments import attachment_payload, safe_filename
from tuimail.mail.parse import parse_message

MAX_TRIES = 1000


def _free_path(directory: Path, name: str) -> Path:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    for number in range(MAX_TRIES):
        candidate = directory / (name if number == 0 else f"{stem} ({number}){suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"too many files named like {name!r} in {directory}")


def save_attachments(raw: bytes, directory: Path) -> list[Path]:
    """Write every attachment of the message into `directory`; returns the files written.

    Raises OSError (e.g. the directory does not exist or is not writable).
    """
    directory = directory.expanduser().resolve(strict=True)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    written: list[Path] = []
    for info in parse_message(raw).attachments:
        payload = attachment_payload(raw, info.index)
        if payload is None:
            continue
        name = safe_filename(info.filename, f"attachment-{info.index + 1}")
        path = _free_path(directory, name)
        if path.parent != directory:  # cannot happen with a safe name; never write elsewhere
            raise PermissionError(f"refusing to write outside {directory}")
        with path.open("xb") as handle:  # exclusive: never replaces a file that appeared meanwhile
            handle.write(payload)
        written.append(path)
    return written


def save_for_opening(raw: bytes, index: int) -> Path:
    """Write attachment `index` of a message into a new private directory (0700, in the
    system's temporary directory) under a safe name, for the system's opener; returns the file.

    The directory stays after the app ends: a viewer may still be reading the file.
    Raises LookupError when the message has no such attachment, OSError when writing fails.
    """
    parsed = parse_message(raw)
    payload = attachment_payload(raw, index)
    if payload is None:
        raise LookupError(f"the message has no attachment {index + 1}")
    info = parsed.attachments[index]
    directory = Path(tempfile.mkdtemp(prefix="tuimail-open-"))  # mode 0700, a fresh name
    path = directory / safe_filename(info.filename, f"attachment-{index + 1}")
    with path.open("xb") as handle:
        handle.write(payload)
    path.chmod(0o600)
    return path


def opener_command(configured: str | None) -> list[str]:
    """The command that opens a file: `[ui] opener` split like a shell would, else the
    platform's own (`open` on macOS, `xdg-open` elsewhere)."""
    if configured:
        try:
            command = shlex.split(configured)
        except ValueError:  # unbalanced quotes: take the words as they are
            command = configured.split()
        if command:
            return command
    return ["open"] if sys.platform == "darwin" else ["xdg-open"]


def run_opener(command: list[str], path: Path) -> str | None:
    """Run the opener on `path` (blocking: call it from a worker); None when it worked, else
    why not, in words for the user.

    The opener gets no terminal: its input and output are /dev/null, in its own session, so it
    can neither draw over the app nor be stopped by the app's keys.
    """
    try:
        # The user's own configured command, on a file written here.
        done = subprocess.run(
            [*command, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )
    except FileNotFoundError:
        return (
            f"cannot open {path.name}: the opener {command[0]!r} is not installed; "
            'set opener in [ui] of the config (e.g. opener = "xdg-open")'
        )
    except OSError as exc:
        return f"cannot open {path.name}: running {command[0]!r} failed: {exc.strerror or exc}"
    if done.returncode != 0:
        return f"cannot open {path.name}: {command[0]!r} failed (exit status {done.returncode})"
    return None
