"""Saving attachments into a directory the user chose: inside it, under safe names, never over
an existing file (a taken name gets " (1)", " (2)", ... added)."""

from __future__ import annotations

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
