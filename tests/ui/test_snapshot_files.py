"""Every SVG under tests/ui/__snapshots__ belongs to a test that still exists.

syrupy fails a run on a snapshot no test uses only when the run is one process: split over
workers (tests/run), no worker sees all of a module's tests, so it leaves that check out. A test
renamed or removed would otherwise leave its old SVG behind, looked at by no one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "ui" / "__snapshots__"


def test_every_snapshot_file_has_its_test() -> None:
    files = sorted(SNAPSHOTS.glob("*/*.svg"))
    modules = sorted({f"tests/ui/{path.parent.name}.py" for path in files})
    assert files and all((ROOT / module).is_file() for module in modules), modules
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    # "tests/ui/test_snapshots.py::test_main_screen[tuimail-dark]" -> (module, test name)
    tests = {
        (Path(module).stem, name)
        for module, _, name in (
            line.partition("::") for line in collected.stdout.splitlines() if "::" in line
        )
    }
    # A test's second snapshot is "<name>.1.svg", its third "<name>.2.svg", ...
    unused = [
        path.relative_to(ROOT).as_posix()
        for path in files
        if (path.parent.name, re.sub(r"\.\d+$", "", path.stem)) not in tests
    ]
    assert unused == [], "snapshots no test takes (run the test with --snapshot-update)"
