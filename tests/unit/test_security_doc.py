"""docs/security.md names a test for every promise: each named file and test function exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
# `unit/x.py`, `unit/x.py::test_name`, or `…::test_name` (the file of the reference before it).
REFERENCE = re.compile(r"`((?:…|[\w/]+\.py))(?:::(\w+))?[^`]*`")


def references() -> list[tuple[str, str | None]]:
    """(file under tests/, function or None) for every reference in the promise tables."""
    found: list[tuple[str, str | None]] = []
    last_file = ""
    for row in DOC.read_text().splitlines():
        if not row.startswith("|"):
            continue
        for file, function in REFERENCE.findall(row.split("|")[-2]):
            file = last_file if file == "…" else file
            last_file = file
            found.append((file, function or None))
    return found


def test_the_document_names_tests() -> None:
    assert len(references()) > 40


def test_every_named_test_exists() -> None:
    missing = []
    for file, function in references():
        path = ROOT / "tests" / file
        if not path.is_file():
            missing.append(file)
        elif function and not re.search(rf"^(async )?def {function}\(", path.read_text(), re.M):
            missing.append(f"{file}::{function}")
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
