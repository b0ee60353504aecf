"""The `wan` group: what a user waits for when the mail server is a wide-area network away.

Every connection of the program measured goes through the latency proxy (bench/latency.py),
which adds RTT/2 each way between it and the test Dovecot (IMAPS) and Postfix (submission), at
each RTT of ``--rtt``. Whatever the bench itself needs from the servers (the raw message a row
expects on the screen, the flags on the server, a new message in a folder) goes straight to
Dovecot, never through the proxy. The rows (see bench/README.md, "Over a wide-area network"):

- the app in a real terminal (bench/terminal.py), its store prepared untimed by ``tuimail
  sync`` straight to Dovecot: open a message whose body is not local, past the ones the app
  fetches around a resting cursor (``bodies`` policy "none"; neomutt's open of a message over
  IMAP beside it); open the next one after resting a second (same policy: only the prefetch
  makes it local); with the default policy, ``F`` until the flag is on the
  server; a message APPENDed to Lists/dev until its subject is on the screen; an outage (both
  proxies cut), a message written and queued in the composer, then the servers back: until
  Postfix has the message;
- whole processes (bench/wan_sync.py, at ``--wan-sync-sizes``): the first header sync of the
  INBOX (``tuimail sync`` with no bodies, mbsync, neomutt's first open of the INBOX) and a
  resync with nothing new.

Each row reports the connections it made through the proxy (every connection logs in: the
proxy cannot read a login inside TLS, so it counts connections). Every wait of a row is bounded
(the screen, the app, tmux, the proxies, the servers, the store's preparation): what does not
come within its bound fails the row with the reason, never holds the bench.
"""

from __future__ import annotations

import imaplib
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from bench import wan_sync
from bench.latency import ProxyProcess
from bench.report import NOT_MEASURED
from bench.terminal import Terminal, TerminalError
from bench.timeit import Measurement, Run
from bench.wan_probe import (
    DirectImap,
    NotWithin,
    RowFailed,
    StoreView,
    body_markers,
    contains,
    matches,
)

# What ends a row with a failure and its reason (never the bench): a bound that passed, the
# app or tmux gone, a server or the store that said no.
ROW_ERRORS = (
    RowFailed, NotWithin, TimeoutError, RuntimeError, OSError, sqlite3.Error,
    imaplib.IMAP4.error, subprocess.SubprocessError,
)  # fmt: skip

if TYPE_CHECKING:
    from bench.bench import Row, SizeRun
    from tuimail.store.read import MessageRow

RTTS = (0.050, 0.150)
QUIET = 1.0  # nothing crossed the proxy for this long: the program is idle
QUIET_TIMEOUT = 30.0
SCREEN_TIMEOUT = 60.0
NEW_MAIL_TIMEOUT = 20.0  # the must is 1 s + 1 RTT; past this the row says "not within"
OUTBOX_TIMEOUT = 300.0  # the must is 10 s; past this the row says "not within"
FLAG_POLL = 0.002  # seconds between two looks at the flags on the server (each ~1 ms itself)
ESCAPE_SECONDS = 0.3  # a terminal reads Escape and a key within its wait as Alt+key
OUTAGE_SETTLE = 2.0  # seconds after the cut before the message is written (the app notices)
NEOMUTT_INDEX_TIMEOUT = 120.0  # neomutt's index on the screen after its start
PREPARE_TIMEOUT = 600.0  # the untimed `tuimail sync` that prepares a screen row's store
ACCOUNT = wan_sync.ACCOUNT
NEW_MAIL_FOLDER = "Lists/dev"  # a watched folder other than the INBOX
NONE_POLICIES = ('bodies = "none"', "bodies = false")  # the policy; the older boolean


JUMP = 5  # `j` presses past the messages the app fetches around a resting cursor


def rtt_ms(rtt: float) -> int:
    """The RTT in whole milliseconds, as row names carry it."""
    return round(rtt * 1000)


def row_name(rtt: float, what: str) -> str:
    """``wan<RTT ms>-<what>``: the RTT is part of the name (report.py reads it back)."""
    return f"wan{rtt_ms(rtt)}-{what}"


# --- the app in a terminal ----------------------------------------------------------------------


class AppSession:
    """tuimail in a fresh tmux, on a prepared store, through the proxies."""

    def __init__(self, wan: WanRun, config: Path, data_dir: Path) -> None:
        self.wan = wan
        self.data_dir = data_dir
        tuimail = wan.run.tuimail
        self.terminal = Terminal(f"exec '{tuimail}' --config '{config}' --data-dir '{data_dir}'")
        self.store: StoreView | None = None
        self.folder = "INBOX"
        self.cursor = 0  # the list's cursor, counted from the newest message
        self.startup_connections = 0

    def __enter__(self) -> AppSession:
        before = self.wan.connections()
        try:
            self.terminal.start()
            self.store = StoreView(self.data_dir)
            newest = self.store.list_row(self.store.message_id("INBOX", 0))
            self.wait_for(newest.on, f"the newest INBOX row {newest}")
            self.wan.wait_quiet()
        except BaseException:
            self.__exit__()
            raise
        self.startup_connections = self.wan.connections() - before
        return self

    def __exit__(self, *exc: object) -> None:
        if self.store is not None:
            self.store.close()
        self.terminal.close()

    def wait_for(
        self, condition: Callable[[str], bool], what: str, timeout: float = SCREEN_TIMEOUT
    ) -> float:
        """The monotonic time of the first screen read where ``condition`` holds."""
        try:
            seen, _ = self.terminal.wait_for(condition, what=what, timeout=timeout)
        except TerminalError as error:
            raise RowFailed(str(error)) from None
        return seen

    def keys(self, *keys: str, literal: bool = False) -> float:
        """Send keys; the monotonic time just before they were sent."""
        sent = time.monotonic()
        self.terminal.keys(*keys, literal=literal)
        return sent

    def figures(self) -> tuple[float, float]:
        """The app's (CPU seconds, peak RSS MiB) so far."""
        try:
            return self.terminal.figures()
        except OSError:
            raise RowFailed("the app exited") from None

    def current(self) -> int:
        """The store id of the message under the cursor."""
        assert self.store is not None
        return self.store.message_id(self.folder, self.cursor)

    def escape(self) -> None:
        """Escape on its own: a key right after it would arrive as Alt+key."""
        self.keys("Escape")
        time.sleep(ESCAPE_SECONDS)

    def rest(self) -> None:
        """Back to the list (if a message was opened) and idle: at least QUIET seconds, and
        until nothing crossed the proxies for QUIET seconds."""
        self.escape()
        time.sleep(QUIET)
        self.wan.wait_quiet()


class ScreenRow:
    """Runs of one screen row: figures, connections, and what went wrong."""

    def __init__(self, wan: WanRun, name: str) -> None:
        self.wan = wan
        self.name = name
        self.measurement = Measurement(command=[name], warmups=1)
        self.connections_before = wan.connections()
        self.not_quiet_before = wan.not_quiet
        self.error = ""
        self.screen = ""  # the screen when it went wrong, for the raw output
        self.unmeasurable = ""
        self.runs_done = 0  # warm-up included
        self.startup: int | None = None  # connections of the program's start, when it started

    def fail(self, error: BaseException) -> None:
        """The row stops here: its first line is the row's check, the rest (a screen) is kept
        for the raw output."""
        text = str(error) or type(error).__name__
        self.error = text.split("\n")[0]
        if "\n" in text:
            self.screen = text

    def start_counting(self) -> None:
        """Count connections from now (after the program's start-up)."""
        self.connections_before = self.wan.connections()
        self.not_quiet_before = self.wan.not_quiet

    def add(self, number: int, wall: float, cpu: float, peak: float) -> None:
        """Run ``number`` (0: the warm-up, not counted) took ``wall`` seconds."""
        print(f"    {'warm-up' if not number else f'run {number}'}: {wall:.4f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        self.runs_done += 1
        if number:
            self.measurement.runs.append(Run(wall=wall, cpu=cpu, peak_mib=peak, exit_code=0))

    def record(self, label: str, messages: int, ok_text: str) -> Row:
        """The row in the results: measured, failed (with why) or not measurable."""
        connections = self.wan.connections() - self.connections_before
        logins = (
            f"{connections} connections through the proxy in {self.runs_done} finished runs "
            "(warm-up included; the program's start not counted)"
        )
        if (restless := self.wan.not_quiet - self.not_quiet_before) > 0:
            logins += (
                f"; {restless} times the proxies were not quiet for {QUIET:g} s within "
                f"{QUIET_TIMEOUT:g} s before a run"
            )
        if self.startup is not None:
            logins += f"; its start (first page and quiet): {self.startup} connections"
        if self.unmeasurable:
            ok, text = False, f"{self.unmeasurable}; {logins}"
        elif self.error:
            self.measurement.timed_out = not self.measurement.runs
            ok, text = False, f"{self.error}; {logins}"
        else:
            ok, text = True, f"{ok_text}; {logins}"

        def check() -> tuple[bool, str]:
            return ok, text

        log = None
        if self.screen:
            log = self.wan.work / f"{self.name}.screen"
            log.write_text(self.screen + "\n")
        row = self.wan.run.record(self.name, label, messages, self.measurement, check, log=log)
        if self.unmeasurable:
            row.status = NOT_MEASURED
        row.connections = connections
        return row


# --- one RTT ------------------------------------------------------------------------------------


class WanRun:
    """The wan rows at one RTT: the proxies, the configs, the rows."""

    def __init__(self, run: SizeRun, rtt: float) -> None:
        self.run = run
        self.rtt = rtt
        servers = run.servers
        self.imap_proxy = ProxyProcess(servers.host, servers.imaps_port, delay=rtt / 2)
        self.smtp_proxy = ProxyProcess(servers.host, servers.submission_port, delay=rtt / 2)
        self.direct = DirectImap(run)
        self.work = run.work / f"wan{rtt_ms(rtt)}"
        self.work.mkdir(exist_ok=True)
        self.not_quiet = 0  # waits for quiet that gave up (see wait_quiet)

    def close(self) -> None:
        """Stop the proxies and the bench's own connection."""
        self.direct.close()
        self.imap_proxy.close()
        self.smtp_proxy.close()

    # --- helpers ---------------------------------------------------------------------------------
    def connections(self) -> int:
        """Connections through both proxies so far."""
        return self.imap_proxy.connections + self.smtp_proxy.connections

    def wait_quiet(self) -> None:
        """Until nothing crossed either proxy for QUIET seconds; at most QUIET_TIMEOUT (a
        program that never stops talking is let go then, and ``not_quiet`` counts it)."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        while time.monotonic() < deadline:
            quiet = min(self.imap_proxy.quiet_for(), self.smtp_proxy.quiet_for())
            if quiet >= QUIET:
                return
            time.sleep(QUIET - quiet)
        self.not_quiet += 1

    def name(self, what: str) -> str:
        """This RTT's row name."""
        return row_name(self.rtt, what)

    def config(self, file: str, bodies: str = "") -> Path:
        """The tuimail config through the proxies (``bodies``: a policy line, or the default)."""
        return self.run.render(
            "tuimail-wan.toml",
            self.work / file,
            bodies=bodies,
            imaps_port=self.imap_proxy.port,
            submission_port=self.smtp_proxy.port,
        )

    def none_config(self, file: str) -> tuple[Path, str]:
        """A config with no bodies downloaded: the policy "none" where tuimail knows it, else
        the boolean it had before (``bodies = false``)."""
        from tuimail.config.load import load_config
        from tuimail.config.schema import ConfigError

        for line in NONE_POLICIES:
            path = self.config(file, line)
            try:
                load_config(path, must_exist=True)
            except ConfigError:
                continue
            return path, line
        raise RuntimeError("tuimail takes none of " + ", ".join(NONE_POLICIES))

    def prepared_store(self, config: Path, data_dir: Path) -> None:
        """A store as after the account's first sync, untimed: ``tuimail sync`` of every folder,
        with the same config but straight to Dovecot (not through the proxy)."""
        direct = config.with_name(config.stem + "-direct.toml")
        text = config.read_text()
        text = text.replace(
            f"port = {self.imap_proxy.port}\n", f"port = {self.run.servers.imaps_port}\n"
        )
        direct.write_text(text)
        direct.chmod(0o600)
        shutil.rmtree(data_dir, ignore_errors=True)
        command = [str(p) for p in self.run.tuimail_command(direct, data_dir, "sync", ACCOUNT)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PREPARE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RowFailed(
                f"the store was not prepared: tuimail sync took more than {PREPARE_TIMEOUT:.0f} s"
            ) from None
        except subprocess.CalledProcessError as error:
            said = (error.stderr or b"").decode(errors="replace").strip().splitlines()
            raise RowFailed(
                f"the store was not prepared: tuimail sync exited {error.returncode}"
                + (f" ({said[-1]})" if said else "")
            ) from None

    # --- the rows --------------------------------------------------------------------------------
    def run_rows(self, *, sync: bool, screen: bool) -> None:
        """The wan rows at this RTT, in order: the whole-process rows if ``sync``, the screen
        rows if ``screen``."""
        if sync:
            wan_sync.sync_rows(self)
        if screen:
            self.open_remote_rows()
            self.app_rows()

    def session_failed(self, error: BaseException, rows: dict[str, str]) -> None:
        """A session did not start (or broke between rows): each of its rows not recorded yet
        fails, saying so (``rows``: name -> label)."""
        why = (str(error) or type(error).__name__).splitlines()[0]
        for name, label in rows.items():
            if not any(r.name == name for r in self.run.result.rows):
                row = ScreenRow(self, name)
                row.error = f"the app's session failed: {why}"
                row.record(label, 0, "")

    def runs(self) -> Iterator[int]:
        """0 (the warm-up), then 1 .. --runs."""
        return iter(range(self.run.options.runs + 1))

    # Screen rows ---------------------------------------------------------------------------------
    def label(self, what: str, policy: str = "") -> str:
        """The table's label of the screen row ``what`` at this RTT (``policy``: the config's
        body policy line, for the rows that depend on it)."""
        labels = {
            "tuimail-open-remote": f"{JUMP} x j + Enter (past the messages fetched around the "
            f"cursor), body not local ({policy}), until its text is on the screen",
            "tuimail-open-prefetched": f"rest a second, j + Enter ({policy}: only the prefetch "
            "around the cursor makes it local), until the text is on the screen",
            "neomutt-open-remote": "neomutt j + Enter over IMAP (no message cache), until the "
            "pager shows it",
            "tuimail-flag": "F until the flag is on the server (seen by a direct IMAP session)",
            "tuimail-new-mail": f"a message APPENDed to {NEW_MAIL_FOLDER} (shown in the app) "
            "until its subject is on the screen",
            "tuimail-outage-outbox": "servers cut, a message queued in the composer, servers "
            "back: from the restore until Postfix has it",
        }
        return f"RTT {rtt_ms(self.rtt)} ms: {labels[what]}"

    def open_remote_rows(self) -> None:
        """`j` x JUMP + Enter on a message whose body is not local (policy none), then, in the
        same session, `j` + Enter after a rest (the prefetched row); neomutt beside it."""
        config, policy = self.none_config("tuimail-none.toml")
        data = self.work / "tm-none"
        label = self.label("tuimail-open-remote", policy)
        name = self.name("tuimail-open-remote")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        row = ScreenRow(self, name)
        try:
            self.prepared_store(config, data)
            with AppSession(self, config, data) as app:
                row.start_counting()
                row.startup = app.startup_connections
                try:
                    for number in self.runs():
                        app.rest()
                        target = app.store.message_id("INBOX", app.cursor + JUMP)  # type: ignore[union-attr]
                        message = app.store.message(target)  # type: ignore[union-attr]
                        if message.body_local:
                            row.unmeasurable = (
                                f"the body {JUMP} messages down was local before the keys "
                                f"({policy}): the row cannot measure an open over the network"
                            )
                            break
                        shown = self.timed_open(app, message, steps=JUMP)
                        cpu, peak = app.figures()
                        row.add(number, shown, cpu, peak)
                except ROW_ERRORS as error:
                    row.fail(error)
                row.record(label, 0, "the body's text was on the screen after each key")
                # Same session, same policy: what a resting cursor makes local before `j`.
                self.prefetched_row(app, policy)
        except ROW_ERRORS as error:
            what = ("tuimail-open-remote", "tuimail-open-prefetched")
            self.session_failed(error, {self.name(w): self.label(w, policy) for w in what})
        shutil.rmtree(data, ignore_errors=True)
        self.neomutt_open_row()

    def timed_open(self, app: AppSession, message: MessageRow, *, steps: int = 1) -> float:
        """`j` (`steps` times) + Enter; seconds until one of the body's first lines is on the
        screen."""
        uid = message.uid
        if uid is None:
            raise RowFailed(f"message {message.id} has no UID")
        markers = body_markers(self.direct.raw(app.folder, uid))
        before = app.terminal.screen()
        markers = [m for m in markers if m not in before]
        if not markers:
            raise RowFailed(f"UID {uid}: no line of its text tells it from the screen before")
        sent = app.keys(*["j"] * steps, "Enter")
        app.cursor += steps
        seen = app.wait_for(
            lambda screen: any(m in screen for m in markers), f"the body of UID {uid}"
        )
        return seen - sent

    def neomutt_open_row(self) -> None:
        """neomutt: `j` + Enter in the index (newest first), until the pager shows the message."""
        name = self.name("neomutt-open-remote")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        store = self.work / "nm-open"
        store.mkdir(exist_ok=True)
        rc = self.run.render(
            "neomuttrc", self.work / "neomuttrc-open", store=store, imaps_port=self.imap_proxy.port
        )
        with rc.open("a") as handle:
            handle.write("set sort = reverse-date\n")
        total = self.run.inbox_count()
        row = ScreenRow(self, name)
        terminal = Terminal(f"exec neomutt -n -F '{rc}'")
        try:
            with terminal:
                terminal.start()
                terminal.wait_for(
                    lambda s: f"Msgs:{total}" in s, what="neomutt's index",
                    timeout=NEOMUTT_INDEX_TIMEOUT,
                )  # fmt: skip
                terminal.keys("Home")
                self.wait_quiet()
                row.start_counting()
                for number in self.runs():
                    position = number + 2  # from the first message, `j` opens the next one
                    pager = re.compile(rf"\s{position}/{total}: ")
                    sent = time.monotonic()
                    terminal.keys("j", "Enter")
                    seen, _ = terminal.wait_for(
                        matches(pager), what=f"neomutt's pager on message {position}",
                        timeout=SCREEN_TIMEOUT,
                    )  # fmt: skip
                    cpu, peak = terminal.figures()
                    row.add(number, seen - sent, cpu, peak)
                    terminal.keys("q")  # back to the index
                    time.sleep(QUIET)
                    self.wait_quiet()
        except ROW_ERRORS as error:
            row.fail(error)
        row.record(self.label("neomutt-open-remote"), 0, "the pager showed each message")
        shutil.rmtree(store, ignore_errors=True)

    def app_rows(self) -> None:
        """One app session with the default body policy: flag, new mail in Lists/dev, then the
        outage."""
        config = self.config("tuimail-default.toml")
        data = self.work / "tm-default"
        try:
            self.prepared_store(config, data)
            with AppSession(self, config, data) as app:
                self.flag_row(app)
                self.new_mail_row(app)
                self.outage_row(app)
        except ROW_ERRORS as error:
            # The session did not start: every row of it not recorded yet says so.
            what = ("tuimail-flag", "tuimail-new-mail", "tuimail-outage-outbox")
            self.session_failed(error, {self.name(w): self.label(w) for w in what})
        shutil.rmtree(data, ignore_errors=True)

    def prefetched_row(self, app: AppSession, policy: str) -> None:
        name = self.name("tuimail-open-prefetched")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        row = ScreenRow(self, name)
        row.startup = app.startup_connections  # the session's start, shared by its rows
        local = 0
        try:
            for number in self.runs():
                app.rest()
                target = app.store.message_id("INBOX", app.cursor + 1)  # type: ignore[union-attr]
                message = app.store.message(target)  # type: ignore[union-attr]
                local += bool(message.body_local)
                shown = self.timed_open(app, message)
                cpu, peak = app.figures()
                row.add(number, shown, cpu, peak)
        except ROW_ERRORS as error:
            row.fail(error)
        row.record(
            self.label("tuimail-open-prefetched", policy),
            0,
            f"the body's text was on the screen after each key; local before the key in {local} "
            f"of {self.run.options.runs + 1} runs",
        )

    def flag_row(self, app: AppSession) -> None:
        name = self.name("tuimail-flag")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        row = ScreenRow(self, name)
        try:
            for number in self.runs():
                app.escape()
                app.keys("j")
                app.cursor += 1
                time.sleep(QUIET)
                self.wait_quiet()
                message = app.store.message(app.current())  # type: ignore[union-attr]
                uid = message.uid
                if uid is None:
                    raise RowFailed(f"message {message.id} has no UID")
                flagged = "\\Flagged" in self.direct.flags(app.folder, uid)
                sent = app.keys("F")
                deadline = sent + SCREEN_TIMEOUT
                while ("\\Flagged" in self.direct.flags(app.folder, uid)) == flagged:
                    if time.monotonic() > deadline:
                        row.screen = app.terminal.screen()
                        raise NotWithin(
                            f"UID {uid}: the flag was not on the server {SCREEN_TIMEOUT:.0f} s "
                            "after the key"
                        )
                    time.sleep(FLAG_POLL)
                seen = time.monotonic()
                cpu, peak = app.figures()
                row.add(number, seen - sent, cpu, peak)
        except ROW_ERRORS as error:
            row.fail(error)
        row.record(self.label("tuimail-flag"), 0, "the server had each flag change")

    def new_mail_row(self, app: AppSession) -> None:
        name = self.name("tuimail-new-mail")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        row = ScreenRow(self, name)
        folder = NEW_MAIL_FOLDER
        address = self.run.servers.address(self.run.user)
        try:
            assert app.store is not None
            place = app.store.palette_name(folder)
            newest = app.store.list_row(app.store.message_id(folder, 0))
            app.escape()
            app.keys("C-p")
            time.sleep(0.5)
            app.keys(f"Go to {place}", literal=True)
            time.sleep(0.5)
            app.keys("Enter")
            app.wait_for(newest.on, f"the newest {folder} row {newest}")
            app.folder, app.cursor = folder, 0
            row.start_counting()
            for number in self.runs():
                time.sleep(QUIET)
                self.wait_quiet()
                subject = f"wan{rtt_ms(self.rtt)} new {number} {secrets.token_hex(2)}"
                raw = (
                    f"From: Carol Dev <carol@bench.invalid>\r\nTo: {address}\r\n"
                    f"Subject: {subject}\r\nDate: {formatdate(localtime=True)}\r\n"
                    f"Message-ID: {make_msgid(domain='bench.invalid')}\r\n\r\n"
                    "New on the list.\r\n"
                ).encode()
                self.direct.append(folder, raw)
                stored = time.monotonic()  # the server has it
                try:
                    seen = app.wait_for(
                        contains(subject),
                        f"the subject {subject!r} of a message new in {folder}",
                        timeout=NEW_MAIL_TIMEOUT,
                    )
                except TimeoutError:
                    # The top of the screen (the list), which the report's tail would cut off.
                    row.screen = "\n".join(app.terminal.screen().splitlines()[:24])
                    raise NotWithin(
                        f"not on the screen within {NEW_MAIL_TIMEOUT:.0f} s of the APPEND"
                    ) from None
                cpu, peak = app.figures()
                row.add(number, seen - stored, cpu, peak)
        except ROW_ERRORS as error:
            row.fail(error)
        row.record(self.label("tuimail-new-mail"), 0, "each subject was on the screen")

    def outage_row(self, app: AppSession) -> None:
        name = self.name("tuimail-outage-outbox")
        print(f">>> N={self.run.size} {name}", file=sys.stderr, flush=True)
        row = ScreenRow(self, name)
        row.measurement.warmups = 0  # a long row: no warm-up
        sink = self.run.servers.address("bob")
        try:
            for number in range(1, self.run.options.runs + 1):
                self.wait_quiet()
                self.imap_proxy.cut()
                self.smtp_proxy.cut()
                time.sleep(OUTAGE_SETTLE)
                subject = f"wan{rtt_ms(self.rtt)} outage {number} {secrets.token_hex(2)}"
                app.escape()
                app.keys("c")
                app.wait_for(lambda s: "Send later" in s and "Subject" in s, "the composer")
                app.keys(sink, literal=True)
                app.keys("Tab")  # To, then Subject (Cc and Bcc are hidden while empty)
                app.keys(subject, literal=True)
                app.keys("Tab")
                app.keys("Written while the server was away.", literal=True)
                app.keys("C-s")
                app.wait_for(lambda s: "Queued" in s, "the notice that the message is queued")
                assert app.store is not None
                item = app.store.last_outbox_item()
                if item is None:
                    raise RowFailed("nothing in the outbox after the composer queued")
                message_id, next_attempt, _state = item
                # The grace period ends during the outage: the app's attempt fails there.
                wait = next_attempt + 2 - time.time()
                time.sleep(min(max(wait, 0.0), 60.0))
                self.imap_proxy.restore()
                self.smtp_proxy.restore()
                restored = time.monotonic()
                accepted = self.postfix_has(message_id, restored + OUTBOX_TIMEOUT)
                cpu, peak = app.figures()
                row.add(number, accepted - restored, cpu, peak)
        except ROW_ERRORS as error:
            row.fail(error)
        finally:
            self.imap_proxy.restore()
            self.smtp_proxy.restore()
        row.record(self.label("tuimail-outage-outbox"), 0, "Postfix queued each message")

    def postfix_has(self, message_id: str, deadline: float) -> float:
        """The monotonic time Postfix's log first shows the message queued (qmgr took it)."""
        cleanup = re.compile(rf"(\w+): message-id=<{re.escape(message_id.strip('<>'))}>")
        queue_id = None
        while True:
            log = self.run.servers.postfix_log()
            now = time.monotonic()
            if queue_id is None:
                found = cleanup.search(log)
                queue_id = found.group(1) if found else None
            if queue_id is not None and re.search(rf"{queue_id}: from=<", log):
                return now
            if now > deadline:
                raise NotWithin(
                    f"Postfix did not have the message {OUTBOX_TIMEOUT:.0f} s after the restore"
                )
            time.sleep(0.02)


def run_group(run: SizeRun, rtts: tuple[float, ...], *, sync: bool, screen: bool) -> None:
    """The wan rows at every RTT, against the size's servers and corpus: the whole-process
    rows if ``sync`` (at --wan-sync-sizes), the screen rows if ``screen`` (at --sizes)."""
    for rtt in rtts:
        wan = WanRun(run, rtt)
        try:
            wan.run_rows(sync=sync, screen=screen)
        finally:
            wan.close()
