"""A first sync with the app open: what the screen costs while an account's mail arrives.

    sudo bench/.venv/bin/python -m bench.ui_sync --label after [--messages 10000]

Starts the project's Dovecot (`tests.support.mailservers`), writes make_corpus's N-message
corpus (plus its subfolders) into alice's maildir, and runs the app itself in this process,
headless (160x50), with an empty store and the IMAP account: its first sync starts at once,
as it does for a user who just added the account and watches the INBOX fill. The run ends when
the sync worker has finished and the message list shows the N messages of the INBOX.

Counted with hooks this script installs (nothing in tuimail counts): frames (compositor
updates of the main screen: what a terminal would have been sent), lines of the message list
painted, folder-pane reads and rebuilds, and reads of the list's ids; timed: wall, CPU of the
whole process (the sync worker included) and CPU of the UI thread alone (the event loop).
Headless, no frame is written to a terminal: the figures are the app's own work.

The figures go into `--results` (bench/results): `ui_sync.json` (one entry per `--label`,
kept across runs, in the order measured) and `UI-SYNC.md` (the table of every label).
Compare labels measured on the same machine; each run is one sync (a 10k run takes a minute or
two on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.make_corpus import Mailbox, index_corpus, write_corpus
from tests.support.mailservers import MailServers, new_server_directory

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
JSON_NAME = "ui_sync.json"
TABLE_NAME = "UI-SYNC.md"
USER = "alice"
SIZE = (160, 50)
TIMEOUT = 1800.0  # seconds: a sync that never ends is a failed run


class Counters:
    """Hooks on Textual and tuimail classes, counting what the screen did."""

    def __init__(self) -> None:
        self.frames = 0
        self.lines_painted = 0
        self.folder_reads = 0
        self.pane_rebuilds = 0
        self.id_reads = 0
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, owner: type, name: str, count: Callable[[Any], None]) -> None:
        original = getattr(owner, name)

        def counted(this: Any, *args: Any, **kwargs: Any) -> Any:
            count(this)
            return original(this, *args, **kwargs)

        setattr(owner, name, counted)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        """Wrap the methods counted (by name: they are the same before and after a change)."""
        from textual.screen import Screen
        from textual.widgets import OptionList

        from tuimail.ui.screens.main import MainScreen
        from tuimail.ui.widgets.message_list import MessageList

        def frame(screen: Any) -> None:
            if isinstance(screen, MainScreen) and screen.is_current:
                self.frames += 1

        def painted(_: Any) -> None:
            self.lines_painted += 1

        def folders(_: Any) -> None:
            self.folder_reads += 1

        def cleared(options: Any) -> None:
            if options.id == "folders":
                self.pane_rebuilds += 1

        def ids(_: Any) -> None:
            self.id_reads += 1

        self._wrap(Screen, "_compositor_refresh", frame)
        self._wrap(MessageList, "_paint", painted)
        self._wrap(MainScreen, "_load_folders", folders)
        self._wrap(OptionList, "clear_options", cleared)
        self._wrap(MessageList, "_ordered_ids", ids)

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()


def _config_text(servers: MailServers) -> str:
    """The IMAP account, its password from a password_command (the keyring is not measured)."""
    password = servers.users[USER]
    return (
        "[accounts.bench]\n"
        f'address = "{servers.address(USER)}"\n'
        f"password_command = \"printf '%s\\\\n' '{password}'\"\n"
        f'ca_file = "{servers.ca_file}"\n\n'
        "[accounts.bench.imap]\n"
        f'host = "{servers.host}"\n'
        f"port = {servers.imaps_port}\n"
        'security = "tls"\n'
        f'username = "{USER}"\n'
        # Headers only, as measured before bodies were downloaded by default: the figures
        # stay comparable across labels.
        'bodies = "none"\n'
    )


async def _watch_sync(config_path: Path, data_dir: Path, size: int) -> dict[str, Any]:
    """Run the app until its first sync is done and the list shows `size` messages."""
    from tuimail.app.application import TuimailApp
    from tuimail.config.load import load_config
    from tuimail.ui.widgets.message_list import MessageList

    counters = Counters()
    counters.install()
    app = TuimailApp(load_config(config_path, must_exist=True), data_dir)
    outcome: dict[str, Any] = {"done": False}

    async def watch() -> None:
        started = time.monotonic()
        seen_running = False
        while time.monotonic() - started < TIMEOUT:
            await asyncio.sleep(0.05)
            running = any(w.group.startswith("mail") and not w.is_finished for w in app.workers)
            seen_running = seen_running or running
            screen = app.screen
            shown = len(screen.query_one(MessageList).ids) if screen.is_mounted else 0
            if seen_running and not running and shown == size:
                outcome["done"] = True
                break
        outcome["shown"] = shown
        app.exit()

    wall0, cpu0, ui0 = time.monotonic(), time.process_time(), time.thread_time()

    async def start_watching() -> None:
        app.run_worker(watch(), exclusive=False, group="bench-watch")

    app.call_later(start_watching)
    try:
        await app.run_async(headless=True, size=SIZE)
    finally:
        counters.uninstall()
    wall, cpu, ui = time.monotonic() - wall0, time.process_time() - cpu0, time.thread_time() - ui0
    return {
        "ok": outcome["done"],
        "messages": size,
        "shown": outcome.get("shown", 0),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "ui_thread_cpu_s": round(ui, 3),
        "frames": counters.frames,
        "list_lines_painted": counters.lines_painted,
        "folder_pane_reads": counters.folder_reads,
        "folder_pane_rebuilds": counters.pane_rebuilds,
        "list_id_reads": counters.id_reads,
    }


def run(size: int) -> dict[str, Any]:
    """Fresh servers and corpus, one watched first sync; the servers are stopped after."""
    server_dir = new_server_directory("tuimail-bench-uisync-")
    work = Path(tempfile.mkdtemp(prefix="tuimail-bench-uisync-work-"))
    servers = MailServers(server_dir)
    try:
        servers.start()
        home = servers.directory / "home" / USER
        owner = home.stat()
        mailbox = Mailbox(home / "Maildir", owner.st_uid, owner.st_gid, servers.address(USER))
        stats = write_corpus(mailbox, size)
        index_corpus(servers.doveadm, USER)
        print(f"corpus: {stats.summary()}", file=sys.stderr)
        config_path = work / "config.toml"
        config_path.write_text(_config_text(servers))
        config_path.chmod(0o600)
        data_dir = work / "data"
        data_dir.mkdir()
        result = asyncio.run(_watch_sync(config_path, data_dir, size))
        result["corpus"] = stats.summary()
        return result
    finally:
        servers.stop()
        shutil.rmtree(server_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def write_results(results_dir: Path, label: str, result: dict[str, Any]) -> None:
    """Keep `result` under `label` in the JSON file and write the table of every label."""
    path = results_dir / JSON_NAME
    stored: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    result["measured"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["machine"] = f"{os.cpu_count()} cores, {platform.platform()}"
    stored[label] = result
    path.write_text(json.dumps(stored, indent=2) + "\n")  # in the order measured
    write_table(results_dir, stored)


def write_table(results_dir: Path, stored: dict[str, Any]) -> None:
    """`UI-SYNC.md`: a column per label, in the order measured."""
    rows = [
        ("frames", "frames of the main screen"),
        ("list_lines_painted", "message-list lines painted"),
        ("folder_pane_reads", "folder-pane reads"),
        ("folder_pane_rebuilds", "folder-pane rebuilds"),
        ("list_id_reads", "reads of the list's ids"),
        ("wall_s", "wall s"),
        ("cpu_s", "CPU s, whole process (sync included)"),
        ("ui_thread_cpu_s", "CPU s, UI thread"),
    ]
    labels = list(stored)
    lines = [
        "# A first sync with the app open",
        "",
        "`python -m bench.ui_sync --label LABEL` (see bench/README.md): the app in-process and"
        " headless (160x50), an empty store, the IMAP account's first sync against the test"
        " Dovecot, until the list shows the INBOX's N messages. One run per label.",
        "",
        "| | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for key, name in rows:
        lines.append(
            f"| {name} | " + " | ".join(str(stored[lb].get(key, "–")) for lb in labels) + " |"
        )
    lines.append("| messages | " + " | ".join(str(stored[lb]["messages"]) for lb in labels) + " |")
    lines.append(
        "| check | " + " | ".join("ok" if stored[lb]["ok"] else "FAILED" for lb in labels) + " |"
    )
    lines.append("| measured | " + " | ".join(stored[lb]["measured"] for lb in labels) + " |")
    machines = sorted({stored[lb].get("machine", "") for lb in labels})
    lines += ["", f"Machine: {'; '.join(machines)}.", ""]
    (results_dir / TABLE_NAME).write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ui_sync", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--label", required=True, help="the name of this run in the results")
    parser.add_argument("--messages", type=int, default=10000, help="INBOX size [10000]")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results directory")
    options = parser.parse_args(argv)
    result = run(options.messages)
    print(json.dumps(result, indent=2), file=sys.stderr)
    options.results.mkdir(parents=True, exist_ok=True)
    write_results(options.results, options.label, result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
