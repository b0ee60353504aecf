"""Importing the IMAP engine gives imapclient its version without `importlib.metadata`
(tuimail/sync/imap/__init__.py), and the version is the one the package metadata names."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path


def _python(code: str, *, path: Path | None = None) -> str:
    env_path = [] if path is None else [str(path)]
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = {env_path!r}\n{code}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def test_the_version_is_the_metadata_s_and_the_metadata_is_not_loaded() -> None:
    printed = _python(
        "import tuimail.sync.imap, imapclient\n"
        "print(repr((imapclient.__version__, imapclient.version_info,"
        " 'importlib.metadata' in sys.modules)))"
    )
    version, version_info, metadata_loaded = ast.literal_eval(printed)
    assert version == importlib.metadata.version("imapclient")
    # What imapclient's own version module makes of it, in a process that imports it alone.
    alone = ast.literal_eval(_python("import imapclient; print(repr(imapclient.version_info))"))
    assert version_info == alone
    assert not metadata_loaded


def test_a_version_imapclient_would_not_read_as_a_release_is_left_to_imapclient(
    tmp_path: Path,
) -> None:
    """A package whose directory name does not give three numbers (a pre-release, two
    installs side by side) is imported as usual: its own version module runs."""
    package = tmp_path / "imapclient"
    package.mkdir()
    (package / "__init__.py").write_text("from .version import version as __version__\n")
    (package / "version.py").write_text("version = 'read by imapclient'\n")
    (tmp_path / "imapclient-4.2.0rc1.dist-info").mkdir()
    printed = _python(
        "import tuimail.sync.imap, imapclient; print(imapclient.__version__)", path=tmp_path
    )
    assert printed == "read by imapclient"

    (tmp_path / "imapclient-4.2.0rc1.dist-info").rename(tmp_path / "imapclient-4.2.0.dist-info")
    printed = _python(
        "import tuimail.sync.imap, imapclient; print(imapclient.__version__)", path=tmp_path
    )
    assert printed == "4.2.0"
    (tmp_path / "imapclient-4.1.0.dist-info").mkdir()  # two installs: which one is unclear
    printed = _python(
        "import tuimail.sync.imap, imapclient; print(imapclient.__version__)", path=tmp_path
    )
    assert printed == "read by imapclient"
