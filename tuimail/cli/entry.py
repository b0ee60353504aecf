"""The `tuimail` process: `run` is what the installed command and `python -m tuimail` call.

It turns the garbage collector off before anything of tuimail is imported, and `main` freezes
what the imports made (`gc.freeze`) and turns it on again once the command's modules are in.
Those objects (modules, classes, functions) live until the process ends, so a collection never
finds garbage among them, yet the collector walked them over and over while they were made and
again at exit: about a tenth of a headless `tuimail sync` with nothing to do. The command's own
work runs with the collector on, as before.
"""

from __future__ import annotations

import gc


def run() -> int:
    """Run `tuimail` with the process's arguments; returns the exit status."""
    gc.disable()
    # Imported with the collector off: these imports are what it would walk.
    from tuimail.cli.main import main

    return main(after_imports=_imports_done)


def _imports_done() -> None:
    gc.freeze()
    gc.enable()
