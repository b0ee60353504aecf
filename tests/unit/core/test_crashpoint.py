"""The crash hook: a named step really kills the process there, and every step is documented."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuimail.core import crashpoint as crashpoint_module
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS, parse_target

ROOT = Path(__file__).resolve().parents[3]

# A tiny "engine": reports progress with unbuffered writes to a file descriptor, so the report
# shows exactly how far it got, while also leaving buffered output and exit handlers behind.
SCRIPT = textwrap.dedent(
    """
    import atexit, os, sys
    from tuimail.core.crashpoint import crashpoint

    progress = int(sys.argv[1])
    def report(text):
        os.write(progress, text.encode() + b"\\n")

    atexit.register(report, "atexit ran")
    print("buffered stdout")  # a pipe is block-buffered: lost unless flushed at exit
    try:
        report("start")
        crashpoint("demo.first")
        report("after first")
        for item in range(1, 5):
            crashpoint("demo.item")
            report(f"item {item}")
        crashpoint("demo.last")
        report("done")
    finally:
        report("finally ran")
    """
)


def run_engine(tmp_path: Path, crash_at: str | None) -> tuple[int, list[str], str]:
    """Run SCRIPT with TUIMAIL_CRASH_AT; return exit code, progress lines and stdout."""
    # Unbuffered stdio would hide the "no flush" part of the check.
    env = {
        key: value for key, value in os.environ.items() if key not in (ENV_VAR, "PYTHONUNBUFFERED")
    }
    env["PYTHONPATH"] = str(ROOT)
    if crash_at is not None:
        env[ENV_VAR] = crash_at
    progress_file = tmp_path / "progress"
    with progress_file.open("wb") as progress:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(progress.fileno())],
            pass_fds=(progress.fileno(),),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    return result.returncode, progress_file.read_text().splitlines(), result.stdout


def test_without_the_variable_every_step_passes(tmp_path: Path) -> None:
    code, progress, stdout = run_engine(tmp_path, None)
    assert code == 0
    assert progress == [
        "start",
        "after first",
        "item 1",
        "item 2",
        "item 3",
        "item 4",
        "done",
        "finally ran",
        "atexit ran",
    ]
    assert stdout == "buffered stdout\n"


def test_the_named_step_exits_at_once_with_no_cleanup(tmp_path: Path) -> None:
    code, progress, stdout = run_engine(tmp_path, "demo.first")
    assert code == CRASH_EXIT_CODE
    # Nothing after the step ran: no later step, no finally, no atexit, no stdio flush.
    assert progress == ["start"]
    assert stdout == ""


def test_a_later_step_lets_the_earlier_ones_pass(tmp_path: Path) -> None:
    code, progress, _ = run_engine(tmp_path, "demo.last")
    assert code == CRASH_EXIT_CODE
    assert progress[-1] == "item 4"
    assert "done" not in progress


def test_a_count_crashes_on_that_visit(tmp_path: Path) -> None:
    code, progress, _ = run_engine(tmp_path, "demo.item:3")
    assert code == CRASH_EXIT_CODE
    assert progress == ["start", "after first", "item 1", "item 2"]


def test_a_count_beyond_the_visits_never_fires(tmp_path: Path) -> None:
    code, progress, _ = run_engine(tmp_path, "demo.item:5")
    assert code == 0
    assert "done" in progress


def test_another_name_never_fires(tmp_path: Path) -> None:
    code, progress, _ = run_engine(tmp_path, "demo.firs")
    assert code == 0
    assert progress[-1] == "atexit ran"


def test_a_malformed_value_fails_loudly_instead_of_never_firing(tmp_path: Path) -> None:
    code, progress, _ = run_engine(tmp_path, "demo.item:0")
    assert code not in (0, CRASH_EXIT_CODE)
    assert progress == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("pop3.after_commit", ("pop3.after_commit", 1)),
        ("pop3.after_commit:3", ("pop3.after_commit", 3)),
        (" imap.after_fetch:12 ", ("imap.after_fetch", 12)),
    ],
)
def test_parse_target(value: str | None, expected: tuple[str, int] | None) -> None:
    assert parse_target(value) == expected


@pytest.mark.parametrize("value", ["step:0", "step:-1", "step:x", ":3"])
def test_parse_target_rejects_bad_counts(value: str) -> None:
    with pytest.raises(ValueError, match=ENV_VAR):
        parse_target(value)


def test_without_the_variable_the_hook_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process the variable is unset, so a call must simply return.
    monkeypatch.setattr(crashpoint_module, "_target_name", None)
    assert crashpoint_module.crashpoint("demo.first") is None


def scan_crashpoints(package: Path) -> dict[str, list[str]]:
    """Step name -> places under ``package`` that call crashpoint() with it.

    Raises ValueError for a call whose step name is not a literal string (it could not be checked).
    """
    used: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called != "crashpoint":
                continue
            place = f"{path.relative_to(package.parent)}:{node.lineno}"
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                raise ValueError(f"{place}: crashpoint() needs a literal step name")
            used.setdefault(first.value, []).append(place)
    return used


def crashpoints_documented() -> list[str]:
    """The names in the steps table of docs/crashpoints.md."""
    text = (ROOT / "docs" / "crashpoints.md").read_text()
    table = text.split("## Steps", 1)[1]
    return re.findall(r"^\|\s*`([^`]+)`\s*\|", table, re.MULTILINE)


def test_every_step_used_in_the_code_is_registered() -> None:
    used = scan_crashpoints(ROOT / "tuimail")
    unregistered = {name: places for name, places in used.items() if name not in KNOWN_CRASHPOINTS}
    assert not unregistered, f"register and document: {unregistered}"


def test_every_registered_step_is_documented_and_nothing_else() -> None:
    documented = crashpoints_documented()
    assert len(documented) == len(set(documented)), "a step is listed twice in docs/crashpoints.md"
    assert set(documented) == set(KNOWN_CRASHPOINTS)


def test_registered_steps_are_named_area_dot_step() -> None:
    for name, description in KNOWN_CRASHPOINTS.items():
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", name), name
        assert description.strip(), f"{name} needs a description"


def test_the_scan_sees_both_call_styles(tmp_path: Path) -> None:
    # Guard against a scan that silently finds nothing.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "engine.py").write_text(
        "from tuimail import crashpoint as hooks\n"
        "from tuimail.core.crashpoint import crashpoint\n"
        "hooks.crashpoint('a.b')\n"
        "crashpoint('c.d')\n"
        "crashpoint('a.b')\n"
    )
    assert scan_crashpoints(package) == {
        "a.b": ["pkg/engine.py:3", "pkg/engine.py:5"],
        "c.d": ["pkg/engine.py:4"],
    }


def test_the_scan_rejects_computed_names(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "engine.py").write_text("step = 'x'\ncrashpoint(f'pop3.{step}')\n")
    with pytest.raises(ValueError, match="literal step name"):
        scan_crashpoints(package)
