"""The 100k-message terminal benchmark (issue #6): tuimail's message list beside neomutt's index.

One corpus of ``--ui-messages`` messages (100,000 by default) from bench/make_corpus.py's
generator, written into a maildir (read by neomutt) and stored in a tuimail store from the same
files through tuimail's own ingest code (`tuimail.store.ingest.store_messages`), as an IMAP
account holds it after its first sync: headers, flags, INTERNALDATE, size and UID, no bodies. The
store is opened with ``tuimail --offline`` (no network worker; the account in the config is never
contacted). Building both is untimed and done once per invocation (or kept in ``--ui-corpus``).

Every run starts the program in a fresh tmux (bench/terminal.py) and reads the screen as it goes:

- tuimail: start -> the newest message's row on the screen (first page); then PageDown x K, each
  timed from sending the key to the screen showing the page below; End -> the oldest message's
  row; ``/`` + a word + Enter -> the result list and its count on the screen; peak RSS at the end.
- neomutt: start -> the index with ``Msgs:N`` (no header cache; then with the header cache the
  previous run left); End -> the last row; PageDown x K; peak RSS.

By hand: ``python -m bench.ui WORK_DIR [N]`` builds the corpus (if needed) and prints one run of
each.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench.make_corpus import WORDS, CorpusStats, Mailbox, write_corpus
from bench.terminal import Terminal, TerminalError
from bench.timeit import Measurement, Run

if TYPE_CHECKING:
    from bench.bench import Options, Row, SizeResult

UI_MESSAGES = 100_000
ACCOUNT = "bench"
ADDRESS = "alice@bench.invalid"
PAGES = 50  # PageDown presses per run
# Untimed pause before each timed key: the message view follows the cursor 60 ms after it rests
# (tuimail) and nothing else should still be painting when the next key is timed.
SETTLE_SECONDS = 0.25
INGEST_BATCH = 1000
# Maildir info flags -> IMAP flags (what Dovecot reports for them).
MAILDIR_FLAGS = {
    "S": "\\Seen",
    "F": "\\Flagged",
    "R": "\\Answered",
    "T": "\\Deleted",
    "D": "\\Draft",
}
STAMP = "corpus-complete"


@dataclass(frozen=True)
class UiCorpus:
    """The built corpus: the maildir, the tuimail store and config, and what the runs look for."""

    size: int
    directory: Path
    stats: CorpusStats

    @property
    def maildir(self) -> Path:
        """neomutt's mail (the INBOX is the maildir's top level)."""
        return self.directory / "Maildir"

    @property
    def data_dir(self) -> Path:
        """tuimail's data directory (the store)."""
        return self.directory / "tuimail-data"

    @property
    def config(self) -> Path:
        """tuimail's config: the account, never contacted (the app runs with --offline)."""
        return self.directory / "tuimail.toml"


# --- the corpus ----------------------------------------------------------------------------------


def build_corpus(directory: Path, size: int) -> UiCorpus:
    """The maildir and the tuimail store of `size` messages in `directory`, built unless a
    complete build of the same size is there already (untimed)."""
    stamp = directory / STAMP
    if stamp.exists() and stamp.read_text().split("\n")[0] == str(size):
        return UiCorpus(size, directory, _stats_from(stamp.read_text()))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    corpus_stats = UiCorpus(size, directory, CorpusStats(0, 0, 0, 0, 0))
    started = time.monotonic()
    mailbox = Mailbox(corpus_stats.maildir, os.getuid(), os.getgid(), ADDRESS)
    stats = write_corpus(mailbox, size)
    print(f"ui corpus: maildir {stats.summary()} in {time.monotonic() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    started = time.monotonic()
    stored = ingest_maildir(corpus_stats.maildir, corpus_stats.data_dir)
    print(f"ui corpus: {stored} messages stored through ingest in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)  # fmt: skip
    write_config(corpus_stats.config)
    corpus = UiCorpus(size, directory, stats)
    stamp.write_text(
        f"{size}\n{stats.count} {stats.total_bytes} {stats.median} {stats.p90} {stats.largest}\n"
    )
    return corpus


def _stats_from(text: str) -> CorpusStats:
    count, total, median, p90, largest = (int(n) for n in text.split("\n")[1].split())
    return CorpusStats(count, total, median, p90, largest)


def inbox_files(maildir: Path) -> list[Path]:
    """The INBOX's message files in UID order: the order the generator wrote them (the file
    names start with the timestamp and the message's number, as Dovecot would assign UIDs)."""
    files = [p for sub in ("cur", "new") for p in (maildir / sub).iterdir() if p.is_file()]
    return sorted(files, key=lambda p: (int(p.name.split(".")[0]), p.name))


def incoming(path: Path, uid: int) -> object:
    """What an IMAP header sync stores for one maildir file: the header (CRLF, as BODY[HEADER]
    returns it), the UID, the flags, INTERNALDATE (the mtime) and RFC822.SIZE (CRLF size)."""
    from tuimail.store.ingest import IncomingMessage

    data = path.read_bytes()
    end = data.find(b"\n\n")
    header = data if end < 0 else data[: end + 2]
    info = path.name.partition(":2,")[2]
    return IncomingMessage(
        header_bytes=header.replace(b"\n", b"\r\n"),
        uid=uid,
        flags=tuple(MAILDIR_FLAGS[f] for f in info if f in MAILDIR_FLAGS),
        internaldate=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        size=len(data) + data.count(b"\n"),
    )


def ingest_maildir(maildir: Path, data_dir: Path) -> int:
    """Store the maildir's INBOX in a fresh tuimail store as IMAP account ACCOUNT's INBOX,
    headers only, through `store_messages` in batches (as the IMAP engine does)."""
    from tuimail.core.model import FolderRole, Protocol
    from tuimail.store import write
    from tuimail.store.db import open_store
    from tuimail.store.ingest import store_messages

    data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_store(data_dir)
    try:
        account = write.ensure_account(conn, ACCOUNT, Protocol.IMAP)
        folder = write.upsert_folder(conn, account, "INBOX", delimiter="/", role=FolderRole.INBOX)
        write.update_folder_state(conn, folder, uidvalidity=1)
        files = inbox_files(maildir)
        for start in range(0, len(files), INGEST_BATCH):
            batch = files[start : start + INGEST_BATCH]
            store_messages(
                conn,
                folder,
                [incoming(path, start + i + 1) for i, path in enumerate(batch)],  # type: ignore[misc]
            )
        write.update_folder_state(conn, folder, uidnext=len(files) + 1)
        return len(files)
    finally:
        conn.close()


def write_config(path: Path) -> None:
    """A config with the IMAP account (port 9, discard: never contacted under --offline)."""
    from tuimail.config.load import load_config

    path.write_text(
        f'[accounts.{ACCOUNT}]\naddress = "{ADDRESS}"\npassword_command = "false"\n\n'
        f'[accounts.{ACCOUNT}.imap]\nhost = "127.0.0.1"\nport = 9\nsecurity = "tls"\n'
        'username = "alice"\n'
    )
    path.chmod(0o600)
    load_config(path, must_exist=True)  # fails here, not in the timed runs, if it is wrong


# --- what tuimail's list shows -------------------------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    """What identifies one row of tuimail's message list on the screen."""

    index: int
    date: str
    sender: str
    subject: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Rows with the same key cannot be told apart on the screen."""
        return (self.date, self.sender, self.subject)

    def pattern(self) -> re.Pattern[str]:
        """One screen line with the date, then the sender, then the subject (their starts)."""
        parts = (re.escape(self.date), re.escape(self.sender), re.escape(self.subject))
        return re.compile(".*".join(parts))

    def on(self, screen: str) -> bool:
        """Whether the row is on the screen."""
        return self.pattern().search(screen) is not None


@dataclass
class ListModel:
    """The INBOX as tuimail's list shows it (newest first), read from the store with the same
    functions the app uses; rows are read when asked for."""

    data_dir: Path
    ids: list[int] = field(default_factory=list)
    folder_id: int = 0  # 0: the store's first folder

    def __post_init__(self) -> None:
        from tuimail.store import read
        from tuimail.store.db import open_store

        self.conn = open_store(self.data_dir)
        self.folder_id = self.folder_id or read.folders(self.conn)[0].id
        self.ids = read.message_ids(self.conn, [self.folder_id])
        self.now = datetime.now().astimezone()

    def rows(self, indexes: Sequence[int], ids: Sequence[int] | None = None) -> list[ListRow]:
        """The list rows at these positions (of `ids`, default the folder's list)."""
        from tuimail.mail.sanitize import sanitize_line
        from tuimail.store import read
        from tuimail.ui.format import sender_text, short_date

        source = self.ids if ids is None else ids
        wanted = [source[i] for i in indexes]
        found = {row.id: row for row in read.rows(self.conn, wanted)}
        out = []
        for index, message_id in zip(indexes, wanted, strict=True):
            row = found[message_id]
            out.append(
                ListRow(
                    index,
                    short_date(row.envelope.date or row.sort_date, self.now),
                    sender_text(row.envelope.from_)[:8],
                    (sanitize_line(row.envelope.subject) or "(no subject)")[:20],
                )
            )
        return out

    def search(self, word: str) -> list[int]:
        """The ids the app's search shows for `word` in this folder, in order."""
        from tuimail.store import search

        return search.search(self.conn, word, folder_ids=[self.folder_id])

    def busiest_word(self) -> tuple[str, int]:
        """The corpus word (4 letters or more) that the most messages match."""
        counts = {w: len(self.search(w)) for w in sorted(set(WORDS)) if len(w) >= 4}
        word = max(counts, key=lambda w: (counts[w], w))
        return word, counts[word]

    def close(self) -> None:
        """Close the store connection."""
        self.conn.close()


def visible_rows(model: ListModel, screen: str, limit: int = 200) -> int:
    """How many list rows the screen shows (rows 0, 1, ... found on it, in order)."""
    count = 0
    for row in model.rows(range(min(limit, len(model.ids)))):
        if not row.on(screen):
            break
        count += 1
    return count


def page_marker(model: ListModel, page: int, height: int) -> ListRow:
    """A row that the list shows after `page` PageDowns and did not show before: the lowest one
    whose key differs from every row of the page before (PageDown moves by height - 1 rows)."""
    step = height - 1
    top, previous = page * step, (page - 1) * step
    last = min(top + height, len(model.ids)) - 1
    before = {
        row.key for row in model.rows(range(previous, min(previous + height, len(model.ids))))
    }
    new_rows = model.rows(range(top, last + 1))
    for row in reversed(new_rows):
        if row.key not in before:
            return row
    raise RuntimeError(f"page {page}: no row tells it from the page before")


# --- runs ----------------------------------------------------------------------------------------


@dataclass
class UiRun:
    """One run's figures (seconds, MiB); None where the run did not get that far."""

    first_page: float | None = None
    first_cpu: float = 0.0
    first_peak: float = 0.0
    last: float | None = None
    pages: list[float] = field(default_factory=list)
    search: float | None = None
    cpu: float = 0.0
    peak: float = 0.0
    error: str = ""

    @property
    def page(self) -> float | None:
        """Median seconds per PageDown."""
        return statistics.median(self.pages) if self.pages else None

    def summary(self) -> str:
        """One line for the log."""
        parts = [
            f"{name} {value:.4f} s"
            for name, value in (
                ("first page", self.first_page),
                ("end", self.last),
                ("page", self.page),
                ("search", self.search),
            )
            if value is not None
        ]
        parts.append(f"peak {max(self.peak, self.first_peak):.0f} MiB")
        if self.error:
            parts.append("ERROR " + self.error.split("\n")[0])
        return ", ".join(parts)


R = TypeVar("R", bound=UiRun)  # a run's figures: UiRun, or a group's own kind of them


def timed_key(
    terminal: Terminal,
    key: str,
    condition: Callable[[str], bool],
    what: str,
    *,
    timeout: float = 60,
) -> float:
    """After SETTLE_SECONDS untimed, send `key`: the seconds from sending it to the first read
    of the screen for which `condition` holds (TimeoutError after `timeout`)."""
    time.sleep(SETTLE_SECONDS)
    sent = time.monotonic()
    terminal.keys(key)
    seen, _ = terminal.wait_for(condition, what=what, timeout=timeout)
    return seen - sent


def tuimail_run(tuimail: Path, corpus: UiCorpus, model: ListModel, word: str) -> UiRun:
    """One run of tuimail in a fresh terminal (see the module docstring)."""
    run = UiRun()
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
            # Counted on a settled screen: the first read may catch the page half drawn.
            time.sleep(SETTLE_SECONDS)
            screen = terminal.screen()
            height = visible_rows(model, screen)
            if height < 3:
                raise TerminalError(f"the list shows {height} rows:\n{screen}")
            for page in range(1, PAGES + 1):
                marker = page_marker(model, page, height)
                run.pages.append(timed_key(terminal, "PageDown", marker.on, f"page {page}"))
            run.last = timed_key(terminal, "End", oldest.on, f"the oldest row {oldest}")
            run.search = _search(terminal, model, word, height)
        except (TimeoutError, TerminalError, RuntimeError) as error:
            run.error = str(error)
        run.cpu, run.peak = end_figures(terminal)
    return run


def end_figures(terminal: Terminal) -> tuple[float, float]:
    """The program's CPU and peak RSS at the end of a run ((0, 0) if it has exited)."""
    try:
        return terminal.figures()
    except OSError:
        return 0.0, 0.0


def _search(terminal: Terminal, model: ListModel, word: str, height: int) -> float:
    """`/`, the word, then Enter timed until the result count and its first page are shown."""
    hits = model.search(word)
    if not hits:
        raise RuntimeError(f"{word!r} matches nothing")
    time.sleep(SETTLE_SECONDS)
    terminal.keys("/")
    # The footer always says "Search this folder": wait for the search line's own text.
    opened = re.compile(r"Search \S.* \(words")
    terminal.wait_for(lambda s: opened.search(s) is not None, what="the search line", timeout=60)
    terminal.keys(word, literal=True)
    terminal.wait_for(lambda s: re.search(rf"\b{word}\b", s) is not None, what="the typed word")
    shown = model.rows([0, min(height, len(hits)) - 1], hits)
    found = f"{len(hits)} found for"

    def results(screen: str) -> bool:
        return found in screen and all(row.on(screen) for row in shown)

    return timed_key(terminal, "Enter", results, f"{found} {word!r}")


# --- neomutt -------------------------------------------------------------------------------------

NEOMUTTRC = """\
# neomutt on the benchmark maildir, newest first like tuimail's list.
set folder = "{maildir}"
set spoolfile = "{maildir}"
set mbox_type = Maildir
set header_cache = "{header_cache}"
set message_cachedir = ""
set sort = reverse-date
set mail_check_stats = no
set beep = no
set wait_key = no
set sleep_time = 0
"""
NEOMUTT_ROW = re.compile(r"^\s*(\d+)\s", re.MULTILINE)


def write_neomuttrc(path: Path, maildir: Path, header_cache: Path | None) -> Path:
    """neomutt's config for the maildir, with or without a header cache."""
    path.write_text(NEOMUTTRC.format(maildir=maildir, header_cache=header_cache or ""))
    return path


def _numbers(screen: str) -> list[int]:
    return [int(n) for n in NEOMUTT_ROW.findall(screen)]


def neomutt_run(neomuttrc: Path, size: int, *, pages: bool) -> UiRun:
    """One run of neomutt in a fresh terminal: the index with Msgs:N; with `pages`, also
    PageDown x PAGES from the top and End (the row numbered N)."""
    run = UiRun()
    wanted = f"Msgs:{size}"
    with Terminal(f"exec neomutt -n -F '{neomuttrc}'") as terminal:
        try:
            started = terminal.start()
            seen, screen = terminal.wait_for(
                lambda s: wanted in s and bool(NEOMUTT_ROW.search(s)), what=f"index with {wanted}"
            )
            run.first_page = seen - started
            run.first_cpu, run.first_peak = terminal.figures()
            if pages:
                time.sleep(SETTLE_SECONDS)
                terminal.keys("Home")
                _, screen = terminal.wait_for(
                    lambda s: _numbers(s)[:1] == [1], what="the first row", timeout=60
                )
                height = len(_numbers(screen))
                for page in range(1, PAGES + 1):
                    bottom = min((page + 1) * height, size)
                    run.pages.append(
                        timed_key(
                            terminal,
                            "PageDown",
                            lambda s, b=bottom: b in _numbers(s),  # type: ignore[misc]
                            f"neomutt page {page} (row {bottom})",
                        )
                    )
                run.last = timed_key(
                    terminal, "End", lambda s: size in _numbers(s), f"neomutt row {size}"
                )
        except (TimeoutError, TerminalError) as error:
            run.error = str(error)
        run.cpu, run.peak = end_figures(terminal)
    return run


# --- rows ----------------------------------------------------------------------------------------


def measurement(command: str, runs: Sequence[R], pick: Callable[[R], float | None], *,
                first: bool = False) -> Measurement:  # fmt: skip
    """The runs' figures as a Measurement (wall = the picked time; CPU and peak RSS of the
    program at that point: at the first page for `first`, else at the end of the run)."""
    result = Measurement(command=[command], warmups=1)
    for run in runs:
        value = pick(run)
        if value is None:
            result.timed_out = True
            continue
        cpu, peak = (run.first_cpu, run.first_peak) if first else (run.cpu, run.peak)
        result.runs.append(Run(wall=value, cpu=cpu, peak_mib=peak, exit_code=0))
    return result


# Row name -> label. The figures of each row come from the same runs (one terminal per run).
TUIMAIL_ROWS = {
    "tuimail-ui-first-page": "tuimail --offline: start -> newest message's row on screen",
    "tuimail-ui-last": "tuimail: End -> oldest message's row on screen",
    "tuimail-ui-pgdn": f"tuimail: PageDown, per page (median of {PAGES} pages a run)",
    "tuimail-ui-search": "tuimail: / WORD Enter -> result count and first page on screen",
}
NEOMUTT_ROWS = {
    "neomutt-ui-cold-first-page": "neomutt, no header cache: start -> index with Msgs:N",
    "neomutt-ui-warm-first-page": "neomutt, header cache of the run before: start -> index",
    "neomutt-ui-last": "neomutt (warm): End -> last row on screen",
    "neomutt-ui-pgdn": f"neomutt (warm): PageDown, per page (median of {PAGES} pages a run)",
}


def run_group(options: Options) -> SizeResult:
    """The ui rows at --ui-messages: build (or reuse) the corpus, then tuimail's and neomutt's
    runs, each in a fresh terminal; one warm-up run each, then --runs counted runs."""
    from bench.bench import Row, SizeResult

    size = options.ui_messages
    result = SizeResult(size)
    raw = options.results / f"N{size}-ui"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    keep = options.keep or options.ui_corpus is not None
    work = options.ui_corpus or Path(tempfile.mkdtemp(prefix="tuimail-bench-ui-"))
    try:
        print(f">>> N={size} ui: corpus", file=sys.stderr, flush=True)
        corpus = build_corpus(work / f"ui-{size}", size)
        result.corpus = corpus.stats
        model = ListModel(corpus.data_dir)
        try:
            word, hits = model.busiest_word()
            tuimail = Path(sys.executable).parent / "tuimail"
            command = f"tuimail --offline (search {word!r}: {hits} hits)"
            runs = counted_runs(options.runs, lambda: tuimail_run(tuimail, corpus, model, word))
        finally:
            model.close()
        picks: dict[str, Callable[[UiRun], float | None]] = {
            "tuimail-ui-first-page": lambda r: r.first_page,
            "tuimail-ui-last": lambda r: r.last,
            "tuimail-ui-pgdn": lambda r: r.page,
            "tuimail-ui-search": lambda r: r.search,
        }
        for name, label in TUIMAIL_ROWS.items():
            m = measurement(command, runs, picks[name], first=name.endswith("first-page"))
            result.rows.append(screen_row(Row, size, name, label, m, runs, raw))
        cold = write_neomuttrc(work / "neomuttrc-cold", corpus.maildir, None)
        cache = work / "neomutt-header-cache"
        shutil.rmtree(cache, ignore_errors=True)
        warm = write_neomuttrc(work / "neomuttrc-warm", corpus.maildir, cache)
        runs = counted_runs(options.runs, lambda: neomutt_run(cold, size, pages=False))
        name = "neomutt-ui-cold-first-page"
        m = measurement(f"neomutt -F {cold.name}", runs, lambda r: r.first_page, first=True)
        result.rows.append(screen_row(Row, size, name, NEOMUTT_ROWS[name], m, runs, raw))
        # The warm-up run writes the header cache the counted runs read.
        runs = counted_runs(options.runs, lambda: neomutt_run(warm, size, pages=True))
        for name, pick, first in (
            ("neomutt-ui-warm-first-page", lambda r: r.first_page, True),
            ("neomutt-ui-last", lambda r: r.last, False),
            ("neomutt-ui-pgdn", lambda r: r.page, False),
        ):
            m = measurement(f"neomutt -F {warm.name}", runs, pick, first=first)
            result.rows.append(screen_row(Row, size, name, NEOMUTT_ROWS[name], m, runs, raw))
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def counted_runs(count: int, once: Callable[[], R]) -> list[R]:
    """One uncounted warm-up run, then `count` runs; stops at the first failed run."""
    runs: list[R] = []
    for number in range(1 + count):
        run = once()
        state = "warm-up" if number == 0 else f"run {number}"
        print(f"    {state}: {run.summary()}", file=sys.stderr, flush=True)
        if number:
            runs.append(run)
        if run.error:
            if not number:
                runs.append(run)  # a failed warm-up is reported too
            break
    return runs


def screen_row(
    row_type: type[Row],
    size: int,
    name: str,
    label: str,
    m: Measurement,
    runs: Sequence[UiRun],
    raw: Path,
    detail: str = "",
) -> Row:
    """A row of the results, with its check (every run got this far, and `detail` if given)
    and its raw figures."""
    errors = [run.error for run in runs if run.error]
    row = row_type(size, name, label, 0, m)  # 0: no msgs/s column for screen times
    row.ok = bool(m.runs) and not m.timed_out
    row.check = errors[0].split("\n")[0] if errors else "every run saw it on the screen"
    if detail:
        row.check += f"; {detail}"
    if not m.runs and not errors:
        row.check = "no run"
    text = m.report() + f"check: {'ok' if row.ok else 'FAILED'}: {row.check}\n"
    if name.endswith("pgdn"):
        text += "".join(
            f"run {n} pages (ms): " + " ".join(f"{p * 1000:.1f}" for p in run.pages) + "\n"
            for n, run in enumerate(runs, 1)
        )
    for error in errors:
        text += "--- error ---\n" + error[-4000:] + "\n"
    (raw / f"{name}.txt").write_text(text)
    wall = f"{m.wall:.4f} s" if m.wall is not None else "-"
    print(f"    {name}: {wall}  {'ok' if row.ok else 'FAILED'}: {row.check}", file=sys.stderr)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) a corpus in WORK_DIR and print one run of tuimail and of neomutt."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    work = Path(args[0])
    size = int(args[1]) if len(args) > 1 else UI_MESSAGES
    corpus = build_corpus(work / f"ui-{size}", size)
    model = ListModel(corpus.data_dir)
    word, hits = model.busiest_word()
    tuimail = Path(sys.executable).parent / "tuimail"
    run = tuimail_run(tuimail, corpus, model, word)
    print(f"tuimail: {run}; search {word!r} ({hits} hits); page median {run.page}")
    rc = write_neomuttrc(work / "neomuttrc-warm", corpus.maildir, work / "hcache")
    for number in range(2):
        run = neomutt_run(rc, size, pages=number == 1)
        print(f"neomutt (header cache run {number + 1}): {run}; page median {run.page}")
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
