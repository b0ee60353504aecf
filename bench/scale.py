"""The million-message scale row (issue 19): a generated corpus imported through the command
line, then the app on the store that made.

The corpus: ``--scale-messages`` messages (1,000,000 by default) from bench/make_corpus.py's
generator, the INBOX alone (threads, 120 senders, sizes, HTML and attachments as in every other
row), written into a maildir once; ``--scale-corpus DIR`` keeps it for later invocations. Then,
every invocation:

1. ``tuimail import --maildir`` into a local account's INBOX, from an empty store, timed as a
   whole process (bench/timeit.py), one run: messages/s and peak RSS.
2. The store's size on disk against the raw mail (the maildir's files), by b-tree when SQLite has
   the ``dbstat`` table.
3. The app on that store in a fresh tmux per run (bench/terminal.py), as bench/ui.py's rows:
   first paint, PageDown, End (the oldest message), four searches (a rare word, a common word,
   a phrase, ``from:``; each until the count and the results' first page are on the screen),
   threads turned on (``t``), peak RSS.
4. ``tuimail search COMMON_WORD`` on the command line, timed as a whole process.

The musts of issue 19 are judged at 1,000,000 messages (the store's size at 100,000); at other
sizes their figures are reported as "not checked at this size".
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import NOT_MEASURED
from bench.scale_corpus import (
    ACCOUNT,
    FOLDER,
    ScaleCorpus,
    breakdown,
    btree_bytes,
    build_corpus,
    corpus_directory,
    page_totals,
    store_bytes,
)
from bench.scale_musts import APP_ROW, IMPORT_ROW, ISSUE, PREFIX
from bench.terminal import Terminal, TerminalError
from bench.timeit import Measurement, measure
from bench.ui import (
    PAGES,
    SETTLE_SECONDS,
    ListModel,
    ListRow,
    UiRun,
    counted_runs,
    end_figures,
    measurement,
    page_marker,
    screen_row,
    timed_key,
    visible_rows,
)

if TYPE_CHECKING:
    from bench.bench import Options, Row, SizeResult
    from tuimail.store.conversations import ThreadHead

COMMON_WORD = "release"  # in most messages' bodies (the generator's words are all common)
PHRASE = '"release build"'  # in about one message in 20
RARE_MAX_HITS = 50  # a "rare word" matches at most this many messages
CLI_SEARCH_ROW = PREFIX + "cli-search"
# The import's bound: --timeout, or this many seconds per message when that is longer (a
# million messages at 100 a second, well below what was measured, still finish).
IMPORT_SECONDS_PER_MESSAGE = 0.01
SCREEN_TIMEOUT = 120.0  # seconds for one screen to show what a key brought (a search, threads)


# --- what is searched ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One search: what is typed, and the ids the app shows for it (newest first)."""

    kind: str
    text: str
    hits: list[int]


SUBJECT_NUMBER = re.compile(r"#(\d+)$")


def subject_number(subject: str) -> str | None:
    """The number a generated subject ends with ("Réunion demain à 10h #1234" -> "1234"): the
    message's number, so a word that only its thread's subjects have."""
    found = SUBJECT_NUMBER.search(subject.strip())
    return found.group(1) if found else None


def from_query(email: str) -> str:
    """A `from:` search for the sender's address (its part before the @)."""
    return "from:" + email.partition("@")[0]


def found_count(screen: str, text: str) -> str | None:
    """The count the app's title shows for a search for `text` ("K found for 'TEXT'"), or None
    if it does not show that search."""
    found = re.search(r"(\S+) found for " + re.escape(repr(text)), screen)
    return found.group(1) if found else None


def rare_query(model: ListModel, chunk: int = 500, tries: int = 50) -> Query:
    """A word with 1 to RARE_MAX_HITS hits: the number of the newest generated subject that
    ends with one (its thread's messages have it)."""
    from tuimail.store import read

    seen: set[str] = set()
    for start in range(0, len(model.ids), chunk):
        for row in read.rows(model.conn, model.ids[start : start + chunk]):
            number = subject_number(row.envelope.subject)
            if number is None or number in seen:
                continue
            seen.add(number)
            hits = model.search(number)
            if 1 <= len(hits) <= RARE_MAX_HITS:
                return Query("rare", number, hits)
            if len(seen) >= tries:
                raise RuntimeError(f"no subject number with 1 to {RARE_MAX_HITS} hits")
    raise RuntimeError("no generated subject ends with a number")


def queries(model: ListModel) -> list[Query]:
    """The four searches of a run, with their hits (untimed, from the store)."""
    from tuimail.store import read

    newest = read.rows(model.conn, model.ids[:1])[0]
    sender = from_query(newest.envelope.from_[0].email)
    found = [rare_query(model)]
    for kind, text in (("common", COMMON_WORD), ("phrase", PHRASE), ("from", sender)):
        hits = model.search(text)
        if not hits:
            raise RuntimeError(f"{text!r} matches nothing")
        found.append(Query(kind, text, hits))
    return found


def threaded_rows(model: ListModel, heads: Sequence[ThreadHead], height: int) -> list[ListRow]:
    """Rows of the threaded list's first page that tell it from the plain list: its first and
    last, and the first closed conversation (``▸ SUBJECT``, which only threads show)."""
    page = heads[:height]
    rows = model.rows(range(len(page)), [head.message_id for head in page])
    shown = [
        replace(row, subject=("▸ " + row.subject)[:20]) if head.count > 1 else row
        for row, head in zip(rows, page, strict=True)
    ]
    closed = [row for row, head in zip(shown, page, strict=True) if head.count > 1]
    return [shown[0], shown[-1], *closed[:1]]


# --- runs ----------------------------------------------------------------------------------------


@dataclass
class ScaleRun(UiRun):
    """One run's figures: bench/ui.py's, and the searches (by kind) and threads on."""

    searches: dict[str, float] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # the count each search's title showed
    threads: float | None = None

    def summary(self) -> str:
        """One line for the log."""
        parts = [super().summary()]
        parts += [f"search {kind} {took:.4f} s" for kind, took in self.searches.items()]
        if self.threads is not None:
            parts.append(f"threads {self.threads:.4f} s")
        return ", ".join(parts)


def _search(terminal: Terminal, model: ListModel, query: Query, height: int) -> tuple[float, str]:
    """`/` and the query (untimed), then Enter timed until the title shows the count for it and
    the results' first page is on the screen; then escape, back to the folder (untimed)."""
    time.sleep(SETTLE_SECONDS)
    terminal.keys("/")
    opened = re.compile(r"Search \S.* \(words")
    terminal.wait_for(lambda s: opened.search(s) is not None, what="the search line", timeout=60)
    terminal.keys(query.text, literal=True)
    typed = re.compile(r"Search \S.*: " + re.escape(query.text))
    terminal.wait_for(lambda s: typed.search(s) is not None, what=f"typed {query.text}")
    shown = model.rows([0, min(height, len(query.hits)) - 1], query.hits)

    def results(screen: str) -> bool:
        return found_count(screen, query.text) is not None and all(r.on(screen) for r in shown)

    what = f"the results for {query.text!r}"
    took = timed_key(terminal, "Enter", results, what, timeout=SCREEN_TIMEOUT)
    count = found_count(terminal.screen(), query.text) or "?"
    newest = model.rows([0])[0]
    terminal.keys("Escape")
    terminal.wait_for(
        lambda s: "found for" not in s and newest.on(s),
        what="the folder again",
        timeout=SCREEN_TIMEOUT,
    )
    return took, count


def scale_run(
    tuimail: Path,
    corpus: ScaleCorpus,
    model: ListModel,
    searches: Sequence[Query],
    heads: Sequence[ThreadHead],
) -> ScaleRun:
    """One run of the app in a fresh terminal (see the module docstring)."""
    run = ScaleRun()
    command = (
        f"exec '{tuimail}' --config '{corpus.config}' --data-dir '{corpus.data_dir}' --offline"
    )
    newest = model.rows([0])[0]
    oldest = model.rows([len(model.ids) - 1])[0]
    with Terminal(command) as terminal:
        try:
            started = terminal.start()
            seen, _ = terminal.wait_for(newest.on, what=f"the newest row {newest}")
            run.first_page = seen - started
            run.first_cpu, run.first_peak = terminal.figures()
            time.sleep(SETTLE_SECONDS)  # counted on a settled screen
            screen = terminal.screen()
            height = visible_rows(model, screen)
            if height < 3:
                raise TerminalError(f"the list shows {height} rows:\n{screen}")
            # PAGES, or as many whole pages as a small corpus has below the first.
            for page in range(1, min(PAGES, (len(model.ids) - height) // (height - 1)) + 1):
                marker = page_marker(model, page, height)
                run.pages.append(timed_key(terminal, "PageDown", marker.on, f"page {page}"))
            run.last = timed_key(terminal, "End", oldest.on, f"the oldest row {oldest}")
            for query in searches:
                run.searches[query.kind], run.shown[query.kind] = _search(
                    terminal, model, query, height
                )
            # The list is at its top again (escape from the search): threads on.
            wanted = threaded_rows(model, heads, height)

            def threaded(screen: str) -> bool:
                return "conversations by" in screen and all(row.on(screen) for row in wanted)

            what = "the conversations' first page"
            run.threads = timed_key(terminal, "t", threaded, what, timeout=SCREEN_TIMEOUT)
        except (TimeoutError, TerminalError, RuntimeError) as error:
            run.error = str(error)
        run.cpu, run.peak = end_figures(terminal)
    return run


# --- rows ----------------------------------------------------------------------------------------


def _process_row(
    row_type: type[Row],
    size: int,
    name: str,
    label: str,
    messages: int,
    m: Measurement,
    check: Callable[[], tuple[bool, str]],
    raw: Path,
    log: Path,
) -> Row:
    """A whole-process row: its check, exit status 0, and its raw figures with the output's
    tail."""
    row = row_type(size, name, label, messages, m)
    try:
        row.ok, row.check = check()
    except Exception as error:  # a broken check is reported in the row, not a crash
        row.ok, row.check = False, f"check failed: {error!r}"
    bad = [code for code in m.exit_codes if code != 0]
    if m.timed_out or not m.runs:
        row.ok, row.check = False, f"timed out or no run finished; {row.check}"
    elif bad:
        row.ok, row.check = False, f"exit {bad}; {row.check}"
    text = m.report() + f"check: {'ok' if row.ok else 'FAILED'}: {row.check}\n"
    if log.exists():
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - 4000))
            text += "--- output of the runs (the end) ---\n" + handle.read().decode(
                errors="replace"
            )
    (raw / f"{name}.txt").write_text(text)
    wall = f"{m.wall:.3f} s" if m.wall is not None else "-"
    print(f"    {name}: {wall}  {'ok' if row.ok else 'FAILED'}: {row.check}", file=sys.stderr)
    return row


def count_lines(path: Path) -> int:
    """Lines in a file, read in blocks."""
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def run_group(options: Options) -> SizeResult:
    """The scale rows at --scale-messages: the corpus (built or reused), the import, the store's
    size, the app's runs (one warm-up, then --runs) and the command line's search."""
    from bench.bench import Row, SizeResult, store_counts, tuimail_commands

    size = options.scale_messages
    result = SizeResult(size, heading=f"N = {size}: the scale row (issue {ISSUE})")
    raw = options.results / f"N{size}-scale"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    temporary = None if options.scale_corpus else Path(tempfile.mkdtemp(prefix="tuimail-scale-"))
    kept = corpus_directory(options)
    directory = kept if kept is not None else Path(str(temporary)) / f"scale-{size}"
    tuimail = Path(sys.executable).parent / "tuimail"
    started = time.monotonic()
    phases: list[str] = []
    corpus: ScaleCorpus | None = None
    try:
        print(f">>> N={size} scale: corpus", file=sys.stderr, flush=True)
        corpus, built = build_corpus(directory, size)
        stats = corpus.stats
        made = f"built in {built:.0f} s" if built else "reused, built by an earlier invocation"
        phases.append(f"corpus {built:.0f} s" if built else "corpus reused")
        print(f"    {stats.summary()} ({made})", file=sys.stderr)
        result.figures |= {"raw_bytes": stats.total_bytes, "corpus_seconds": built}
        result.notes += [
            "",
            f"Corpus (seed 20240601, the INBOX alone, {made}): {stats.summary()}. Imported "
            f"with `tuimail import --maildir DIR {ACCOUNT}/{FOLDER}` into a local account, from "
            "an empty store, one run.",
        ]
        if "import" not in tuimail_commands(tuimail):
            row = Row(
                size, IMPORT_ROW, "tuimail import --maildir", size, status="not implemented yet"
            )
            row.check = "`tuimail import` is not in `tuimail --help`"
            result.rows.append(row)
            return result
        step = time.monotonic()
        imported = _import_row(Row, options, corpus, raw, store_counts)
        result.rows.append(imported)
        phases.append(f"import {time.monotonic() - step:.0f} s")
        if not imported.ok:
            return result
        step = time.monotonic()
        _store_figures(result, corpus)
        phases.append(f"store's size {time.monotonic() - step:.0f} s")
        step = time.monotonic()
        try:
            screens, searches = _screen_rows(Row, options, corpus, raw, tuimail)
        except (RuntimeError, OSError, sqlite3.Error) as error:  # the store, not a screen
            row = Row(size, APP_ROW, "tuimail on the imported store", 0, ok=False)
            row.status, row.check = NOT_MEASURED, f"could not prepare the runs: {error}"
            result.rows.append(row)
            return result
        result.rows += screens
        phases.append(f"the app's runs {time.monotonic() - step:.0f} s")
        step = time.monotonic()
        common = next(len(query.hits) for query in searches if query.kind == "common")
        result.rows.append(_cli_search_row(Row, options, corpus, raw, tuimail, common))
        phases.append(f"command-line search {time.monotonic() - step:.0f} s")
    finally:
        took = time.monotonic() - started
        result.figures["group_seconds"] = took
        result.notes += ["", f"The group took {took:.0f} s: {', '.join(phases)}."]
        if corpus is not None and not options.keep:
            shutil.rmtree(corpus.data_dir, ignore_errors=True)
        if temporary is not None and not options.keep:
            shutil.rmtree(temporary, ignore_errors=True)
        elif options.keep or options.scale_corpus:
            print(f"kept {directory}", file=sys.stderr)
    return result


def _import_row(
    row_type: type[Row],
    options: Options,
    corpus: ScaleCorpus,
    raw: Path,
    store_counts: Callable[[Path, str], tuple[int, int]],
) -> Row:
    size = corpus.size
    tuimail = Path(sys.executable).parent / "tuimail"
    command = [str(tuimail), "--config", str(corpus.config), "--data-dir", str(corpus.data_dir),
               "import", "--maildir", str(corpus.maildir), f"{ACCOUNT}/{FOLDER}"]  # fmt: skip
    log = corpus.directory / "import.log"
    log.unlink(missing_ok=True)

    def empty_store() -> None:
        shutil.rmtree(corpus.data_dir, ignore_errors=True)

    print(f">>> N={size} {IMPORT_ROW}", file=sys.stderr, flush=True)
    m = measure(
        command,
        runs=1,
        warmup=0,
        timeout=max(options.timeout, size * IMPORT_SECONDS_PER_MESSAGE),
        prepare=empty_store,
        log=log,
        watch=_all_stored(corpus.data_dir, size),
    )

    def check() -> tuple[bool, str]:
        total, bodies = store_counts(corpus.data_dir, FOLDER)
        return total == bodies == size, f"store INBOX {total}, bodies {bodies} (maildir {size})"

    label = "tuimail import --maildir, an empty store (one run)"
    return _process_row(row_type, size, IMPORT_ROW, label, size, m, check, raw, log)


def _all_stored(data_dir: Path, size: int) -> Callable[[], bool]:
    """A watch: the store's INBOX holds `size` messages (each imported with its body), read from
    the folder's count (kept by a trigger: a million rows are not counted at every poll). The
    import goes on to make them searchable; the row's wall is "all searchable"."""
    path = data_dir / "tuimail.db"

    def stored() -> bool:
        if not path.exists():
            return False
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            row = conn.execute("SELECT total FROM folders WHERE name = ?", (FOLDER,)).fetchone()
            return row is not None and int(row[0]) >= size
        finally:
            conn.close()

    return stored


def _store_figures(result: SizeResult, corpus: ScaleCorpus) -> None:
    """The store's size against the raw mail, and by b-tree (untimed; dbstat reads the whole
    file)."""
    database = corpus.data_dir / "tuimail.db"
    raw_bytes = corpus.stats.total_bytes
    on_disk = store_bytes(corpus.data_dir)
    pages, free = page_totals(database)
    ratio = on_disk / raw_bytes
    result.figures |= {"store_bytes": on_disk, "store_ratio": ratio, "free_page_bytes": free}
    print(f"    store {on_disk / 1e6:.1f} MB = {ratio:.2f}x the raw mail", file=sys.stderr)
    started = time.monotonic()
    btrees = btree_bytes(database)
    took = time.monotonic() - started
    by_btree = "This SQLite has no dbstat table: no breakdown by table."
    if btrees is not None:
        by_btree = f"By table and index (SQLite's dbstat, read in {took:.0f} s): "
        by_btree += breakdown(btrees, raw_bytes) + "."
    result.notes += [
        "",
        f"Store on disk after the import: {on_disk / 1e6:.1f} MB (the database and its WAL) "
        f"= {ratio:.2f}x the raw mail ({raw_bytes / 1e6:.1f} MB, the maildir's files); pages "
        f"{pages / 1e6:.1f} MB, of which free {free / 1e6:.1f} MB. {by_btree}",
    ]


def _screen_rows(
    row_type: type[Row], options: Options, corpus: ScaleCorpus, raw: Path, tuimail: Path
) -> tuple[list[Row], list[Query]]:
    """The app's rows, from the same runs; and the searches they made."""
    from tuimail.store import conversations, read
    from tuimail.store.db import open_store

    conn = open_store(corpus.data_dir)
    try:
        account = read.account_id(conn, ACCOUNT)
        folder = read.find_folder_as_named(conn, account, FOLDER) if account else None
    finally:
        conn.close()
    if folder is None:
        raise RuntimeError(f"the store has no {ACCOUNT}/{FOLDER}")
    print(f">>> N={corpus.size} scale: the app", file=sys.stderr, flush=True)
    model = ListModel(corpus.data_dir, folder_id=folder.id)
    try:
        searches = queries(model)
        heads = conversations.thread_heads(model.conn, [folder.id])
        runs = counted_runs(
            options.runs, lambda: scale_run(tuimail, corpus, model, searches, heads)
        )
    finally:
        model.close()
    command = f"tuimail --offline ({len(model.ids)} messages, {len(heads)} conversations)"
    rows = []
    screens: tuple[tuple[str, str, Callable[[ScaleRun], float | None], str], ...] = (
        ("first-page", "tuimail --offline: start -> newest message's row on screen",
         lambda r: r.first_page, ""),
        ("pgdn", f"tuimail: PageDown, per page (median of up to {PAGES} pages a run)",
         lambda r: r.page, ""),
        ("last", "tuimail: End -> oldest message's row on screen", lambda r: r.last, ""),
    )  # fmt: skip
    for query in searches:
        shown = sorted({run.shown[query.kind] for run in runs if query.kind in run.shown})
        label = (
            f"tuimail: / {query.text} Enter ({query.kind}, {len(query.hits)} hits) -> the count "
            "and the results' first page on screen"
        )
        detail = f"the title said {' / '.join(shown) or '?'} found; the store has {len(query.hits)}"
        screens += ((f"search-{query.kind}", label, _search_pick(query.kind), detail),)
    screens += (
        ("threads", "tuimail: t (threads on) -> the conversations' first page on screen",
         lambda r: r.threads, ""),
    )  # fmt: skip
    for kind, label, pick, detail in screens:
        name = PREFIX + kind
        m = measurement(command, runs, pick, first=kind == "first-page")
        rows.append(screen_row(row_type, corpus.size, name, label, m, runs, raw, detail))
    return rows, searches


def _search_pick(kind: str) -> Callable[[ScaleRun], float | None]:
    """A run's time for the search of this kind."""
    return lambda run: run.searches.get(kind)


def _cli_search_row(
    row_type: type[Row],
    options: Options,
    corpus: ScaleCorpus,
    raw: Path,
    tuimail: Path,
    hits: int,
) -> Row:
    """`tuimail search COMMON_WORD`, its output into a file: every hit, one line each."""
    output = corpus.directory / "search.out"
    log = corpus.directory / "search.log"
    log.unlink(missing_ok=True)
    # sh only redirects the output and then becomes tuimail: the figures are tuimail's.
    command = ["sh", "-c", f"exec \"$0\" \"$@\" > '{output}'", str(tuimail),
               "--config", str(corpus.config), "--data-dir", str(corpus.data_dir),
               "search", COMMON_WORD]  # fmt: skip
    print(f">>> N={corpus.size} {CLI_SEARCH_ROW}", file=sys.stderr, flush=True)
    m = measure(
        command, runs=options.runs, slow_runs=options.slow_runs, timeout=options.timeout, log=log
    )

    def check() -> tuple[bool, str]:
        lines = count_lines(output)
        return lines == hits, f"{lines} lines, one per message found (the store has {hits})"

    label = f"tuimail search {COMMON_WORD} (every hit, output to a file)"
    row = _process_row(row_type, corpus.size, CLI_SEARCH_ROW, label, 0, m, check, raw, log)
    output.unlink(missing_ok=True)
    return row
