"""A small filesystem for the data directory, to fill the disk on purpose (a pytest plugin:
the `small_disk` fixture)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

DISK_BYTES = 4 * 1024 * 1024


class SmallDisk:
    """A tmpfs of DISK_BYTES at `path`; `fill(room)` leaves only `room` bytes free."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self, room: int) -> None:
        """Fill the file system to the last byte, then give back `room` bytes."""
        chunk = b"\0" * 4096
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    written = os.write(fd, chunk)
                except OSError:
                    break
                if written < len(chunk):
                    chunk = chunk[written:]
        finally:
            os.close(fd)
        os.truncate(self.filler, max(0, self.filler.stat().st_size - room))

    def free(self) -> None:
        """Give all the space back."""
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot mount a small tmpfs (needs root): {mounted.stderr}"
    try:
        yield SmallDisk(mountpoint)
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
