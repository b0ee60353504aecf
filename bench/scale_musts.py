"""Issue 19's musts, judged from the scale group's rows (bench/scale.py) in one invocation.

At a million messages: first paint, jump to the oldest message, search, thread toggle, the
import's rate, peak memory of the app and of the import; the store's size against the raw mail
at 100,000. At any other size each must shows its figure as "not checked at this size".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench.report import FAIL, NOT_EVALUATED, PASS, Must, Rows, why_blocked

if TYPE_CHECKING:
    from bench.bench import Row, SizeResult

ISSUE = 19
MUST_SIZE = 1_000_000  # the musts are judged at this size...
STORE_MUST_SIZE = 100_000  # ...but the store's size at this one
NOT_CHECKED = "not checked at this size"
PREFIX = "tuimail-scale-"  # every row of the group
IMPORT_ROW = PREFIX + "import"
APP_ROW = PREFIX + "app"  # only when the app's runs could not be prepared: why
SEARCH_KINDS = ("rare", "common", "phrase", "from")
SEARCH_ROWS = tuple(f"{PREFIX}search-{kind}" for kind in SEARCH_KINDS)
# (rows, limit in seconds, what): a must with several rows holds when each row's median is under
# the limit.
TIME_MUSTS = (
    ((PREFIX + "first-page",), 1.0, "first paint under 1 s"),
    ((PREFIX + "last",), 0.1, "jump to the oldest message under 100 ms"),
    (SEARCH_ROWS, 0.1, "search: the first page of results on the screen under 100 ms, whatever "
                       "the hit count (a rare word, a common word, a phrase, from:)"),
    ((PREFIX + "threads",), 1.0, "thread toggle under 1 s"),
)  # fmt: skip
IMPORT_RATE = 3000.0  # messages a second, at least
MEMORY_MB = 200.0  # megabytes (10^6 bytes) of peak RSS, the app's and the import's
STORE_RATIO = 0.7  # the store on disk over the raw mail, at most


def _judged(text: str, size: int, at: int, verdict: str, detail: str) -> Must:
    """The must's verdict at its own size; at another, its figure, not checked."""
    if size == at:
        return Must(ISSUE, text, verdict, detail)
    return Must(ISSUE, text, NOT_CHECKED, f"N={size}: {detail}; judged at N={at} only")


def evaluate_musts(results: Sequence[SizeResult]) -> list[Must]:
    """Issue 19's musts, from the scale group's rows and figures in this invocation."""
    texts = [f"1M messages: {what}" for _, _, what in TIME_MUSTS]
    texts += [
        f"1M messages: import at least {IMPORT_RATE:.0f} messages/s (`tuimail import --maildir`)",
        f"1M messages: peak memory under {MEMORY_MB:g} MB, the app",
        f"1M messages: peak memory under {MEMORY_MB:g} MB, the import",
        f"100k messages: the store at most {STORE_RATIO:g}x the raw mail",
    ]
    found = [r for r in results if any(row.name.startswith(PREFIX) for row in r.rows)]
    if not found:
        return [Must(ISSUE, text, NOT_EVALUATED, "scale was not run in this invocation")
                for text in texts]  # fmt: skip
    result = found[0]
    size, rows = result.size, Rows([result])
    musts = [
        _time_must(rows, size, names, limit, text)
        for (names, limit, _), text in zip(TIME_MUSTS, texts, strict=False)
    ]
    rest = texts[len(TIME_MUSTS) :]
    musts.append(_import_must(rows, size, rest[0]))
    musts.append(_memory_must(rows, size, rest[1], _screen_names()))
    musts.append(_memory_must(rows, size, rest[2], [IMPORT_ROW]))
    musts.append(_store_must(result, rest[3]))
    return musts


def _screen_names() -> list[str]:
    """The rows of the app's runs."""
    names = {name for names, _, _ in TIME_MUSTS for name in names}
    return sorted(names | {PREFIX + "pgdn"})


def _time_must(rows: Rows, size: int, names: Sequence[str], limit: float, text: str) -> Must:
    """Each row's median under `limit` seconds."""
    # Without the app's rows, the row that says why they are missing.
    found = [rows.get(size, name) or rows.get(size, APP_ROW) for name in names]
    blocked = why_blocked(found, names)
    if blocked:
        return _judged(text, size, MUST_SIZE, *blocked)
    walls = [(name, _wall(row)) for name, row in zip(names, found, strict=True)]
    held = all(wall < limit for _, wall in walls)
    detail = ", ".join(f"{name}: {wall * 1000:.1f} ms (median)" for name, wall in walls)
    return _judged(text, size, MUST_SIZE, PASS if held else FAIL, detail)


def _wall(row: Row | None) -> float:
    assert row is not None and row.measurement is not None and row.measurement.wall is not None
    return row.measurement.wall


def _import_must(rows: Rows, size: int, text: str) -> Must:
    """The import's messages a second, at least IMPORT_RATE: until every message is stored with
    its body (the row's watch; the import then makes them searchable, the wall)."""
    row = rows.get(size, IMPORT_ROW)
    blocked = why_blocked([row], [IMPORT_ROW])
    if blocked:
        return _judged(text, size, MUST_SIZE, *blocked)
    assert row is not None and row.measurement is not None
    stored = row.measurement.watched
    if stored is None:
        return _judged(text, size, MUST_SIZE, FAIL, "the store never held every message")
    rate = size / stored
    detail = (
        f"{size} messages stored in {stored:.1f} s = {rate:.0f} messages/s; all searchable"
        f" after {_wall(row):.1f} s = {size / _wall(row):.0f} messages/s"
    )
    return _judged(text, size, MUST_SIZE, PASS if rate >= IMPORT_RATE else FAIL, detail)


def _memory_must(rows: Rows, size: int, text: str, names: Sequence[str]) -> Must:
    """The largest peak RSS of any counted run of these rows under MEMORY_MB."""
    found = [row for row in (rows.get(size, name) for name in (*names, APP_ROW)) if row]
    peaks = [run.peak_mib for row in found if row.measurement for run in row.measurement.runs]
    if not peaks:
        blocked = why_blocked([found[0] if found else None], [names[0]])
        verdict, detail = blocked or (NOT_EVALUATED, "no run")
        return _judged(text, size, MUST_SIZE, verdict, detail)
    peak_mb = max(peaks) * 1024 * 1024 / 1e6
    detail = f"largest peak RSS of any run: {peak_mb:.0f} MB"
    return _judged(text, size, MUST_SIZE, PASS if peak_mb < MEMORY_MB else FAIL, detail)


def _store_must(result: SizeResult, text: str) -> Must:
    """The store on disk over the raw mail, at most STORE_RATIO."""
    figures = result.figures
    if "store_ratio" not in figures:
        return _judged(text, result.size, STORE_MUST_SIZE, NOT_EVALUATED,
                       "the store was not measured (the import did not finish)")  # fmt: skip
    ratio = figures["store_ratio"]
    detail = (
        f"store {figures['store_bytes'] / 1e6:.1f} MB / raw mail "
        f"{figures['raw_bytes'] / 1e6:.1f} MB = {ratio:.2f}x"
    )
    verdict = PASS if ratio <= STORE_RATIO else FAIL
    return _judged(text, result.size, STORE_MUST_SIZE, verdict, detail)
