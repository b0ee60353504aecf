"""The wan group's first header sync and resync run at --wan-sync-sizes (10000 unless told),
its screen rows at --sizes, in one invocation; RESULTS.md shows the sync rows per RTT and size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import bench, report, wan
from bench.bench import Options, Row, SizeResult, SizeRun, parse_args, size_plan
from bench.timeit import Measurement, Run


def _options(*argv: str) -> Options:
    options, _ = parse_args(list(argv))
    return options


def test_the_sync_rows_get_a_size_of_their_own_beside_the_screen_rows() -> None:
    # What the wan results were measured with: the screen rows at 1000, the sync rows at 10k.
    assert size_plan(_options("--only", "wan", "--sizes", "1000")) == [
        (1000, ["wan"]),
        (10000, ["wan"]),
    ]
    # Told otherwise: both at 1000 (one corpus), or the sync rows at two sizes.
    assert size_plan(_options("--only", "wan", "--sizes", "1000", "--wan-sync-sizes", "1000")) == [
        (1000, ["wan"])
    ]
    assert [
        size for size, _ in size_plan(_options("--only", "wan", "--wan-sync-sizes", "200,10000"))
    ] == [200, 1000, 10000]
    # A size of --sizes keeps every selected group: the sync rows share its corpus.
    plan = dict(size_plan(_options("--only", "mbsync,wan,ui", "--sizes", "1000,10000")))
    assert plan == {1000: ["mbsync", "wan"], 10000: ["mbsync", "wan"]}
    # Without the wan group, no size of its own.
    assert size_plan(_options("--only", "mbsync", "--sizes", "1000")) == [(1000, ["mbsync"])]


@pytest.mark.parametrize(
    ("size", "sync", "screen"), [(1000, False, True), (10000, True, False), (200, True, True)]
)
def test_each_size_runs_the_wan_rows_it_is_for(
    monkeypatch: pytest.MonkeyPatch, size: int, sync: bool, screen: bool
) -> None:
    options = _options("--only", "wan", "--sizes", "200,1000", "--wan-sync-sizes", "200,10000")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(wan, "run_group", lambda run, rtts, **kwargs: calls.append(kwargs))
    run = SizeRun.__new__(SizeRun)  # no servers: only what group_wan reads
    run.options, run.size = options, size
    run.group_wan()
    assert calls == [{"sync": sync, "screen": screen}]


def _row(size: int, name: str, wall: float | None, *, slow: bool = False) -> Row:
    measurement = Measurement(command=[name], warmups=0 if slow else 1, slow=slow)
    if wall is not None:
        measurement.runs.append(Run(wall=wall, cpu=0.0, peak_mib=0.0, exit_code=0))
    return Row(size, name, name, size, measurement, check="why", ok=wall is not None)


def test_results_show_the_first_header_sync_at_10k_per_rtt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(report, "versions", lambda: [])
    options = _options("--only", "wan", "--sizes", "1000", "--results", str(tmp_path))
    screen = SizeResult(1000, rows=[_row(1000, "wan50-tuimail-flag", 0.12)])
    synced = SizeResult(
        10000,
        rows=[
            _row(10000, "wan50-tuimail-sync-headers-full", 5.25),
            # Over 20 s: counted once (--slow-runs), which the table says.
            _row(10000, "wan50-mbsync-full", 23.5, slow=True),
            _row(10000, "wan50-neomutt-first-page", 3.125),
            _row(10000, "wan50-tuimail-sync-noop", 0.75),
            _row(10000, "wan50-mbsync-noop", None),
            _row(10000, "wan150-tuimail-sync-headers-full", 9.5),
        ],
    )
    results = [screen, synced]
    text = report.render(
        results,
        report.evaluate_musts(results, options.sizes),
        options=options,
        arguments=[],
        started=0.0,
    )
    lines = text.splitlines()
    table = lines.index("## Over a WAN: first header sync and resync (issue 17)")
    assert table < lines.index("## N = 1000")
    assert "| 50 ms | 10000 | 5.250 | 23.500 (1 run) | 3.125 | 0.750 | **FAILED** |" in lines
    assert "| 150 ms | 10000 | 9.500 | not run | not run | not run | not run |" in lines
    # The section of the sync rows' own size says why it holds only them.
    section = text.split("## N = 10000")[1]
    assert "Only the wan group's first header sync and resync rows run at this size" in section
    assert "Only the wan group's" not in text.split("## N = 10000")[0]
    assert bench.WAN_SYNC_SIZES == (10000,)
