"""Measure tuimail against its peers on the same real servers and corpus, in one invocation.

For each corpus size: fresh Dovecot + Postfix (``tests.support.mailservers``) on free loopback
ports, the deterministic corpus in alice's INBOX, then every selected row timed as a whole
process (see bench/timeit.py), each row's result checked, and the servers stopped. At the end the
"musts" of the issues are evaluated from the rows measured in this invocation and
bench/results/RESULTS.md is written. Use ``bench/run`` (it installs what is needed); see
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import neomutt, report, scale, scale_corpus, scale_musts, ui, wan
from bench.make_corpus import CorpusStats, Mailbox, index_corpus, write_corpus, write_outbox
from bench.timeit import Measurement, measure
from tests.support.mailservers import MailServers, new_server_directory

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
RESULTS = HERE / "results"
USER = "alice"
SINK = "bob"  # receives the SMTP rows' messages

NOT_IMPLEMENTED = "not implemented yet"
# A To, Cc or Bcc header field with its continuation lines.
RECIPIENT_FIELDS = re.compile(rb"(?mi)^(?:to|cc|bcc):.*\n(?:[ \t].*\n)*")
# Row groups, in the order they run; --only takes these or the aliases.
GROUPS = (
    "floor",
    "mbsync",
    "offlineimap",
    "neomutt",
    "tuimail-sync",
    "fetchmail",
    "getmail",
    "tuimail-fetch",
    "smtp",
    "tuimail-send",
    "wan",
    "ui",
    "scale",
)
ALIASES = {
    "imap": ("floor", "mbsync", "offlineimap", "neomutt", "tuimail-sync"),
    "pop3": ("fetchmail", "getmail", "tuimail-fetch"),
    "send": ("smtp", "tuimail-send"),
    "tuimail": ("tuimail-sync", "tuimail-fetch", "tuimail-send"),
    "peers": ("floor", "mbsync", "offlineimap", "neomutt", "fetchmail", "getmail", "smtp"),
    # Not the scale group: at its million messages it takes hours and tens of GB of disk.
    "all": tuple(group for group in GROUPS if group != "scale"),
    "terminal": ("ui",),
}
# Groups that do not depend on the corpus size: measured once, at the first size.
SIZE_INDEPENDENT = ("smtp", "tuimail-send")
# Groups measured once per invocation at their own size (no servers): the 100k terminal rows
# and the million-message scale row.
OWN_SIZE = ("ui", "scale")
# The wan group's first header sync and resync run at these sizes (the issue's "first header
# sync of 10k"), its screen rows at --sizes: a size of either gets its servers and corpus.
WAN_SYNC_SIZES = (10000,)


@dataclass
class Row:
    """One measured (or not implemented) row of the results table."""

    size: int
    name: str
    label: str
    messages: int
    measurement: Measurement | None = None
    check: str = ""
    ok: bool = True
    status: str = "measured"
    # Connections the row made through the wan group's latency proxy (None: not proxied).
    connections: int | None = None

    @property
    def measured(self) -> bool:
        """True when the row ran and passed its check (its figures can be used)."""
        return self.status == "measured" and self.ok and self.measurement is not None


@dataclass
class Options:
    """What the command line asked for."""

    sizes: list[int]
    groups: list[str]
    runs: int
    slow_runs: int
    timeout: float
    smtp_messages: int
    results: Path
    keep: bool
    ui_messages: int = ui.UI_MESSAGES
    ui_corpus: Path | None = None
    rtts: tuple[float, ...] = wan.RTTS  # the wan group's round-trip times, seconds
    # Sizes of the wan group's whole-process rows (first header sync, resync; its screen rows
    # run at ``sizes``).
    wan_sync_sizes: list[int] = field(default_factory=lambda: list(WAN_SYNC_SIZES))
    scale_messages: int = scale_corpus.SCALE_MESSAGES
    scale_corpus: Path | None = None


@dataclass
class SizeResult:
    """Everything measured at one corpus size."""

    size: int
    corpus: CorpusStats | None = None
    rows: list[Row] = field(default_factory=list)
    heading: str = ""  # the section's title in RESULTS.md (default "N = size")
    notes: list[str] = field(default_factory=list)  # lines under the section's table
    # Figures that are not a row's times (the scale group's store size), by name.
    figures: dict[str, float] = field(default_factory=dict)


def count_files(*directories: Path) -> int:
    """Regular files directly inside the given directories (missing ones count 0)."""
    return sum(
        sum(1 for entry in os.scandir(d) if entry.is_file()) for d in directories if d.is_dir()
    )


def store_counts(data_dir: Path, folder: str = "INBOX") -> tuple[int, int]:
    """(messages, messages with their body stored) in ``folder`` of a tuimail store, read-only."""
    path = data_dir / "tuimail.db"
    if not path.exists():
        return 0, 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        total, bodies = conn.execute(
            "SELECT count(*), count(b.message_id) FROM messages m "
            "JOIN folders f ON f.id = m.folder_id "
            "LEFT JOIN bodies b ON b.message_id = m.id WHERE f.name = ?",
            (folder,),
        ).fetchone()
    return int(total), int(bodies)


def _count_reaches(
    data_dir: Path, query: str, params: Sequence[object], wanted: int
) -> Callable[[], bool]:
    """A watch: the count ``query`` gives on the store (read-only, from outside the command)
    reaches ``wanted``."""
    path = data_dir / "tuimail.db"

    def reached() -> bool:
        if not path.exists():
            return False
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(conn.execute(query, tuple(params)).fetchone()[0]) >= wanted
        finally:
            conn.close()

    return reached


def newest_page_stored(data_dir: Path, uids: Sequence[int]) -> Callable[[], bool]:
    """A watch: the store's INBOX holds every one of ``uids``, the server's highest. The store
    holds only UIDs the server has, so counting those at or above the lowest of them is
    enough."""
    query = (
        "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id "
        "WHERE f.name = 'INBOX' AND m.uid >= ?"
    )
    return _count_reaches(data_dir, query, [min(uids, default=1)], len(set(uids)))


def bodies_stored(data_dir: Path, count: int) -> Callable[[], bool]:
    """A watch: the store's INBOX holds ``count`` messages with their bodies. tuimail stores
    bodies first and makes them searchable after (issue 19): the row's wall is "all
    searchable", this watch "bodies stored"."""
    query = (
        "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id "
        "WHERE f.name = 'INBOX' AND m.body_local = 1"
    )
    return _count_reaches(data_dir, query, [], count)


def tuimail_commands(tuimail: Path) -> set[str]:
    """The subcommands ``tuimail --help`` lists (empty if tuimail does not run)."""
    result = subprocess.run(
        [str(tuimail), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        return set()
    return set(re.findall(r"^ {4}([a-z][a-z0-9-]*) ", result.stdout, re.MULTILINE))


class SizeRun:
    """The rows of one corpus size against one running pair of servers."""

    def __init__(
        self, options: Options, result: SizeResult, servers: MailServers, work: Path, raw: Path
    ) -> None:
        self.options = options
        self.result = result
        self.size = result.size
        self.servers = servers
        self.work = work
        self.raw = raw
        self.user = USER
        self.password = servers.users[USER]
        home = servers.directory / "home" / USER
        owner = home.stat()
        self.mailbox = Mailbox(home / "Maildir", owner.st_uid, owner.st_gid, servers.address(USER))
        self.uidnext0 = 0
        self.python = sys.executable
        self.tuimail = Path(sys.executable).parent / "tuimail"
        self.commands = tuimail_commands(self.tuimail)

    # --- helpers --------------------------------------------------------------------------------
    def values(self, **extra: object) -> dict[str, object]:
        """What the peer config templates refer to."""
        servers = self.servers
        return {
            "host": servers.host,
            # mbsync and fetchmail match the certificate by DNS name only; it names localhost.
            "tls_host": "localhost",
            "imaps_port": servers.imaps_port,
            "pop3s_port": servers.pop3s_port,
            "submission_port": servers.submission_port,
            "user": USER,
            "password": self.password,
            "address": servers.address(USER),
            "ca_file": servers.ca_file,
            **extra,
        }

    def render(self, template: str, destination: Path, **extra: object) -> Path:
        """Fill bench/peers/TEMPLATE.in into ``destination`` (mode 0600: it holds a password)."""
        text = string.Template((PEERS / f"{template}.in").read_text())
        destination.write_text(text.substitute(self.values(**extra)))
        destination.chmod(0o600)
        return destination

    def newest_uids(self, count: int = report.NEWEST_PAGE) -> list[int]:
        """UIDs of the newest ``count`` messages of alice's INBOX (the highest UIDs)."""
        output = self.servers.doveadm("fetch", "-u", USER, "uid", "mailbox", "INBOX", "all")
        uids = sorted(int(n) for n in re.findall(r"^uid: (\d+)", output, re.MULTILINE))
        return uids[-count:]

    def inbox_count(self, user: str = USER) -> int:
        """Messages in the user's INBOX, as Dovecot counts them."""
        output = self.servers.doveadm("mailbox", "status", "-u", user, "messages", "INBOX")
        return int(output.split("=")[1])

    def append(self, count: int = 100) -> None:
        """New unseen mail in alice's INBOX (picked up by Dovecot on the next access).

        Then a second's pause, untimed: mbsync waits out the current second when its maildir
        was modified within it (a run right after the previous one would pay that second).
        """
        write_corpus(self.mailbox, count, append=True)
        time.sleep(1.0)

    def reset_inbox(self) -> None:
        """Expunge what the +100 rows appended, so the next peer sees N messages again."""
        if self.inbox_count() > self.size:
            self.servers.doveadm(
                "expunge", "-u", USER, "mailbox", "INBOX", "uid", f"{self.uidnext0}:*"
            )
        if self.inbox_count() != self.size:
            raise RuntimeError(f"INBOX reset failed: {self.inbox_count()} != {self.size}")

    def fresh(self, *directories: Path, owner: str | None = None) -> Callable[[], None]:
        """A prepare step that empties and recreates ``directories`` (untimed)."""

        def prepare() -> None:
            for directory in directories:
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True)
                if owner:
                    shutil.chown(directory, owner)

        return prepare

    def row(
        self,
        name: str,
        label: str,
        messages: int,
        command: Sequence[str | Path],
        check: Callable[[], tuple[bool, str]],
        *,
        prepare: Callable[[], None] | None = None,
        exits: Iterable[int] = (0,),
        warmup: int = 1,
        env: dict[str, str] | None = None,
        watch: Callable[[], bool] | None = None,
    ) -> Row:
        """Time ``command`` (see timeit.measure), run ``check`` and record the row."""
        print(f">>> N={self.size} {name}", file=sys.stderr, flush=True)
        log = self.work / f"{name}.log"
        log.unlink(missing_ok=True)
        measurement = measure(
            [str(part) for part in command],
            runs=self.options.runs,
            warmup=warmup,
            slow_runs=self.options.slow_runs,
            timeout=self.options.timeout,
            prepare=prepare,
            env=env,
            log=log,
            watch=watch,
        )
        return self.record(name, label, messages, measurement, check, exits=exits, log=log)

    def record(
        self,
        name: str,
        label: str,
        messages: int,
        measurement: Measurement,
        check: Callable[[], tuple[bool, str]],
        *,
        exits: Iterable[int] = (0,),
        log: Path | None = None,
    ) -> Row:
        """Check a measured row, write its raw output and add it to the results."""
        row = Row(self.size, name, label, messages, measurement)
        try:
            row.ok, row.check = check()
        except Exception as error:  # a broken check is reported in the row, not a crash
            row.ok, row.check = False, f"check failed: {error!r}"
        allowed = set(exits)
        bad = [code for code in measurement.exit_codes if code not in allowed]
        if measurement.timed_out or not measurement.runs:
            row.ok, row.check = False, f"timed out or no run finished; {row.check}"
        elif bad:
            row.ok, row.check = False, f"exit {bad}; {row.check}"
        self._write_raw(row, log)
        self.result.rows.append(row)
        wall = f"{measurement.wall:.3f} s" if measurement.wall is not None else "-"
        if measurement.watched is not None:
            wall += f" (watch held after {measurement.watched:.3f} s)"
        print(f"    {wall}  {'ok' if row.ok else 'FAILED'}: {row.check}", file=sys.stderr)
        return row

    def not_implemented(self, name: str, label: str, messages: int, command: str) -> Row:
        """Record a tuimail row whose command does not exist yet."""
        print(f">>> N={self.size} {name}: {NOT_IMPLEMENTED}", file=sys.stderr)
        row = Row(self.size, name, label, messages, status=NOT_IMPLEMENTED)
        row.check = f"`tuimail {command}` is not in `tuimail --help`"
        self.result.rows.append(row)
        return row

    def _write_raw(self, row: Row, log: Path | None) -> None:
        assert row.measurement is not None
        text = row.measurement.report() + f"check: {'ok' if row.ok else 'FAILED'}: {row.check}\n"
        if log is not None and log.exists():
            output = log.read_text(errors="replace")
            text += "--- output of the runs (last 4000 characters) ---\n" + output[-4000:]
        (self.raw / f"{row.name}.txt").write_text(text)

    def stored(
        self, *directories: Path, expect: Callable[[], int]
    ) -> Callable[[], tuple[bool, str]]:
        """A check: the files a peer stored equal the expected count."""

        def check() -> tuple[bool, str]:
            have, want = count_files(*directories), expect()
            return have == want, f"stored {have} (server INBOX {want})"

        return check

    # --- rows -----------------------------------------------------------------------------------
    def run_groups(self, groups: Sequence[str], *, first_size: bool) -> None:
        """Run the selected groups in their fixed order."""
        self.uidnext0 = int(
            self.servers.doveadm("mailbox", "status", "-u", USER, "uidnext", "INBOX").split("=")[1]
        )
        for group in GROUPS:
            if group not in groups or (group in SIZE_INDEPENDENT and not first_size):
                continue
            getattr(self, "group_" + group.replace("-", "_"))()
            self.reset_inbox()

    def group_floor(self) -> None:
        conf = str(self.servers.dovecot.config_file) if self.servers.dovecot else ""
        for what in ("uid", "text"):
            self.row(
                f"doveadm-fetch-{what}",
                f"doveadm fetch {what} (server floor)",
                self.size,
                ["sh", "-c", f"exec doveadm -c '{conf}' fetch -u {USER} {what} mailbox INBOX all"],
                lambda: (True, "server side, output discarded"),
            )
        server_dir = self.servers.directory
        for what, label in (("meta", "ENVELOPE FLAGS BODYSTRUCTURE SIZE"), ("full", "BODY.PEEK[]")):
            self.row(
                f"imapclient-{what}",
                f"imapclient {label}, 500 UIDs per FETCH (Python floor, nothing stored)",
                self.size,
                [self.python, "-m", "bench.floors", server_dir, "imap", what],
                lambda: (True, "all fetched (the floor exits 1 otherwise)"),
            )

    def group_mbsync(self) -> None:
        store = self.work / "mb"
        rc = self.render("mbsyncrc", self.work / "mbsyncrc", store=store)
        command = ["mbsync", "-q", "-c", rc, "bench"]
        stored = self.stored(
            store / "INBOX" / "cur", store / "INBOX" / "new", expect=self.inbox_count
        )
        self.row(
            "mbsync-full",
            "mbsync full initial sync",
            self.size,
            command,
            stored,
            prepare=self.fresh(store),
        )
        self.row("mbsync-noop", "mbsync no-change sync", 0, command, stored)
        self.row("mbsync-plus100", "mbsync after +100", 100, command, stored, prepare=self.append)
        shutil.rmtree(store, ignore_errors=True)

    def group_offlineimap(self) -> None:
        store = self.work / "oi"
        rc = self.render("offlineimaprc", self.work / "offlineimaprc", store=store)
        command = ["offlineimap", "-c", rc, "-o", "-u", "quiet"]
        stored = self.stored(
            store / "mail" / "INBOX" / "cur",
            store / "mail" / "INBOX" / "new",
            expect=self.inbox_count,
        )
        self.row(
            "offlineimap-full",
            "offlineimap full initial sync",
            self.size,
            command,
            stored,
            prepare=self.fresh(store / "mail", store / "meta"),
        )
        self.row("offlineimap-noop", "offlineimap no-change sync", 0, command, stored)
        self.row(
            "offlineimap-plus100",
            "offlineimap after +100",
            100,
            command,
            stored,
            prepare=self.append,
        )
        shutil.rmtree(store, ignore_errors=True)

    def group_neomutt(self) -> None:
        # neomutt does not exit by itself and runs under tmux, not as our child: the driver
        # (bench/neomutt.py) takes the figures from the screen and from /proc instead of wait4.
        store = self.work / "nm"
        store.mkdir(exist_ok=True)
        rc = self.render("neomuttrc", self.work / "neomuttrc", store=store)
        name = "neomutt-first-page"
        print(f">>> N={self.size} {name}", file=sys.stderr, flush=True)
        measurement = Measurement(command=["neomutt", "-n", "-F", str(rc)], warmups=1)
        error = ""
        for number in range(1 + self.options.runs):
            try:
                run = neomutt.first_page(rc, self.size, timeout=min(self.options.timeout, 300))
            except neomutt.FAILURES as failure:
                error = str(failure).split("\n")[0]
                measurement.timed_out = True
                break
            if number:  # the first run is the warm-up
                measurement.runs.append(run)
        self.record(
            name,
            "neomutt: first page of the INBOX on screen (tmux pty, no header cache)",
            self.size,
            measurement,
            lambda: (not error, error or f"index drawn with Msgs:{self.size}"),
        )
        shutil.rmtree(store, ignore_errors=True)

    def group_wan(self) -> None:
        # The rows over a latency proxy, at each --rtt (bench/wan.py): the whole-process rows
        # at --wan-sync-sizes, the screen rows at --sizes.
        wan.run_group(
            self,
            self.options.rtts,
            sync=self.size in self.options.wan_sync_sizes,
            screen=self.size in self.options.sizes,
        )

    def group_fetchmail(self) -> None:
        store = self.work / "fm"
        mail = store / "mail"
        home = self.work / "fm-home"
        home.mkdir(exist_ok=True)
        full = self.render(
            "fetchmailrc", self.work / "fetchmailrc-full", store=store, fetchall="fetchall"
        )
        incr = self.render("fetchmailrc", self.work / "fetchmailrc-incr", store=store, fetchall="")
        ids = self.work / "fetchids"

        def command(rc: Path) -> list[str | Path]:
            return [
                "fetchmail",
                "-s",
                "--pidfile",
                self.work / "fetchmail.pid",
                "-i",
                ids,
                "-f",
                rc,
            ]

        def wipe() -> None:
            ids.unlink(missing_ok=True)
            self.fresh(mail / "new", mail / "cur", mail / "tmp")()

        env = {**os.environ, "HOME": str(home)}
        stored = self.stored(mail / "new", expect=lambda: self.size)
        self.row(
            "fetchmail-full",
            "fetchmail POP3S, all (one MDA process per message)",
            self.size,
            command(full),
            stored,
            prepare=wipe,
            env=env,
        )
        # fetchmail exits 1 when there is no new mail.
        self.row(
            "fetchmail-noop",
            "fetchmail POP3S, nothing new (UIDL)",
            0,
            command(incr),
            stored,
            exits=(1,),
            env=env,
        )
        shutil.rmtree(store, ignore_errors=True)

    def group_getmail(self) -> None:
        store = self.work / "gm"
        mail, state = store / "mail", store / "state"
        full = self.render("getmailrc", self.work / "getmailrc-full", store=store, read_all="true")
        incr = self.render("getmailrc", self.work / "getmailrc-incr", store=store, read_all="false")

        def wipe() -> None:
            self.fresh(state)()
            self.fresh(mail, mail / "new", mail / "cur", mail / "tmp", owner="nobody")()

        stored = self.stored(mail / "new", expect=lambda: self.size)
        for name, label, messages, rc, prepare in (
            ("getmail-full", "getmail6 POP3S, all (read_all)", self.size, full, wipe),
            ("getmail-noop", "getmail6 POP3S, nothing new", 0, incr, None),
        ):
            self.row(
                name,
                label,
                messages,
                ["getmail", "--getmaildir", state, "--rcfile", rc],
                stored,
                prepare=prepare,
            )
        shutil.rmtree(store, ignore_errors=True)

    def group_smtp(self) -> None:
        n = self.options.smtp_messages
        outbox = self.outbox()
        rc = self.render("msmtprc", self.work / "msmtprc")
        recipient = self.servers.address(SINK)
        loop = (
            f"for f in '{outbox}'/*.eml; do "
            f"msmtp -C '{rc}' -- '{recipient}' < \"$f\" || exit 1; done"
        )
        self.sink_row(
            f"msmtp-x{n}", f"msmtp, {n} processes / connections", ["sh", "-c", loop], warmup=0
        )
        for library in ("smtplib", "aiosmtplib"):
            self.sink_row(
                f"{library}-1conn-x{n}",
                f"Python {library}, 1 process, 1 connection",
                [self.python, "-m", "bench.floors", self.servers.directory, library, outbox],
            )

    def outbox(self) -> Path:
        """The SMTP rows' messages (written once)."""
        outbox = self.work / "outbox"
        if not outbox.exists():
            write_outbox(self.options.smtp_messages, outbox, self.servers.address(USER))
        return outbox

    def sink_outbox(self) -> Path:
        """The SMTP rows' messages addressed to bob alone, for tuimail (which takes the envelope
        from the header, where msmtp and the floors are given bob on the command line): their To,
        Cc and Bcc fields are replaced by one To: bob; the rest of each file is unchanged."""
        sink = self.work / "outbox-to-sink"
        if not sink.exists():
            sink.mkdir()
            to = f"To: {self.servers.address(SINK)}\n".encode()
            for path in sorted(self.outbox().iterdir()):
                head, blank, body = path.read_bytes().partition(b"\n\n")
                head = RECIPIENT_FIELDS.sub(b"", head + b"\n")
                (sink / path.name).write_bytes(to + head + blank[1:] + body)
        return sink

    def sink_row(
        self,
        name: str,
        label: str,
        command: Sequence[str | Path],
        *,
        warmup: int = 1,
        prepare: Callable[[], None] | None = None,
    ) -> Row:
        """An SMTP row, checked by bob's INBOX growing by exactly n per run (warm-up included)."""
        n = self.options.smtp_messages
        before = self.inbox_count(SINK)
        runs: list[int] = []

        def counting_prepare() -> None:
            runs.append(1)
            if prepare is not None:
                prepare()

        def check() -> tuple[bool, str]:
            want = before + n * len(runs)
            deadline = time.monotonic() + 60  # Postfix delivers asynchronously
            have = self.inbox_count(SINK)
            while have < want and time.monotonic() < deadline:
                time.sleep(0.2)
                have = self.inbox_count(SINK)
            time.sleep(1)  # a doubled message would arrive about now
            have = self.inbox_count(SINK)
            return have == want, f"bob INBOX +{have - before} (expected +{n} x {len(runs)} runs)"

        return self.row(name, label, n, command, check, prepare=counting_prepare, warmup=warmup)

    # --- tuimail --------------------------------------------------------------------------------
    def tuimail_command(self, config: Path, data_dir: Path, *args: str) -> list[str | Path]:
        """``tuimail --config C --data-dir D ARGS``."""
        return [self.tuimail, "--config", config, "--data-dir", data_dir, *args]

    def store_check(self, data_dir: Path, *, bodies: bool) -> Callable[[], tuple[bool, str]]:
        """A check: the store's INBOX holds what the server's does (and every body if asked)."""

        def check() -> tuple[bool, str]:
            total, with_body = store_counts(data_dir)
            want = self.inbox_count()
            ok = total == want and (with_body == want if bodies else True)
            return ok, f"store INBOX {total}, bodies {with_body} (server INBOX {want})"

        return check

    def group_tuimail_fetch(self) -> None:
        rows = (
            ("full", "tuimail fetch POP3S, all", self.size),
            ("noop", "tuimail fetch, nothing new", 0),
        )
        if "fetch" not in self.commands:
            for kind, label, messages in rows:
                self.not_implemented(f"tuimail-fetch-{kind}", label, messages, "fetch")
            return
        config = self.render("tuimail-pop3.toml", self.work / "tuimail-pop3.toml")
        data = self.work / "tm-pop3"
        command = self.tuimail_command(config, data, "fetch", "bench")
        check = self.store_check(data, bodies=True)
        self.row(
            "tuimail-fetch-full",
            rows[0][1],
            self.size,
            command,
            check,
            prepare=self.fresh(data),
            watch=bodies_stored(data, self.inbox_count()),
        )
        self.row("tuimail-fetch-noop", rows[1][1], 0, command, check)
        shutil.rmtree(data, ignore_errors=True)

    def group_tuimail_sync(self) -> None:
        rows = (
            ("full", "tuimail sync IMAPS, headers only", self.size),
            ("bodies-full", "tuimail sync --bodies IMAPS, all bodies", self.size),
            ("noop", "tuimail sync, nothing new", 0),
            ("plus100", "tuimail sync after +100", 100),
        )
        if "sync" not in self.commands:
            for kind, label, messages in rows:
                self.not_implemented(f"tuimail-sync-{kind}", label, messages, "sync")
            return
        config = self.render("tuimail-imap.toml", self.work / "tuimail-imap.toml")
        data = self.work / "tm-imap"
        sync = self.tuimail_command(config, data, "sync", "bench", "--folder", "INBOX")
        headers = self.store_check(data, bodies=False)
        self.row(
            "tuimail-sync-bodies-full",
            rows[1][1],
            self.size,
            [*sync, "--bodies"],
            self.store_check(data, bodies=True),
            prepare=self.fresh(data),
            watch=bodies_stored(data, self.inbox_count()),
        )
        # Watched from outside: when the store first holds the INBOX's newest page.
        self.row(
            "tuimail-sync-full",
            rows[0][1],
            self.size,
            sync,
            headers,
            prepare=self.fresh(data),
            watch=newest_page_stored(data, self.newest_uids()),
        )
        self.row("tuimail-sync-noop", rows[2][1], 0, sync, headers)
        self.row("tuimail-sync-plus100", rows[3][1], 100, sync, headers, prepare=self.append)
        shutil.rmtree(data, ignore_errors=True)

    def group_tuimail_send(self) -> None:
        n = self.options.smtp_messages
        name, label = f"tuimail-outbox-flush-x{n}", f"tuimail outbox flush, {n} queued messages"
        if not {"send", "outbox"} <= self.commands:
            self.not_implemented(name, label, n, "send / outbox flush")
            return
        outbox = self.sink_outbox()
        config = self.render("tuimail-smtp.toml", self.work / "tuimail-smtp.toml")
        data = self.work / "tm-smtp"
        files = sorted(str(path) for path in outbox.iterdir())

        def queue() -> None:  # untimed: enqueue every message, to be sent by the timed flush
            self.fresh(data)()
            subprocess.run(
                self.tuimail_command(
                    config, data, "send", "--account", "bench", "--now", "--queue-only", *files
                ),
                check=True,
                capture_output=True,
                timeout=600,
            )

        self.sink_row(
            name, label, self.tuimail_command(config, data, "outbox", "flush"), prepare=queue
        )
        self.large_attachment_rows()

    def large_attachment_rows(self) -> None:
        """One message with a 50 MiB attachment: `tuimail outbox flush` (DATA to bob, the Sent
        copy APPENDed to alice's Sent), its peak RSS against the attachment's size; and the
        same flush with nothing queued, for the interpreter's own share."""
        config = self.render("tuimail-smtp-imap.toml", self.work / "tuimail-smtp-imap.toml")
        data = self.work / "tm-smtp-large"
        attachment = self.work / "attachment.bin"
        with attachment.open("wb") as handle:
            for _ in range(LARGE_ATTACHMENT // (1 << 20)):
                handle.write(os.urandom(1 << 20))
        flush = self.tuimail_command(config, data, "outbox", "flush")
        self.fresh(data)()
        self.row(
            "tuimail-outbox-flush-idle",
            "tuimail outbox flush, nothing queued (IMAP account)",
            0,
            flush,
            lambda: (True, "nothing to send"),
        )
        before = self.inbox_count(SINK)
        runs: list[int] = []

        def queue() -> None:  # untimed: compose and queue the message (streamed into the row)
            runs.append(1)
            self.fresh(data)()
            subprocess.run(
                [
                    self.python,
                    "-c",
                    ENQUEUE_LARGE,
                    str(data),
                    str(attachment),
                    self.servers.address(USER),
                    self.servers.address(SINK),
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )

        def check() -> tuple[bool, str]:
            want = before + len(runs)
            deadline = time.monotonic() + 120  # Postfix delivers asynchronously
            have = self.inbox_count(SINK)
            while have < want and time.monotonic() < deadline:
                time.sleep(0.2)
                have = self.inbox_count(SINK)
            done = store_outbox_done(data)
            ok = have == want and done
            return (
                ok,
                f"bob INBOX +{have - before} (expected +{len(runs)}); sent and copied: {done}",
            )

        self.row(
            LARGE_ROW,
            "tuimail outbox flush, one 50 MiB attachment (DATA + Sent APPEND)",
            1,
            flush,
            check,
            prepare=queue,
        )
        attachment.unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)


LARGE_ROW = "tuimail-outbox-flush-50mb"
LARGE_ATTACHMENT = 50 << 20
# Composes a message with the attachment and streams it into the outbox (the composer's way).
ENQUEUE_LARGE = """
import sys
from tuimail.mail.compose import compose_message, make_message_id
from tuimail.core.model import Address, Draft, Protocol
from tuimail.store import outbox, write
from tuimail.store.db import open_store

data, attachment, sender, to = sys.argv[1:5]
conn = open_store(data)
account = write.ensure_account(conn, "bench", Protocol.IMAP)
draft = Draft(
    from_=Address("", sender), to=(Address("", to),), subject="large attachment",
    body="attached", attachments=(attachment,),
)
message_id = make_message_id(sender.rpartition("@")[2])
message = compose_message(draft, message_id=message_id)
outbox.enqueue(
    conn, account, message, message_id=message_id.strip("<>"), env_from=sender, env_rcpts=[to]
)
"""


def store_outbox_done(data_dir: Path) -> bool:
    """The store's outbox has items, and every one is sent with its Sent copy made (read-only)."""
    path = data_dir / "tuimail.db"
    if not path.exists():
        return False
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        total, done = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'sent' AND sent_copy_done = 1)"
            " FROM outbox"
        ).fetchone()
    return bool(total) and total == done


def build_corpus(run: SizeRun) -> CorpusStats:
    """Alice's INBOX with N messages (plus subfolders), indexed and cached by Dovecot."""
    started = time.monotonic()
    stats = write_corpus(run.mailbox, run.size)
    index_corpus(run.servers.doveadm, USER)
    have = run.inbox_count()
    if have != run.size:
        raise RuntimeError(f"the corpus INBOX holds {have} messages, not {run.size}")
    print(f"corpus: {stats.summary()} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return stats


def size_plan(options: Options) -> list[tuple[int, list[str]]]:
    """(size, groups to run at it), ascending: every size of --sizes with the selected groups
    (but the ones of their own size); and, when the wan group is selected, each size of
    --wan-sync-sizes not among them with the wan group alone (its whole-process rows)."""
    sized = [group for group in options.groups if group not in OWN_SIZE]
    plan = {size: sized for size in options.sizes} if sized else {}
    if "wan" in options.groups:
        for size in options.wan_sync_sizes:
            plan.setdefault(size, ["wan"])
    return sorted(plan.items())


def run_size(options: Options, size: int, *, first_size: bool) -> SizeResult:
    """Fresh servers, the corpus, the selected rows; the servers are stopped whatever happens."""
    result = SizeResult(size)
    raw = options.results / f"N{size}"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    server_dir = new_server_directory("tuimail-bench-servers-")
    work = Path(tempfile.mkdtemp(prefix="tuimail-bench-work-"))
    work.chmod(0o755)  # getmail delivers as "nobody" below it
    servers = MailServers(server_dir)
    try:
        servers.start()
        run = SizeRun(options, result, servers, work, raw)
        result.corpus = build_corpus(run)
        run.run_groups(options.groups, first_size=first_size)
    finally:
        servers.stop()
        if options.keep:
            print(f"kept {server_dir} and {work}", file=sys.stderr)
        else:
            shutil.rmtree(server_dir, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
    return result


def parse_groups(text: str) -> list[str]:
    """--only: comma- or space-separated groups and aliases."""
    chosen: list[str] = []
    for word in re.split(r"[,\s]+", text.strip()):
        if not word:
            continue
        if word in ALIASES:
            chosen += ALIASES[word]
        elif word in GROUPS:
            chosen.append(word)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown row group {word!r}; choose from {', '.join((*GROUPS, *ALIASES))}"
            )
    return [group for group in GROUPS if group in chosen]


def parse_sizes(text: str) -> list[int]:
    """--sizes: comma-separated positive integers."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parse_rtts(text: str) -> tuple[float, ...]:
    """--rtt: comma-separated round-trip times in milliseconds; seconds, ascending."""
    try:
        rtts = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of milliseconds: {text!r}") from None
    if not rtts or rtts[0] < 0:
        raise argparse.ArgumentTypeError("round-trip times must be 0 ms or more")
    return tuple(rtt / 1000 for rtt in rtts)


def parse_args(argv: Sequence[str] | None) -> tuple[Options, list[str]]:
    """The command line (see bench/README.md)."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[1000, 10000],
        help="corpus sizes (INBOX messages), comma-separated [1000,10000]",
    )
    parser.add_argument(
        "--only",
        type=parse_groups,
        default=list(ALIASES["all"]),
        help="row groups: "
        + ", ".join(GROUPS)
        + "; or "
        + ", ".join(ALIASES)
        + " [all: every group but scale]",
    )
    parser.add_argument("--runs", type=int, default=3, help="counted runs per row [3]")
    parser.add_argument(
        "--slow-runs", type=int, default=1, help="runs of a row whose first run exceeds 20 s [1]"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per row [1800]")
    parser.add_argument("--smtp-messages", type=int, default=500, help="messages per SMTP row")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--keep", action="store_true", help="keep server and work directories")
    parser.add_argument(
        "--ui-messages",
        type=int,
        default=ui.UI_MESSAGES,
        help=f"messages of the ui group's corpus (its own size) [{ui.UI_MESSAGES}]",
    )
    parser.add_argument(
        "--ui-corpus",
        type=Path,
        help="build the ui corpus here and keep it for later invocations (default: a temporary "
        "directory, removed at the end)",
    )
    parser.add_argument(
        "--rtt",
        type=parse_rtts,
        default=wan.RTTS,
        help="the wan group's round-trip times in ms, comma-separated [50,150]",
    )
    parser.add_argument(
        "--wan-sync-sizes",
        type=parse_sizes,
        default=list(WAN_SYNC_SIZES),
        help="corpus sizes of the wan group's first header sync and resync rows (its screen "
        "rows run at --sizes), comma-separated [10000]",
    )
    parser.add_argument(
        "--scale-messages",
        type=parse_sizes,
        default=[scale_corpus.SCALE_MESSAGES],
        help=f"messages of the scale group's corpus (its own size) [{scale_corpus.SCALE_MESSAGES}]",
    )
    parser.add_argument(
        "--scale-corpus",
        type=Path,
        help="build the scale corpus here and keep it for later invocations (default: a "
        "temporary directory, removed at the end); the group's store is made beside it",
    )
    args = parser.parse_args(argv)
    if len(args.scale_messages) != 1:
        parser.error("--scale-messages takes one number")
    if args.runs < 1 or args.slow_runs < 1:
        parser.error("--runs and --slow-runs must be at least 1")
    options = Options(
        args.sizes,
        args.only,
        args.runs,
        args.slow_runs,
        args.timeout,
        args.smtp_messages,
        args.results,
        args.keep,
        args.ui_messages,
        args.ui_corpus,
        args.rtt,
        args.wan_sync_sizes,
        args.scale_messages[0],
        args.scale_corpus,
    )
    return options, list(sys.argv[1:] if argv is None else argv)


def compile_tuimail() -> None:
    """Byte-compile tuimail's modules once, as installing a package does.

    The bench installs tuimail editable; with PYTHONDONTWRITEBYTECODE set in the environment
    (as on some machines) every timed run would otherwise compile its sources again, which is
    not what a user's installed tuimail does and costs a short command a third of its time.
    """
    import compileall

    import tuimail

    compileall.compile_dir(Path(tuimail.__file__).parent, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a measured must was missed or a row failed its check."""
    options, arguments = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (it starts Dovecot and Postfix); use bench/run", file=sys.stderr)
        return 2
    if "scale" in options.groups:
        problem = scale_corpus.space_problem(options)
        if problem:
            print(f"bench: {problem}", file=sys.stderr)
            return 2
    options.results.mkdir(parents=True, exist_ok=True)
    for old in options.results.glob("N*"):  # results are rewritten whole; git keeps history
        if old.is_dir():
            shutil.rmtree(old)
    started = time.time()
    compile_tuimail()
    results = [
        run_size(replace(options, groups=groups), size, first_size=size == options.sizes[0])
        for size, groups in size_plan(options)
    ]
    if "ui" in options.groups:
        results.append(ui.run_group(options))
    if "scale" in options.groups:
        results.append(scale.run_group(options))
    musts = report.evaluate_musts(results, options.sizes) + scale_musts.evaluate_musts(results)
    text = report.render(results, musts, options=options, arguments=arguments, started=started)
    (options.results / "RESULTS.md").write_text(text)
    (options.results / "results.json").write_text(
        json.dumps(report.as_json(results, musts), indent=1) + "\n"
    )
    print(text)
    failed_rows = [
        row.name
        for result in results
        for row in result.rows
        if row.status in ("measured", wan.NOT_MEASURED) and not row.ok
    ]
    failed_musts = [must.text for must in musts if must.verdict == "FAIL"]
    if failed_rows:
        print(f"bench: rows that failed their check: {', '.join(failed_rows)}", file=sys.stderr)
    if failed_musts:
        print(f"bench: musts missed: {len(failed_musts)}", file=sys.stderr)
    return 1 if failed_rows or failed_musts else 0


if __name__ == "__main__":
    sys.exit(main())
