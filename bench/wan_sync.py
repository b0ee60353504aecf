"""The wan group's whole-process rows: the first header sync of the INBOX and a resync with
nothing new, through the latency proxy, beside mbsync's and neomutt's (see bench/wan.py).

They run at each size of ``--wan-sync-sizes`` (10000 by default: the issue's "first header sync
of 10k"), apart from the screen rows, which run at ``--sizes``. Each is timed as every other
whole-process row (bench/timeit.py, bounded by ``--timeout``); neomutt's first page by
bench/neomutt.py (bounded by NEOMUTT_TIMEOUT).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import neomutt
from bench.timeit import Measurement

if TYPE_CHECKING:
    from bench.bench import Row
    from bench.wan import WanRun

ACCOUNT = "bench"
NEOMUTT_TIMEOUT = 300.0  # seconds for neomutt's first page of the INBOX, one run


def sync_rows(wan: WanRun) -> None:
    """First header sync of the INBOX and a resync with nothing new, each through the proxy:
    tuimail (no bodies), mbsync (its sync stores whole messages), neomutt's first open."""
    run, size = wan.run, wan.run.size
    ms = round(wan.rtt * 1000)
    config, policy = wan.none_config("tuimail-sync.toml")
    data = wan.work / "tm-sync"
    sync = run.tuimail_command(config, data, "sync", ACCOUNT, "--folder", "INBOX")
    headers = run.store_check(data, bodies=False)
    counted(
        wan, run.row, wan.name("tuimail-sync-headers-full"),
        f"RTT {ms} ms: tuimail sync --folder INBOX, first header sync ({policy})", size,
        sync, headers, prepare=run.fresh(data),
    )  # fmt: skip
    counted(
        wan, run.row, wan.name("tuimail-sync-noop"),
        f"RTT {ms} ms: tuimail sync --folder INBOX, resync, nothing new", 0, sync, headers,
    )  # fmt: skip
    shutil.rmtree(data, ignore_errors=True)
    store = wan.work / "mb"
    rc = run.render("mbsyncrc", wan.work / "mbsyncrc", store=store, imaps_port=wan.imap_proxy.port)
    mbsync: list[str | Path] = ["mbsync", "-q", "-c", rc, "bench"]
    stored = run.stored(store / "INBOX" / "cur", store / "INBOX" / "new", expect=run.inbox_count)
    counted(
        wan, run.row, wan.name("mbsync-full"),
        f"RTT {ms} ms: mbsync, first sync (whole messages: mbsync has no header-only mode)",
        size, mbsync, stored, prepare=run.fresh(store),
    )  # fmt: skip
    counted(
        wan, run.row, wan.name("mbsync-noop"), f"RTT {ms} ms: mbsync, resync, nothing new", 0,
        mbsync, stored,
    )  # fmt: skip
    shutil.rmtree(store, ignore_errors=True)
    counted(wan, neomutt_first_page_row, wan)


def counted(wan: WanRun, make_row: Callable[..., Row], *args: Any, **kwargs: Any) -> None:
    """Run a whole-process row (``make_row(*args, **kwargs)``) and note the connections it made
    through the proxies."""
    before = wan.connections()
    row = make_row(*args, **kwargs)
    row.connections = wan.connections() - before
    m = row.measurement
    runs = (m.warmups + len(m.runs)) if m is not None else 0
    row.check += (
        f"; {row.connections} connections through the proxy in {runs} runs (warm-up included)"
    )


def neomutt_first_page_row(wan: WanRun) -> Row:
    """neomutt's first open of the INBOX (no header cache), until the index is drawn."""
    run = wan.run
    store = wan.work / "nm"
    store.mkdir(exist_ok=True)
    rc = run.render(
        "neomuttrc", wan.work / "neomuttrc", store=store, imaps_port=wan.imap_proxy.port
    )
    name = wan.name("neomutt-first-page")
    print(f">>> N={run.size} {name}", file=sys.stderr, flush=True)
    measurement = Measurement(command=["neomutt", "-n", "-F", str(rc)], warmups=0)
    error = ""
    for number in wan.runs():
        try:
            result = neomutt.first_page(rc, run.size, timeout=NEOMUTT_TIMEOUT)
        except neomutt.FAILURES as failure:
            error = str(failure).split("\n")[0]
            measurement.timed_out = True
            break
        if number:
            measurement.runs.append(result)
        else:
            measurement.warmups = 1
    shutil.rmtree(store, ignore_errors=True)
    return run.record(
        name,
        f"RTT {round(wan.rtt * 1000)} ms: neomutt, first open of the INBOX (no header cache) "
        "until the index is drawn",
        run.size,
        measurement,
        lambda: (not error, error or f"index drawn with Msgs:{run.size}"),
    )
