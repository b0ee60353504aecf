"""Issue 19's start-up musts: a nothing-new sync and fetch at most 0.12 s (the whole process, the
row's median) at every size; a row that did not run leaves its must not evaluated."""

from __future__ import annotations

from bench import report
from bench.bench import Row, SizeResult
from bench.timeit import Measurement, Run

SYNC = "IMAP: a nothing-new sync at most 0.12 s (the whole process)"
FETCH = "POP3: a nothing-new fetch at most 0.12 s (the whole process)"


def _row(size: int, name: str, wall: float, *, ok: bool = True) -> Row:
    measurement = Measurement(command=[name], warmups=1)
    measurement.runs.append(Run(wall=wall, cpu=0.0, peak_mib=0.0, exit_code=0))
    return Row(size, name, name, 0, measurement, check="why", ok=ok)


def _verdicts(results: list[SizeResult], sizes: list[int]) -> dict[str, str]:
    musts = report.evaluate_musts(results, sizes)
    return {must.text: must.verdict for must in musts if must.text in (SYNC, FETCH)}


def test_at_most_the_limit_at_every_size() -> None:
    results = [
        SizeResult(
            1000,
            rows=[_row(1000, "tuimail-sync-noop", 0.12), _row(1000, "tuimail-fetch-noop", 0.09)],
        ),
        SizeResult(
            10000,
            rows=[_row(10000, "tuimail-sync-noop", 0.11), _row(10000, "tuimail-fetch-noop", 0.13)],
        ),
    ]
    assert _verdicts(results, [1000, 10000]) == {SYNC: report.PASS, FETCH: report.FAIL}


def test_a_failed_row_fails_and_a_missing_one_is_not_evaluated() -> None:
    results = [SizeResult(1000, rows=[_row(1000, "tuimail-sync-noop", 0.05, ok=False)])]
    assert _verdicts(results, [1000]) == {SYNC: report.FAIL, FETCH: report.NOT_EVALUATED}
