"""What the import contracts cannot see: the headless layers at run time, and where SQL lives.

The layer rules themselves (which package may import which, no import cycles, no network or UI
library below its layer) are `[tool.importlinter]` contracts in pyproject.toml, checked by
`lint-imports` in tests/run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tuimail"
HEADLESS = ("core", "config", "auth", "mail", "store", "sync")
SQL_CALLS = {"execute", "executemany", "executescript"}
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "PRAGMA ", "CREATE ", "DROP ", "ALTER ")


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_headless_layers_load_without_textual() -> None:
    modules = sorted(
        "tuimail." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for layer in HEADLESS
        for p in _modules(layer)
        if p.name != "__init__.py"
    )
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('textual', 'rich') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _sql_uses(path: Path) -> list[str]:
    """Lines of `path` that run SQL: a call of execute/executemany/executescript, or a string
    that starts like an SQL statement and is passed to a call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in SQL_CALLS:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{func.attr}()")
        for arg in node.args:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.lstrip().startswith(SQL_WORDS)
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: SQL text")
    return found


def test_sql_lives_only_in_the_store() -> None:
    """The store is the one owner of the schema: every statement is a named store function."""
    offenders = [
        use
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "store"
        for use in _sql_uses(path)
    ]
    assert not offenders, "SQL outside tuimail/store/:\n" + "\n".join(offenders)


def test_the_sql_scan_sees_a_statement() -> None:
    """The scan above would catch the shapes it is meant to catch."""
    sample = PACKAGE / "store" / "db.py"
    assert _sql_uses(sample), "tuimail/store/db.py runs SQL; the scan must see it"
