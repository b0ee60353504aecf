"""Where tuimail keeps its configuration and its data.

Configuration: `--config PATH`, else `$TUIMAIL_CONFIG`, else `<XDG config dir>/tuimail/config.toml`.
Data (the SQLite store, locks): `--data-dir DIR`, else `$TUIMAIL_DATA_DIR`, else
`<XDG data dir>/tuimail/`.

Private directories: every directory tuimail creates is 0700, missing parents included (as the
XDG base directory specification asks). A directory tuimail keeps its own files in (the data
directory, its `locks/`, the config file's directory when tuimail writes the config) is tightened
to 0700 when it already exists with group or other permissions, unless it is not tuimail's to
change: the home directory, the root directory, a shared sticky directory such as /tmp, or one
owned by another user. Those keep their mode; the files in them are 0600 regardless.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

# platformdirs is imported where a default location is looked up: with --config and --data-dir
# (or their environment variables) a short command does not load it (tempfile, shutil, ...).

APP_NAME = "tuimail"
CONFIG_ENV = "TUIMAIL_CONFIG"
DATA_DIR_ENV = "TUIMAIL_DATA_DIR"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    """The config file to read, and whether the user named it (then it must exist)."""

    path: Path
    explicit: bool


def config_location(cli_value: str | os.PathLike[str] | None = None) -> ConfigLocation:
    """Resolve the config file from the command line, the environment, or the XDG default."""
    if cli_value:
        return ConfigLocation(Path(cli_value).expanduser(), explicit=True)
    env_value = os.environ.get(CONFIG_ENV)
    if env_value:
        return ConfigLocation(Path(env_value).expanduser(), explicit=True)
    import platformdirs

    default = platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"
    return ConfigLocation(default, explicit=False)


def data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data directory from the command line, the environment, or the XDG default."""
    if cli_value:
        return Path(cli_value).expanduser()
    env_value = os.environ.get(DATA_DIR_ENV)
    if env_value:
        return Path(env_value).expanduser()
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def private_dir(path: str | os.PathLike[str], *, tighten: bool = True) -> Path:
    """Make sure `path` is a directory only its owner can use, and return it.

    Missing directories, parents included, are created 0700. With `tighten`, an existing `path`
    with group or other permissions is changed to 0700 unless it is not tuimail's to change
    (see the module docstring); parents that already exist are never changed.
    """
    path = Path(path)
    missing: list[Path] = []
    candidate = path
    while not os.path.lexists(candidate) and candidate.parent != candidate:
        missing.append(candidate)
        candidate = candidate.parent
    for directory in reversed(missing):
        # The umask can only take bits away from 0700. A directory another process made
        # meanwhile is fine: it is checked below like any.
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=PRIVATE_DIR_MODE)
    if tighten:
        tighten_dir(path)
    return path


def tighten_dir(path: Path) -> None:
    """Take group and other permissions away from the directory `path`, if it is tuimail's."""
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{path} is not a directory")
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    reason = _not_ours(path, info)
    if reason:
        log.info("leaving the mode of %s as it is (%o): %s", path, mode, reason)
        return
    try:
        os.chmod(path, mode & PRIVATE_DIR_MODE)
    except OSError as exc:  # e.g. a file system without modes: the files are 0600 anyway
        log.warning("could not make %s private (mode %o): %s", path, mode, exc.strerror)


def _not_ours(path: Path, info: os.stat_result) -> str | None:
    """Why the directory `path` must keep its mode, or None when tuimail may tighten it."""
    if info.st_uid != os.geteuid():
        return "it belongs to another user"
    if info.st_mode & stat.S_ISVTX:
        return "it is a shared directory (sticky bit)"
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "it is the root directory"
    homes: set[Path] = set()
    with contextlib.suppress(RuntimeError):  # no HOME and no passwd entry
        homes.add(Path.home())
    with contextlib.suppress(KeyError):  # a user without a passwd entry (some containers)
        homes.add(Path(pwd.getpwuid(os.geteuid()).pw_dir))
    if any(resolved == home.resolve() for home in homes):
        return "it is the home directory"
    return None


def tighten_file(fd: int) -> None:
    """Make the regular file open at `fd` 0600 when it has group or other permissions (a file
    that predates tuimail's care, or was copied); device files and other users' files keep theirs.
    """
    info = os.fstat(fd)
    if (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == os.geteuid()
        and stat.S_IMODE(info.st_mode) & 0o077
    ):
        os.fchmod(fd, PRIVATE_FILE_MODE)


def user_files_dirs(data: Path) -> list[Path]:
    """Where a file for the user (a screenshot) may go, best first: the Downloads directory,
    the home directory, then tuimail's data directory (which exists, or is created 0700)."""
    import platformdirs

    candidates: list[Path] = []
    with contextlib.suppress(Exception):  # platformdirs reads user-dirs.dirs; never fatal
        candidates.append(platformdirs.user_downloads_path())
    with contextlib.suppress(RuntimeError):  # no HOME and no passwd entry
        candidates.append(Path.home())
    candidates.append(data)
    return list(dict.fromkeys(candidates))


def write_private_file(directories: list[Path], name: str, data: bytes) -> Path:
    """Write `data` as a new file `name` (mode 0600, never over an existing file or through a
    link) into the first of `directories` where that works; returns its path. A directory that
    does not exist is passed over, except the last, which is created 0700. Raises the last
    OSError when none worked."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    problem: OSError | None = None
    for number, directory in enumerate(directories):
        if number == len(directories) - 1:
            try:
                private_dir(directory, tighten=False)
            except OSError as exc:
                problem = exc
                continue
        if not directory.is_dir():
            continue
        for attempt in range(100):
            candidate = name if attempt == 0 else f"{stem} ({attempt}){dot}{suffix}"
            path = directory / candidate
            try:
                fd = os.open(
                    path,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                    PRIVATE_FILE_MODE,
                )
            except FileExistsError:
                continue
            except OSError as exc:
                problem = exc
                break
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            except OSError as exc:
                path.unlink(missing_ok=True)
                problem = exc
                break
            return path
    raise problem or FileNotFoundError(f"no directory to write {name} into")
