"""The musts of the issues, evaluated from rows measured in one invocation, and RESULTS.md."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.timeit import WATCH_SECONDS

if TYPE_CHECKING:
    from bench.bench import Options, Row, SizeResult

PASS, FAIL = "pass", "FAIL"
NOT_IMPLEMENTED = "not implemented yet"
NOT_EVALUATED = "not evaluated"
NOT_MEASURED = "not measured"  # the row could not measure what it says (its check says why)
RSS_GROWTH = 1.3  # peak RSS at the largest size may be at most this times the smallest size's
NOOP_SECONDS = 0.3
# Issue 19: a headless sync or fetch with nothing new, the whole process, at most this long.
START_UP_SECONDS = 0.12
# The newest page of the INBOX must be in the store this soon after tuimail sync starts.
FIRST_PAGE_SECONDS = 0.5
# The "newest page": the newest messages of the INBOX that fill a screen of the message list
# (the neomutt row's terminal is 50 lines).
NEWEST_PAGE = 50
# "+100 proportional to 100, not to N": what the +100 sync costs beyond the no-change sync may
# grow at most this much from the smallest to the largest size (proportional to N, it would grow
# as N does: 10x from 1k to 10k). The smaller cost is taken as at least PLUS100_FLOOR seconds, so
# a few milliseconds of noise at 1k cannot decide the verdict.
PLUS100_GROWTH = 2.0
PLUS100_FLOOR = 0.01
# With one size only: the +100 sync may cost at most the no-change sync plus three times the
# per-message cost of the full sync for 100 messages.
PROPORTIONAL_FACTOR = 3.0

# tuimail row -> the peer rows it is compared with in the table.
COMPARED_WITH = {
    "tuimail-fetch-full": ("fetchmail-full", "getmail-full"),
    "tuimail-fetch-noop": ("fetchmail-noop", "getmail-noop"),
    "tuimail-sync-full": ("mbsync-full", "offlineimap-full", "imapclient-meta"),
    "tuimail-sync-bodies-full": ("mbsync-full", "offlineimap-full", "imapclient-full"),
    "tuimail-sync-noop": ("mbsync-noop", "offlineimap-noop"),
    "tuimail-sync-plus100": ("mbsync-plus100", "offlineimap-plus100"),
}
SEND_PEERS = ("msmtp", "aiosmtplib-1conn")
# Issue 5: the flush of one message with a 50 MiB attachment, against a flush with nothing to
# send (the interpreter and its imports); what the message adds may be this many times its size.
LARGE_FLUSH_ROW = "tuimail-outbox-flush-50mb"
IDLE_FLUSH_ROW = "tuimail-outbox-flush-idle"
LARGE_ATTACHMENT_MIB = 50.0
LARGE_MEMORY_FACTOR = 4.0

# Issue 6, the 100k-message terminal rows (bench/ui.py): (row, limit in seconds, what).
UI_TIME_MUSTS = (
    ("tuimail-ui-first-page", 1.0, "start to the first painted page of the list"),
    ("tuimail-ui-last", 0.5, "jump to the oldest message"),
    ("tuimail-ui-pgdn", 0.016, "PageDown, a page"),
    ("tuimail-ui-search", 0.1, "search over every message"),
)
UI_MEMORY_MB = 300.0  # megabytes (10^6 bytes) of peak RSS, any run
COMPARED_WITH |= {
    "tuimail-ui-first-page": ("neomutt-ui-warm-first-page", "neomutt-ui-cold-first-page"),
    "tuimail-ui-last": ("neomutt-ui-last",),
    "tuimail-ui-pgdn": ("neomutt-ui-pgdn",),
}

DEBIAN_PACKAGES = (
    "dovecot-imapd",
    "postfix",
    "isync",
    "offlineimap3",
    "fetchmail",
    "getmail6",
    "msmtp",
    "neomutt",
    "tmux",
    "openssl",
)
PYTHON_PACKAGES = ("tuimail", "imapclient", "aiosmtplib", "textual")


@dataclass
class Must:
    """One must of an issue and its verdict in this invocation."""

    issue: int
    text: str
    verdict: str
    detail: str


class Rows:
    """Rows by (size, name)."""

    def __init__(self, results: Sequence[SizeResult]) -> None:
        self.by_key = {(row.size, row.name): row for r in results for row in r.rows}

    def get(self, size: int, name: str) -> Row | None:
        """The row, measured or not, or None if it did not run."""
        return self.by_key.get((size, name))

    def named(self, prefix: str) -> list[Row]:
        """Every row whose name starts with ``prefix``."""
        return [row for (_, name), row in self.by_key.items() if name.startswith(prefix)]


def why_blocked(rows: Sequence[Row | None], names: Sequence[str]) -> tuple[str, str] | None:
    """Why a must cannot be judged from these rows (first the tuimail row, then the peers)."""
    for row, name in zip(rows, names, strict=True):
        if row is None:
            return NOT_EVALUATED, f"{name} was not run in this invocation"
        if row.status == NOT_IMPLEMENTED:
            return NOT_IMPLEMENTED, row.check
        if row.status == NOT_MEASURED:
            return NOT_EVALUATED, f"{name} could not be measured: {row.check}"
        if not row.measured:
            # A tuimail row that failed its check fails the must; a peer that did is no yardstick.
            if name.startswith("tuimail") or re.match(r"wan\d+-tuimail", name):
                return FAIL, f"{name} failed: {row.check}"
            return NOT_EVALUATED, f"{name} failed: {row.check}"
    return None


def _ratio_must(
    rows: Rows,
    issue: int,
    text: str,
    size: int,
    ours: str,
    peer: str,
    limit: float,
    *,
    strict: bool = False,
) -> Must:
    """tuimail's median wall over the peer's at most ``limit`` (below it when ``strict``)."""
    pair = [rows.get(size, ours), rows.get(size, peer)]
    blocked = why_blocked(pair, [ours, peer])
    if blocked:
        return Must(issue, text, *blocked)
    ours_wall = pair[0].measurement.wall  # type: ignore[union-attr]
    peer_wall = pair[1].measurement.wall  # type: ignore[union-attr]
    ratio = ours_wall / peer_wall
    verdict = PASS if (ratio < limit if strict else ratio <= limit) else FAIL
    detail = f"N={size}: {ours} {ours_wall:.3f} s / {peer} {peer_wall:.3f} s = {ratio:.2f}x"
    return Must(issue, text, verdict, detail)


def _stored_ratio_must(
    rows: Rows, issue: int, text: str, size: int, ours: str, peer: str, limit: float
) -> Must:
    """The time until tuimail's row had every body stored (its watch, polled from outside: the
    command goes on to make them searchable) over the peer's median wall, at most ``limit``."""
    pair = [rows.get(size, ours), rows.get(size, peer)]
    blocked = why_blocked(pair, [ours, peer])
    if blocked:
        return Must(issue, text, *blocked)
    ours_m, peer_m = pair[0].measurement, pair[1].measurement  # type: ignore[union-attr]
    if ours_m.watch_missed or ours_m.watched is None:
        return Must(issue, text, FAIL, f"N={size}: {ours} never had every body stored")
    ratio = ours_m.watched / peer_m.wall
    verdict = PASS if ratio <= limit else FAIL
    detail = (
        f"N={size}: {ours} bodies stored at {ours_m.watched:.3f} s (all searchable at"
        f" {ours_m.wall:.3f} s) / {peer} {peer_m.wall:.3f} s = {ratio:.2f}x"
    )
    return Must(issue, text, verdict, detail)


def _noop_must(
    rows: Rows,
    issue: int,
    text: str,
    sizes: Sequence[int],
    name: str,
    limit: float = NOOP_SECONDS,
    *,
    strict: bool = True,
) -> Must:
    """The row's median wall under `limit` (at most `limit` when not `strict`) at every size."""
    details = []
    for size in sizes:
        row = rows.get(size, name)
        blocked = why_blocked([row], [name])
        if blocked:
            return Must(issue, text, *blocked)
        wall = row.measurement.wall  # type: ignore[union-attr]
        if wall >= limit if strict else wall > limit:
            return Must(issue, text, FAIL, f"N={size}: {wall:.3f} s")
        details.append(f"N={size}: {wall:.3f} s")
    return Must(issue, text, PASS, ", ".join(details))


def _first_page_must(rows: Rows, issue: int, text: str, sizes: Sequence[int], name: str) -> Must:
    """The row's watch (the store holds the INBOX's newest page, polled from outside while the
    command runs) held within FIRST_PAGE_SECONDS of the spawn, median of the runs, every size."""
    details = []
    for size in sizes:
        row = rows.get(size, name)
        blocked = why_blocked([row], [name])
        if blocked:
            return Must(issue, text, *blocked)
        m = row.measurement  # type: ignore[union-attr]
        assert m is not None
        if m.watch_missed or m.watched is None:
            return Must(issue, text, FAIL, f"N={size}: the newest page was never seen in the store")
        if m.watched > FIRST_PAGE_SECONDS:
            return Must(issue, text, FAIL, f"N={size}: {m.watched:.3f} s")
        details.append(f"N={size}: {m.watched:.3f} s")
    return Must(issue, text, PASS, ", ".join(details))


def _rss_must(
    rows: Rows, issue: int, text: str, sizes: Sequence[int], names: Sequence[str]
) -> Must:
    if len(sizes) < 2:
        return Must(issue, text, NOT_EVALUATED, "needs two sizes (e.g. --sizes 1000,10000)")
    small, large = sizes[0], sizes[-1]
    details = []
    for name in names:
        pair = [rows.get(small, name), rows.get(large, name)]
        blocked = why_blocked(pair, [name, name])
        if blocked:
            return Must(issue, text, *blocked)
        low, high = (row.measurement.peak_mib for row in pair)  # type: ignore[union-attr]
        growth = high / low
        details.append(
            f"{name}: {high:.1f} MiB at N={large} / {low:.1f} MiB at N={small} = {growth:.2f}x"
        )
        if growth > RSS_GROWTH:
            return Must(issue, text, FAIL, "; ".join(details))
    return Must(issue, text, PASS, "; ".join(details))


def _proportional_must(rows: Rows, issue: int, text: str, sizes: Sequence[int]) -> Must:
    """+100 costs the same at every N (two sizes), or fits the full sync's per-message cost
    (one size)."""
    names = ["tuimail-sync-plus100", "tuimail-sync-noop", "tuimail-sync-full"]
    costs: list[float] = []
    details: list[str] = []
    for size in dict.fromkeys((sizes[0], sizes[-1])):
        found = [rows.get(size, name) for name in names]
        blocked = why_blocked(found, names)
        if blocked:
            return Must(issue, text, *blocked)
        plus, noop, full = (row.measurement.wall for row in found)  # type: ignore[union-attr]
        costs.append(plus - noop)
        details.append(f"N={size}: +100 {plus:.3f} s - noop {noop:.3f} s = {plus - noop:.3f} s")
    if len(costs) == 2:
        growth = costs[1] / max(costs[0], PLUS100_FLOOR)
        verdict = PASS if growth <= PLUS100_GROWTH else FAIL
        ratio = sizes[-1] / sizes[0]
        details.append(
            f"growth {growth:.2f}x (at most {PLUS100_GROWTH:g}x; proportional to N: {ratio:g}x)"
        )
        return Must(issue, text, verdict, "; ".join(details))
    budget = PROPORTIONAL_FACTOR * full * 100 / sizes[-1]
    verdict = PASS if costs[0] <= budget else FAIL
    details.append(
        f"budget {PROPORTIONAL_FACTOR:g} x 100/N x full {full:.3f} s = {budget:.3f} s"
        " (one size only)"
    )
    return Must(issue, text, verdict, "; ".join(details))


def evaluate_musts(results: Sequence[SizeResult], sizes: Sequence[int]) -> list[Must]:
    """Every must of issues 3, 4, 5, 6, 17 and 19, judged from this invocation's rows only."""
    rows = Rows(results)
    large = sizes[-1]
    at = f" (at N={large})" if large != 10000 else ""
    musts = [
        _ratio_must(
            rows,
            4,
            f"POP3: 10k messages faster than fetchmail{at}",
            large,
            "tuimail-fetch-full",
            "fetchmail-full",
            1.0,
            strict=True,
        ),
        _noop_must(
            rows, 4, f"POP3: nothing new under {NOOP_SECONDS} s", sizes, "tuimail-fetch-noop"
        ),
        _rss_must(
            rows,
            4,
            f"POP3: peak RSS at 10k at most {RSS_GROWTH}x the peak at 1k",
            sizes,
            ["tuimail-fetch-full"],
        ),
        _ratio_must(
            rows,
            3,
            f"IMAP: all headers stored in at most 0.5x mbsync's full sync{at}",
            large,
            "tuimail-sync-full",
            "mbsync-full",
            0.5,
        ),
        _first_page_must(
            rows,
            3,
            f"IMAP: newest page in the store within {FIRST_PAGE_SECONDS} s of the start",
            sizes,
            "tuimail-sync-full",
        ),
        _ratio_must(
            rows,
            3,
            f"IMAP: full sync with all bodies at most 1.5x mbsync{at}",
            large,
            "tuimail-sync-bodies-full",
            "mbsync-full",
            1.5,
        ),
        _noop_must(
            rows, 3, f"IMAP: nothing new under {NOOP_SECONDS} s", sizes, "tuimail-sync-noop"
        ),
        _proportional_must(rows, 3, "IMAP: +100 new proportional to 100, not to N", sizes),
        _rss_must(
            rows,
            3,
            f"IMAP: peak RSS at 10k at most {RSS_GROWTH}x the peak at 1k",
            sizes,
            ["tuimail-sync-full", "tuimail-sync-bodies-full"],
        ),
    ]
    flush = rows.named("tuimail-outbox-flush-x")
    msmtp = rows.named("msmtp-x")
    smtp_size = flush[0].size if flush else sizes[0]
    musts.append(
        _ratio_must(
            rows,
            5,
            "SMTP: queued messages sent at least 5x faster than msmtp, none lost or doubled",
            smtp_size,
            flush[0].name if flush else "tuimail-outbox-flush",
            msmtp[0].name if msmtp else "msmtp",
            0.2,
        )
    )
    musts.append(_large_attachment_must(rows))
    musts += [
        _stored_ratio_must(
            rows,
            19,
            f"IMAP: full sync with every body stored in at most 0.6x mbsync{at}",
            large,
            "tuimail-sync-bodies-full",
            "mbsync-full",
            0.6,
        ),
        _stored_ratio_must(
            rows,
            19,
            f"POP3: every message stored in at most 0.12x fetchmail{at}",
            large,
            "tuimail-fetch-full",
            "fetchmail-full",
            0.12,
        ),
        _noop_must(
            rows,
            19,
            f"IMAP: a nothing-new sync at most {START_UP_SECONDS} s (the whole process)",
            sizes,
            "tuimail-sync-noop",
            START_UP_SECONDS,
            strict=False,
        ),
        _noop_must(
            rows,
            19,
            f"POP3: a nothing-new fetch at most {START_UP_SECONDS} s (the whole process)",
            sizes,
            "tuimail-fetch-noop",
            START_UP_SECONDS,
            strict=False,
        ),
    ]
    musts += _ui_musts(rows)
    musts += _wan_musts(rows, sizes)
    return musts


# Issue 17, over a wide-area network (bench/wan.py): (row, limit = a x RTT + b seconds, strict,
# what). The rows are named wan<RTT ms>-<row>.
WAN_MUSTS = (
    ("tuimail-open-remote", 2, 0.05, False,
     "a message not yet local opens in at most 2 RTT + 50 ms"),
    ("tuimail-open-prefetched", 0, 0.05, True, "a prefetched message opens in under 50 ms"),
    ("tuimail-flag", 3, 0.1, False, "a flag is on the server within 3 RTT + 100 ms of the key"),
    ("tuimail-new-mail", 1, 1.0, False,
     "new mail in a watched folder (Lists/dev) is on the screen within 1 s + 1 RTT"),
    ("tuimail-outage-outbox", 0, 10.0, False,
     "queued mail leaves within 10 s of the server coming back"),
)  # fmt: skip
WAN_ROW = re.compile(r"^wan(\d+)-(.+)$")
# A wan row -> the peer rows of the same RTT it is compared with in the table.
WAN_COMPARED_WITH = {
    "tuimail-open-remote": ("neomutt-open-remote",),
    "tuimail-sync-headers-full": ("mbsync-full", "neomutt-first-page"),
    "tuimail-sync-noop": ("mbsync-noop",),
}


# The wan group's whole-process rows (bench/wan_sync.py), side by side in one table per RTT and
# size: (row, column heading).
WAN_SYNC_COLUMNS = (
    ("tuimail-sync-headers-full", "tuimail first header sync"),
    ("mbsync-full", "mbsync first sync (whole messages)"),
    ("neomutt-first-page", "neomutt first open of the INBOX"),
    ("tuimail-sync-noop", "tuimail resync, nothing new"),
    ("mbsync-noop", "mbsync resync, nothing new"),
)


def _wan_sync_table(rows: Rows) -> list[str]:
    """The wan group's first header syncs and resyncs: one line per RTT and size, each row's
    median wall (or why there is none); nothing if they did not run."""
    keys = sorted(
        {(int(m.group(1)), size) for (size, name) in rows.by_key
         if (m := WAN_ROW.match(name)) is not None and m.group(2) == WAN_SYNC_COLUMNS[0][0]}
    )  # fmt: skip
    if not keys:
        return []
    out = [
        "",
        "## Over a WAN: first header sync and resync (issue 17)",
        "",
        "Median wall seconds of the `wan<RTT>-` whole-process rows (the N sections below have "
        "each row, its check and the connections it made through the proxy).",
        "",
        "| RTT | N | " + " | ".join(heading for _, heading in WAN_SYNC_COLUMNS) + " |",
        "|---:|---:|" + "---:|" * len(WAN_SYNC_COLUMNS),
    ]
    for ms, size in keys:
        cells = []
        for what, _ in WAN_SYNC_COLUMNS:
            row = rows.get(size, f"wan{ms}-{what}")
            if row is None:
                cells.append("not run")
            elif not row.measured:
                cells.append(f"**{'FAILED' if row.status == 'measured' else row.status}**")
            else:
                taken = row.measurement
                assert taken is not None and taken.wall is not None
                # A slow row (first run over 20 s) is its counted runs, not a median of --runs.
                runs = f"{len(taken.runs)} run{'s' if len(taken.runs) != 1 else ''}"
                cells.append(f"{taken.wall:.3f}" + (f" ({runs})" if taken.slow else ""))
        out.append(f"| {ms} ms | {size} | " + " | ".join(cells) + " |")
    return out


def _wan_musts(rows: Rows, sizes: Sequence[int]) -> list[Must]:
    """Issue 17: each must at each RTT the wan group ran, its row's median within the limit at
    every size."""
    rtts = sorted(
        {int(m.group(1)) for (_, name) in rows.by_key if (m := WAN_ROW.match(name)) is not None}
    )
    if not rtts:
        return [
            Must(17, f"WAN: {what}", NOT_EVALUATED, "wan was not run in this invocation")
            for _, _, _, _, what in WAN_MUSTS
        ]
    musts = []
    for ms in rtts:
        for what_row, per_rtt, extra, strict, what in WAN_MUSTS:
            limit = per_rtt * ms / 1000 + extra
            bound = f"{'under' if strict else 'at most'} {limit * 1000:.0f} ms"
            text = f"WAN, RTT {ms} ms: {what} ({bound})"
            name = f"wan{ms}-{what_row}"
            details = []
            verdict = PASS
            for size in sizes:
                row = rows.get(size, name)
                blocked = why_blocked([row], [name])
                if blocked:
                    verdict, detail = blocked
                    details = [f"N={size}: {detail}"]
                    break
                wall = row.measurement.wall  # type: ignore[union-attr]
                held = wall < limit if strict else wall <= limit
                details.append(f"N={size}: {wall * 1000:.0f} ms (median)")
                if not held:
                    verdict = FAIL
            musts.append(Must(17, text, verdict, ", ".join(details)))
    return musts


def _large_attachment_must(rows: Rows) -> Must:
    """A 50 MB attachment is sent (DATA and the Sent APPEND) within about 4x its size."""
    text = (
        f"SMTP: a {LARGE_ATTACHMENT_MIB:.0f} MB attachment is sent within about"
        f" {LARGE_MEMORY_FACTOR:g}x its size in memory"
    )
    large, idle = rows.named(LARGE_FLUSH_ROW), rows.named(IDLE_FLUSH_ROW)
    found = [large[0] if large else None, idle[0] if idle else None]
    blocked = why_blocked(found, [LARGE_FLUSH_ROW, IDLE_FLUSH_ROW])
    if blocked:
        return Must(5, text, *blocked)
    peak, base = (row.measurement.peak_mib for row in found)  # type: ignore[union-attr]
    added = (peak - base) / LARGE_ATTACHMENT_MIB
    verdict = PASS if added <= LARGE_MEMORY_FACTOR else FAIL
    detail = (
        f"peak {peak:.0f} MiB = {peak / LARGE_ATTACHMENT_MIB:.2f}x the attachment;"
        f" above an idle flush ({base:.0f} MiB): {added:.2f}x"
    )
    return Must(5, text, verdict, detail)


def _ui_musts(rows: Rows) -> list[Must]:
    """Issue 6: each time row's median under its limit; the peak RSS of every tuimail run
    (taken at the end of the run, and at the first page) under UI_MEMORY_MB."""
    found = rows.named("tuimail-ui-")
    size = found[0].size if found else None
    at = f" (N={size})" if size is not None else ""
    musts: list[Must] = []
    for name, limit, what in UI_TIME_MUSTS:
        text = f"100k terminal: {what} under {limit * 1000:g} ms{at}"
        row = rows.get(size, name) if size is not None else None
        blocked = why_blocked([row], [name])
        if blocked:
            musts.append(Must(6, text, *blocked))
            continue
        wall = row.measurement.wall  # type: ignore[union-attr]
        verdict = PASS if wall < limit else FAIL
        musts.append(Must(6, text, verdict, f"{name}: {wall * 1000:.1f} ms (median)"))
    text = f"100k terminal: peak memory under {UI_MEMORY_MB:g} MB{at}"
    peaks = [run.peak_mib for row in found if row.measurement for run in row.measurement.runs]
    if not peaks:
        verdict = FAIL if found else NOT_EVALUATED
        musts.append(Must(6, text, verdict, "no tuimail run" if found else "ui was not run"))
        return musts
    peak_mb = max(peaks) * 1024 * 1024 / 1e6
    verdict = PASS if peak_mb < UI_MEMORY_MB else FAIL
    musts.append(Must(6, text, verdict, f"largest VmHWM of any run: {peak_mb:.0f} MB"))
    return musts


def _ui_note(result: SizeResult) -> list[str]:
    """How the ui rows (bench/ui.py) were measured, under their table."""
    if not any(row.name.startswith("tuimail-ui-") for row in result.rows):
        return []
    return [
        "",
        "The rows above are the 100k terminal benchmark (`bench/ui.py`, no servers): the corpus "
        "in a maildir for neomutt, and stored headers-only through tuimail's ingest as an IMAP "
        "account after its first sync; tuimail runs with `--offline`. Each run is a fresh tmux "
        "(160x50, TERM=xterm-256color); times run from the tmux session's start (first page) or "
        "from sending the key to the first screen read that shows the expected rows, read over "
        "a tmux control client (a read costs well under a millisecond, so figures of a few ms "
        "carry that much error). wall = the time; cpu and peak RSS are the program's own from "
        "/proc (at the first page for first-page rows, at the end of the run otherwise). The "
        "PageDown rows are the median of each run's per-page median.",
    ]


def _wan_note(result: SizeResult) -> list[str]:
    """How the wan rows (bench/wan.py) were measured, under their table."""
    if not any(WAN_ROW.match(row.name) for row in result.rows):
        return []
    return [
        "",
        "The wan<RTT>-rows run every connection of the program measured through a latency proxy "
        "(`bench/latency.py`: RTT/2 added each way, chunks delayed in flight, not one after "
        "another) to the same Dovecot (IMAPS) and Postfix (submission). Screen rows: the app (or "
        "neomutt) in a fresh tmux at 160x50, its store prepared untimed by `tuimail sync` "
        "straight to Dovecot; the time runs from sending the keys (or from the server's OK to "
        "the bench's own APPEND, or from the end of the outage) to the first screen read that "
        "shows the result, or to the moment a direct IMAP session sees the flag, or Postfix's "
        "log shows the message queued. cpu and peak RSS of a screen row are the program's, "
        "from /proc, since it started. Connections: every connection through the proxies "
        "during the row (each one logs in; TLS hides the LOGIN itself).",
    ]


# --- the report -----------------------------------------------------------------------------------
def _command_output(command: Sequence[str]) -> str:
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return ""
    return (result.stdout or result.stderr).strip()


def versions() -> list[str]:
    """Versions of every program and library involved."""
    lines = [f"Python {platform.python_version()}"]
    for package in PYTHON_PACKAGES:
        try:
            lines.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{package}: not installed")
    for package in DEBIAN_PACKAGES:
        version = _command_output(["dpkg-query", "-W", "-f=${Version}", package])
        lines.append(f"{package} {version or '(not installed)'} (Debian)")
    lines.append("dovecot " + _command_output(["dovecot", "--version"]))
    lines.append("offlineimap " + _command_output(["offlineimap", "--version"]))
    return lines


def machine() -> str:
    """Cores, memory, processor and system, in one line."""
    memory = "?"
    cpu = platform.processor() or "?"
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
        memory = f"{kib / 1024 / 1024:.1f} GiB"
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
    except (OSError, AttributeError):
        pass
    system = platform.platform()
    debian = Path("/etc/debian_version")
    if debian.exists():
        system = f"Debian {debian.read_text().strip()}, Linux {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {memory} memory, {system}"


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _ratios(rows: Rows, row: Row) -> str:
    if not row.measured:
        return ""
    peers = COMPARED_WITH.get(row.name, ())
    wan = WAN_ROW.match(row.name)
    if wan is not None:  # the peers at the same RTT
        peers = tuple(f"wan{wan.group(1)}-{p}" for p in WAN_COMPARED_WITH.get(wan.group(2), ()))
    if row.name.startswith("tuimail-outbox-flush-x"):
        peers = tuple(r.name for r in rows.named("") if r.name.startswith(SEND_PEERS))
    parts = []
    for peer in peers:
        other = rows.get(row.size, peer)
        if other is not None and other.measured:
            ratio = row.measurement.wall / other.measurement.wall  # type: ignore[union-attr]
            parts.append(f"{ratio:.2f}x {peer}")
    return ", ".join(parts)


def _table(rows: Rows, result: SizeResult) -> list[str]:
    lines = [
        "| row | what | msgs | wall s | msgs/s | cpu s | peak RSS MiB | tuimail / peer | runs "
        "| check |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in result.rows:
        m = row.measurement
        if row.status != "measured" or m is None:
            lines.append(
                f"| {row.name} | {row.label} | {row.messages} | – | – | – | – | | "
                f"**{row.status}** | {row.check} |"
            )
            continue
        rate = f"{row.messages / m.wall:.0f}" if row.messages and m.wall else "–"
        check = ("ok: " if row.ok else "**FAILED**: ") + row.check
        lines.append(
            f"| {row.name} | {row.label} | {row.messages} | {_fmt(m.wall, '.3f')} | {rate} | "
            f"{_fmt(m.cpu, '.3f')} | {_fmt(m.peak_mib, '.1f')} | {_ratios(rows, row)} | "
            f"{m.how()} | {check} |"
        )
    return lines


def render(
    results: Sequence[SizeResult],
    musts: Sequence[Must],
    *,
    options: Options,
    arguments: Sequence[str],
    started: float,
) -> str:
    """RESULTS.md."""
    rows = Rows(results)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    command = " ".join(["bench/run", *arguments])
    out = [
        "# Benchmark results",
        "",
        f"Measured {when} with `{command}`, in {time.time() - started:.0f} s.",
        f"Machine: {machine()}.",
        "",
        "Dovecot and Postfix (`tests/support/mailservers.py`) and every client run on this one "
        "machine over loopback, with TLS on every connection; nothing is pinned to a CPU. Each "
        "row is a whole process: wall time, user+sys CPU of it and every child it waited for, and "
        "peak RSS of the largest single process (`bench/timeit.py`), the median of the counted "
        "runs. Full rows start from an empty local store (emptied untimed); +100 rows get 100 "
        "new messages appended untimed before each run. tuimail reads its password from a "
        "`password_command` (`printf`); the keyring path is not measured. The newest-page time "
        f"is watched from outside: while tuimail-sync-full runs, the bench polls the store "
        f"read-only every {WATCH_SECONDS * 1000:.0f} ms until the INBOX's newest "
        f"{NEWEST_PAGE} messages (highest UIDs) are in it, and takes the time from the spawn. "
        "Raw outputs: `N<size>/<row>.txt`.",
        "",
        "## Musts",
        "",
        "| issue | must | verdict | measured |",
        "|---:|---|---|---|",
    ]
    for must in musts:
        verdict = f"**{must.verdict}**" if must.verdict in (PASS, FAIL) else must.verdict
        out.append(f"| {must.issue} | {must.text} | {verdict} | {must.detail} |")
    out += _wan_sync_table(rows)
    for result in results:
        out += ["", f"## {result.heading or f'N = {result.size}'}", ""]
        if result.corpus is not None:
            c = result.corpus
            out += [f"Corpus (alice, seed 20240601; INBOX plus subfolders): {c.summary()}.", ""]
        wan_only = result.rows and all(WAN_ROW.match(row.name) for row in result.rows)
        if wan_only and result.size not in options.sizes:
            out += [
                "Only the wan group's first header sync and resync rows run at this size "
                "(`--wan-sync-sizes`); its screen rows run at `--sizes`.",
                "",
            ]
        out += _table(rows, result)
        out += _ui_note(result)
        out += _wan_note(result)
        out += result.notes
    out += ["", "## Versions", ""]
    out += [f"- {line}" for line in versions()]
    return "\n".join(out) + "\n"


def as_json(results: Sequence[SizeResult], musts: Sequence[Must]) -> dict[str, Any]:
    """The same figures, for scripts."""
    rows = []
    for result in results:
        for row in result.rows:
            m = row.measurement
            rows.append(
                {
                    "size": row.size,
                    "name": row.name,
                    "messages": row.messages,
                    "status": row.status,
                    "ok": row.ok,
                    "check": row.check,
                    "wall": m.wall if m else None,
                    "cpu": m.cpu if m else None,
                    "peak_mib": m.peak_mib if m else None,
                    "watched": m.watched if m else None,
                    "connections": row.connections,
                    "runs": [asdict(run) for run in m.runs] if m else [],
                }
            )
    figures = [{"size": r.size, **r.figures} for r in results if r.figures]
    return {
        "argv": sys.argv[1:],
        "rows": rows,
        "figures": figures,
        "musts": [asdict(must) for must in musts],
    }
