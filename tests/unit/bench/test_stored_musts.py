"""Issue 19's musts on the time until every body is stored (the row's watch; the command goes on
to make them searchable, its wall): an IMAP full sync with bodies at most 0.6x mbsync and a POP3
download at most 0.12x fetchmail, at the largest size."""

from __future__ import annotations

from bench import report
from bench.bench import Row, SizeResult
from bench.timeit import Measurement, Run

SYNC = "IMAP: full sync with every body stored in at most 0.6x mbsync"
FETCH = "POP3: every message stored in at most 0.12x fetchmail"


def _row(name: str, wall: float, watched: float | None = None) -> Row:
    measurement = Measurement(command=[name], warmups=1)
    measurement.runs.append(Run(wall=wall, cpu=0.0, peak_mib=0.0, exit_code=0, watched=watched))
    return Row(10000, name, name, 10000, measurement, check="why", ok=True)


def _musts(rows: list[Row]) -> dict[str, report.Must]:
    musts = report.evaluate_musts([SizeResult(10000, rows=rows)], [10000])
    return {must.text: must for must in musts if must.text in (SYNC, FETCH)}


def test_the_time_to_every_body_stored_is_judged_against_the_peer() -> None:
    musts = _musts(
        [
            _row("tuimail-sync-bodies-full", 9.0, watched=5.5),
            _row("mbsync-full", 10.0),
            _row("tuimail-fetch-full", 3.0, watched=1.3),
            _row("fetchmail-full", 10.0),
        ]
    )
    assert musts[SYNC].verdict == report.PASS
    assert musts[SYNC].detail == (
        "N=10000: tuimail-sync-bodies-full bodies stored at 5.500 s (all searchable at"
        " 9.000 s) / mbsync-full 10.000 s = 0.55x"
    )
    assert musts[FETCH].verdict == report.FAIL  # 0.13x


def test_a_run_whose_bodies_were_never_all_stored_fails() -> None:
    musts = _musts(
        [
            _row("tuimail-sync-bodies-full", 1.0),
            _row("mbsync-full", 10.0),
        ]
    )
    assert musts[SYNC].verdict == report.FAIL
    assert "never had every body stored" in musts[SYNC].detail
    assert musts[FETCH].verdict == report.NOT_EVALUATED
