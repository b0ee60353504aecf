"""The interpreter's settings while the app runs, for frames that come on time.

- The garbage collector: what the start made (modules, widgets, a folder's ids) is left out of
  its full passes (`gc.freeze`): a full pass over all of it took 40 ms of the UI thread and
  more, at an arbitrary key (opening a message took three times as long then).
- The switch interval: a thread waiting for the interpreter (the one writing frames to the
  terminal, an engine's) waits up to this long for a busy UI thread, and the other way round:
  Python's 5 ms held back each painted frame by as much.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL = 0.001  # seconds a thread holds the interpreter while another waits for it


def tune_for_frames() -> float:
    """Freeze what exists now out of full collections and shorten the switch interval; returns
    the interval before, for `untune`."""
    gc.freeze()
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    return before


def untune(switch_interval: float) -> None:
    """Give back what `tune_for_frames` changed (a test runs many apps in one process)."""
    gc.unfreeze()
    sys.setswitchinterval(switch_interval)
