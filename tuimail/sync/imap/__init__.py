"""The IMAP engine: folder sync, op replay, bodies, IDLE, search and drafts.

Importing the package first gives imapclient its version without `importlib.metadata`:
imapclient's `version` module asks the package metadata for it when imported, and loading
`importlib.metadata` for that is about a tenth of a `tuimail sync` with nothing new. The
version is read from the name of imapclient's `.dist-info` directory instead; where that
cannot be done, imapclient imports as usual. (imapclient is pinned below its next major
version; tests/unit/sync/test_imap_package.py checks the result against the metadata.)
"""

from __future__ import annotations

import os
import sys
import types


def _imapclient_version_from_its_directory() -> None:
    """Put imapclient's `version` module in place, made from its `.dist-info` directory's
    name, unless imapclient is imported already or is not installed as a plain directory."""
    if "imapclient" in sys.modules or "imapclient.version" in sys.modules:
        return
    for entry in sys.path:
        if not os.path.isfile(os.path.join(entry or ".", "imapclient", "__init__.py")):
            continue
        # The first path entry that holds the package is the one the import will use.
        try:
            names = os.listdir(entry or ".")
        except OSError:
            return
        # Wheels name it in lower case; older installers kept the project's "IMAPClient".
        found = [
            name[len("imapclient-") : -len(".dist-info")]
            for name in names
            if name.lower().startswith("imapclient-") and name.endswith(".dist-info")
        ]
        parts = found[0].split(".") if len(found) == 1 else []
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            return  # not a release's version as imapclient reads it: the usual import
        module = types.ModuleType("imapclient.version")
        module.version = found[0]  # type: ignore[attr-defined]
        module.version_info = (int(parts[0]), int(parts[1]), int(parts[2]), "final")  # type: ignore[attr-defined]
        sys.modules["imapclient.version"] = module
        return


_imapclient_version_from_its_directory()
