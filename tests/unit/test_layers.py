"""Layer boundaries from docs/architecture.md, checked on the real import graph and the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tuimail"
NETWORK_AND_SECRETS = {"imapclient", "poplib", "aiosmtplib", "smtplib", "socket", "keyring", "ssl"}
UI_LIBRARIES = {"textual", "rich"}


def _imports(path: Path) -> set[str]:
    """Top-level module names and tuimail submodules imported anywhere in `path`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_ui_never_touches_the_network_or_secrets() -> None:
    for path in _modules("ui"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in NETWORK_AND_SECRETS, f"{path.name} imports {name}"
            assert not name.startswith(("tuimail.sync", "tuimail.auth.secrets")), (
                f"{path.name} imports {name}"
            )


def test_engines_store_and_mail_never_import_the_ui() -> None:
    for layer in ("sync", "store", "mail"):
        for path in _modules(layer):
            for name in _imports(path):
                assert name.split(".")[0] not in UI_LIBRARIES, f"{layer}/{path.name}: {name}"
                assert not name.startswith(("tuimail.ui", "tuimail.app")), (
                    f"{layer}/{path.name}: {name}"
                )


def test_store_and_mail_never_open_sockets() -> None:
    for layer in ("store", "mail"):
        for path in _modules(layer):
            for name in _imports(path):
                assert name.split(".")[0] not in NETWORK_AND_SECRETS - {"ssl"}, (
                    f"{layer}/{path.name}: {name}"
                )


def test_headless_layers_load_without_textual() -> None:
    modules = sorted(
        "tuimail." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for layer in ("sync", "store", "mail")
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
