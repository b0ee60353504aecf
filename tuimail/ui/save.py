"""Saving attachments into a directory the user chose: inside it, under safe names, never over
an existing file unless the user said so (`plan_save` says which names are taken; without
`replace` a taken name gets " (1)", " (2)", ... added). Opening one with the system's opener:
saved into a private temporary directory first."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tuimail.mail.attachments import attachment_payload, safe_filename
from tuimail.mail.parse import parse_message

MAX_TRIES = 1000


@dataclass(frozen=True, slots=True)
class SavePlan:
    """Where each attachment of a message would be saved, before anything is written."""

    directory: Path  # resolved: the real directory the files go into
    names: tuple[tuple[int, str], ...]  # (attachment index, safe file name), unique per message
    taken: tuple[str, ...]  # those names that are already files (or links) in the directory


def _split(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, f".{extension}"


def _numbered(name: str, number: int) -> str:
    stem, suffix = _split(name)
    return name if number == 0 else f"{stem} ({number}){suffix}"


def _occupied(path: Path) -> bool:
    # lexists: a link counts as taken even when it points nowhere (it is never followed).
    return os.path.lexists(path)


def _replaceable(path: Path) -> bool:
    """A name that replacing would free: a file or a link, never a directory."""
    return path.is_symlink() or (path.exists() and not path.is_dir())


def _resolve_directory(directory: Path) -> Path:
    directory = directory.expanduser().resolve(strict=True)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    return directory


def plan_save(raw: bytes, directory: Path) -> SavePlan:
    """The safe names the message's attachments get in `directory`, and which are taken.

    Two attachments of one message never get the same name (nor names differing only in
    case, which are one file on some systems). Raises OSError when the directory does not
    exist or is not a directory.
    """
    directory = _resolve_directory(directory)
    names: list[tuple[int, str]] = []
    used: set[str] = set()
    for info in parse_message(raw).attachments:
        name = safe_filename(info.filename, f"attachment-{info.index + 1}")
        for number in range(MAX_TRIES):
            candidate = _numbered(name, number)
            if candidate.casefold() not in used:
                break
        else:
            raise FileExistsError(f"too many attachments named like {name!r}")
        used.add(candidate.casefold())
        names.append((info.index, candidate))
    taken = tuple(name for _, name in names if _replaceable(directory / name))
    return SavePlan(directory, tuple(names), taken)


def _free_path(directory: Path, name: str, avoid: set[str]) -> Path:
    for number in range(MAX_TRIES):
        candidate = _numbered(name, number)
        if candidate.casefold() not in avoid and not _occupied(directory / candidate):
            return directory / candidate
    raise FileExistsError(f"too many files named like {name!r} in {directory}")


def _write_new(path: Path, payload: bytes) -> None:
    # Exclusive and not following links: never replaces a file or a link that appeared meanwhile.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)


def _write_replacing(path: Path, payload: bytes) -> None:
    """Write a new file beside `path`, then rename it over `path` (a link there is replaced
    itself; what it points to is never touched)."""
    part = path.with_name(f".tuimail-save-{secrets.token_hex(8)}")
    _write_new(part, payload)
    try:
        os.replace(part, path)
    except OSError:
        part.unlink(missing_ok=True)
        raise


def save_attachments(raw: bytes, directory: Path, *, replace: bool = False) -> list[Path]:
    """Write every attachment of the message into `directory`; returns the files written.

    A name already taken gets a number added ("report (1).pdf"), or with `replace` (the user
    confirmed it) the file or link of that name is replaced; a directory is never replaced.
    Raises OSError (e.g. the directory does not exist or is not writable).
    """
    plan = plan_save(raw, directory)
    directory = plan.directory
    written: list[Path] = []
    chosen = {name.casefold() for _, name in plan.names}
    for index, name in plan.names:
        payload = attachment_payload(raw, index)
        if payload is None:
            continue
        target = directory / name
        replacing = replace and _replaceable(target)
        if not replacing:  # the planned name, or a free one near it
            avoid = (chosen - {name.casefold()}) | {path.name.casefold() for path in written}
            target = _free_path(directory, name, avoid)
        if target.parent != directory:  # cannot happen with a safe name; never write elsewhere
            raise PermissionError(f"refusing to write outside {directory}")
        (_write_replacing if replacing else _write_new)(target, payload)
        written.append(target)
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
    _write_new(path, payload)
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
