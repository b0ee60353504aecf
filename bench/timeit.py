"""Whole-process timing: wall, user+sys CPU and peak RSS of a command (as `time -v` sees them).

Each run is taken by a fresh, small timer process (bench/launch.py, which says why), which spawns
COMMAND in its own session (stdin /dev/null, output to a log file) and reaps it with ``os.wait4``:
the wall time is the monotonic clock from spawn to reap; CPU is the command's user+sys time,
including every descendant it waited for; peak RSS is ``ru_maxrss``, the largest single process
among the command and its waited-for descendants (not their sum), never below the timer's own
~10 MiB.

By hand::

    python bench/timeit.py [-n RUNS] [--warmup W] [--timeout S] -- COMMAND [ARG ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

# A row whose first run takes longer than this counts that run instead of discarding it as a
# warm-up, and gets only ``slow_runs`` runs: the warm-up exists to fill caches, which matters for
# a 0.1 s command and not for a two-minute one (fetchmail, getmail, offlineimap at 10k).
SLOW_SECONDS = 20.0
LAUNCHER = Path(__file__).resolve().parent / "launch.py"


# How often a watch (see `run_isolated`) looks at what the command has done so far.
WATCH_SECONDS = 0.01
TIMER_GRACE = 60.0  # seconds past the deadline before the timer process itself is given up


@dataclass(frozen=True)
class Run:
    """One finished run of a command."""

    wall: float
    cpu: float
    peak_mib: float
    exit_code: int
    started: float = 0.0  # the spawn, on the monotonic clock
    # Seconds from the spawn until the watch first held (None: no watch, or it never held).
    watched: float | None = None


@dataclass
class Measurement:
    """The counted runs of one command, plus how they were taken."""

    command: list[str]
    runs: list[Run] = field(default_factory=list)
    warmups: int = 0
    slow: bool = False
    timed_out: bool = False

    @property
    def wall(self) -> float | None:
        """Median wall time in seconds (None without a finished run)."""
        return statistics.median(r.wall for r in self.runs) if self.runs else None

    @property
    def cpu(self) -> float | None:
        """Median user+sys CPU time in seconds."""
        return statistics.median(r.cpu for r in self.runs) if self.runs else None

    @property
    def peak_mib(self) -> float | None:
        """Median peak RSS in MiB."""
        return statistics.median(r.peak_mib for r in self.runs) if self.runs else None

    @property
    def watched(self) -> float | None:
        """Median seconds until the watch held, over the runs where it did (None otherwise)."""
        seen = [r.watched for r in self.runs if r.watched is not None]
        return statistics.median(seen) if seen else None

    @property
    def watch_missed(self) -> int:
        """Counted runs in which a watch never held."""
        return sum(1 for r in self.runs if r.watched is None)

    @property
    def exit_codes(self) -> list[int]:
        """Exit codes of the counted runs, in order."""
        return [r.exit_code for r in self.runs]

    def how(self) -> str:
        """How the figures were taken, for the notes column."""
        text = f"median of {len(self.runs)}"
        if self.slow:
            text += f" (slow row: first run > {SLOW_SECONDS:.0f} s counted, no warm-up)"
        elif self.warmups:
            text += f" after {self.warmups} warm-up"
        if self.timed_out:
            text += "; TIMED OUT"
        return text

    def report(self) -> str:
        """The raw figures of every run, as written to the results directory."""
        lines = ["command: " + " ".join(self.command), self.how()]
        lines.append(
            f"{'run':>4} {'wall s':>10} {'cpu s':>10} {'peak MiB':>10} {'exit':>5} {'watch s':>8}"
        )
        for number, run in enumerate(self.runs, 1):
            watched = "-" if run.watched is None else f"{run.watched:.3f}"
            lines.append(
                f"{number:>4} {run.wall:>10.3f} {run.cpu:>10.3f} {run.peak_mib:>10.1f} "
                f"{run.exit_code:>5} {watched:>8}"
            )
        if self.runs:
            lines.append(f"{'med':>4} {self.wall:>10.3f} {self.cpu:>10.3f} {self.peak_mib:>10.1f}")
        return "\n".join(lines) + "\n"


def run_isolated(
    command: Sequence[str],
    *,
    deadline: float,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    watch: Callable[[], bool] | None = None,
) -> Run | None:
    """Run ``command`` once through the small timer process (launch.py); None on timeout.

    ``watch`` (optional) is polled from this process every WATCH_SECONDS while the command
    runs, from outside it (the timer stays small): the run's ``watched`` is the time from the
    spawn to the first poll at which it returned True. A watch that raises counts as False.
    """
    remaining = max(deadline - time.monotonic(), 0.001)
    launcher = [sys.executable, "-I", "-S", str(LAUNCHER), f"{remaining:.3f}"]
    launcher += [str(log or os.devnull), *command]
    watcher = _Watcher(watch) if watch is not None else None
    try:
        # The timer kills the command at the deadline itself; this bound is for a timer that
        # could not (a process that does not die): the run then counts as timed out.
        result = subprocess.run(
            launcher,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            check=False,
            timeout=remaining + TIMER_GRACE,
        )
    except subprocess.TimeoutExpired:
        return None
    finally:
        held_at = watcher.stop() if watcher is not None else None
    if result.returncode != 0:
        raise RuntimeError(f"the timer failed: {result.stderr.strip()}")
    figures = json.loads(result.stdout)
    if figures is None:
        return None
    run = Run(**figures)
    if held_at is not None:
        run = replace(run, watched=max(held_at - run.started, 0.0))
    return run


class _Watcher:
    """Polls a condition in a thread until it holds; remembers when (monotonic clock)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self._condition = condition
        self._stop = threading.Event()
        self.held_at: float | None = None
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                held = self._condition()
            except Exception:  # the store may not exist yet, or be mid-creation
                held = False
            if held:
                self.held_at = time.monotonic()
                return
            self._stop.wait(WATCH_SECONDS)

    def stop(self) -> float | None:
        """Stop polling; the time the condition first held, if it did."""
        self._stop.set()
        self._thread.join()
        return self.held_at


def measure(
    command: Sequence[str],
    *,
    runs: int = 3,
    warmup: int = 1,
    slow_runs: int = 1,
    timeout: float = 1800.0,
    prepare: Callable[[], None] | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    watch: Callable[[], bool] | None = None,
) -> Measurement:
    """Run ``command`` ``warmup`` times uncounted, then ``runs`` times, within ``timeout`` seconds.

    ``prepare`` runs before every run, untimed (wiping a local store, appending new mail). If the
    first run is slower than SLOW_SECONDS it is counted and the row gets ``slow_runs`` runs in all.
    ``watch``: see `run_isolated`.
    """
    deadline = time.monotonic() + timeout
    result = Measurement(command=list(command))
    wanted = warmup + runs
    done = 0
    while done < wanted:
        if prepare is not None:
            prepare()
        run = run_isolated(command, deadline=deadline, env=env, log=log, watch=watch)
        done += 1
        if run is None:
            result.timed_out = True
            break
        if done == 1 and run.wall > SLOW_SECONDS:
            result.slow = True
            result.runs.append(run)
            wanted = slow_runs
            continue
        if done <= warmup and not result.slow:
            result.warmups += 1
            continue
        result.runs.append(run)
    return result


def main(argv: list[str] | None = None) -> int:
    """Time a command from the command line and print its runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--log", type=Path, help="append the command's output here")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND")
    result = measure(
        command, runs=args.runs, warmup=args.warmup, timeout=args.timeout, log=args.log
    )
    print(result.report(), end="")
    return 0 if result.runs else 3


if __name__ == "__main__":
    sys.exit(main())
