"""The wan group's musts (issue 17): judged per RTT from the rows' names, a failed tuimail row
fails its must, a row that could not be measured leaves it not evaluated."""

from __future__ import annotations

from bench import report
from bench.bench import Row, SizeResult
from bench.timeit import Measurement, Run


def _row(name: str, wall: float | None, *, ok: bool = True, status: str = "measured") -> Row:
    measurement = Measurement(command=[name], warmups=1)
    if wall is not None:
        measurement.runs.append(Run(wall=wall, cpu=0.0, peak_mib=0.0, exit_code=0))
    row = Row(1000, name, name, 0, measurement, check="why", ok=ok, status=status)
    return row


def _verdicts(rows: list[Row]) -> dict[str, str]:
    result = SizeResult(1000, rows=rows)
    musts = report.evaluate_musts([result], [1000])
    return {must.text: must.verdict for must in musts if must.issue == 17}


def test_each_must_is_judged_at_each_rtt_against_its_own_limit() -> None:
    verdicts = _verdicts(
        [
            # 2 x 50 ms + 50 ms = 150 ms: held.
            _row("wan50-tuimail-open-remote", 0.149),
            # 2 x 150 ms + 50 ms = 350 ms: missed.
            _row("wan150-tuimail-open-remote", 0.351),
            # Under 50 ms, strictly.
            _row("wan50-tuimail-open-prefetched", 0.050),
            # 3 x 150 ms + 100 ms = 550 ms.
            _row("wan150-tuimail-flag", 0.55),
        ]
    )
    assert verdicts["WAN, RTT 50 ms: a message not yet local opens in at most 2 RTT + 50 ms "
                    "(at most 150 ms)"] == report.PASS  # fmt: skip
    assert verdicts["WAN, RTT 150 ms: a message not yet local opens in at most 2 RTT + 50 ms "
                    "(at most 350 ms)"] == report.FAIL  # fmt: skip
    assert verdicts["WAN, RTT 50 ms: a prefetched message opens in under 50 ms "
                    "(under 50 ms)"] == report.FAIL  # fmt: skip
    assert verdicts["WAN, RTT 150 ms: a flag is on the server within 3 RTT + 100 ms of the key "
                    "(at most 550 ms)"] == report.PASS  # fmt: skip
    # A row that did not run leaves its must not evaluated.
    assert verdicts["WAN, RTT 50 ms: a flag is on the server within 3 RTT + 100 ms of the key "
                    "(at most 250 ms)"] == report.NOT_EVALUATED  # fmt: skip


def test_a_failed_row_fails_its_must_and_an_unmeasurable_one_is_not_evaluated() -> None:
    verdicts = _verdicts(
        [
            _row("wan50-tuimail-new-mail", None, ok=False),
            _row("wan50-tuimail-open-remote", None, ok=False, status=report.NOT_MEASURED),
        ]
    )
    new_mail = [text for text in verdicts if "new mail" in text]
    remote = [text for text in verdicts if "not yet local" in text]
    assert [verdicts[text] for text in new_mail] == [report.FAIL]
    assert [verdicts[text] for text in remote] == [report.NOT_EVALUATED]


def test_without_the_group_every_must_is_not_evaluated() -> None:
    verdicts = _verdicts([])
    assert len(verdicts) == len(report.WAN_MUSTS)
    assert set(verdicts.values()) == {report.NOT_EVALUATED}
