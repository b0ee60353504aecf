"""A large import is stored by a writer process (`store.ingest_process`) one batch behind the
reading: the store ends up as an inline import leaves it, duplicates are counted right while
batches are still on their way, a crash in the writer ends the import as a crash of one process
would, and the writer's failures reach the caller."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from mailbox import Maildir
from pathlib import Path

import pytest

from tests.support.terminal import ROOT
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR
from tuimail.store import body_codec, read, write
from tuimail.store.db import StoreError, open_store, store_path
from tuimail.store.ingest import IncomingMessage
from tuimail.store.ingest_process import IngestWriter
from tuimail.sync import importer
from tuimail.sync.importer import SourceMessage, import_into_store

pytestmark = pytest.mark.integration

CONFIG = '[accounts.arch]\naddress = "me@example.org"\n'


def message(number: int, body: str = "") -> bytes:
    return (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        f"Subject: bulk {number}\r\n"
        f"Date: Mon, {number % 28 + 1:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <bulk-{number}@example.org>\r\n\r\n"
        f"{body or f'Body {number}.'}\r\n"
    ).encode()


def source_with_repeats() -> list[bytes]:
    """Messages, some of them more than once and far apart (other batches), the same bytes
    without a Message-ID twice, and a Message-ID reused for other bytes."""
    messages = [message(n) for n in range(120)]
    messages[40] = messages[3]
    messages[97] = messages[3]
    no_id = b"Subject: no id\r\n\r\nsame bytes\r\n"
    messages[10] = no_id
    messages[77] = no_id
    messages[55] = message(5, "another body, the same Message-ID")
    return messages


def folder_bodies(data_dir: Path, name: str) -> tuple[list[bytes], int]:
    conn = open_store(data_dir)
    try:
        account_id = read.account_id(conn, "arch")
        assert account_id is not None
        found = read.find_folder(conn, account_id, name)
        assert found is not None
        ids = read.message_ids(conn, found.id, descending=False)
        return sorted(read.body(conn, i) or b"" for i in ids), found.total
    finally:
        conn.close()


def import_source(
    data_dir: Path, folder: str, source: Iterable[SourceMessage], *, bulk: bool
) -> tuple[int, int]:
    """Import `source` into arch/`folder`: (imported, already there)."""
    conn = open_store(data_dir)
    try:
        account_id = write.ensure_account(conn, "arch", None)
        found = read.find_folder(conn, account_id, folder)
        folder_id = found.id if found else write.upsert_folder(conn, account_id, folder)
        result = import_into_store(conn, folder_id, source, bulk=bulk)
        return result.imported, result.already_there
    finally:
        conn.close()


def import_list(data_dir: Path, folder: str, raws: list[bytes], *, bulk: bool) -> tuple[int, int]:
    source = [SourceMessage(raw, frozenset(), None, f"m{i}", i) for i, raw in enumerate(raws)]
    return import_source(data_dir, folder, source, bulk=bulk)


def test_a_bulk_import_leaves_the_store_as_an_inline_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: many of them are on their way to the writer while the next are read.
    monkeypatch.setattr(importer, "BATCH_MESSAGES", 7)
    raws = source_with_repeats()
    # Part of the source is in the store before: a rerun of an interrupted import.
    for bulk, data in ((False, tmp_path / "inline"), (True, tmp_path / "bulk")):
        assert import_list(data, "f", raws[:30], bulk=False) == (30, 0)
        assert import_list(data, "f", raws, bulk=bulk) == (90, 30)
    inline = folder_bodies(tmp_path / "inline", "f")
    behind = folder_bodies(tmp_path / "bulk", "f")
    assert behind == inline
    assert behind[1] == 120  # every occurrence once, the repeats as often as the source has them
    assert sorted(behind[0]) == sorted(raws)
    # Again, all of it is there.
    assert import_list(tmp_path / "bulk", "f", raws, bulk=True) == (0, 120)


def write_maildir(path: Path, count: int) -> list[bytes]:
    box = Maildir(path)
    raws = [message(n) for n in range(count)]
    for raw in raws:
        box.add(raw)
    return raws


def import_command(tmp_path: Path, maildir: Path) -> list[str]:
    """`tuimail import --maildir MAILDIR arch/m` with a config and data under `tmp_path`."""
    (tmp_path / "config.toml").write_text(CONFIG)
    config, data = str(tmp_path / "config.toml"), str(tmp_path / "data")
    command = [sys.executable, "-m", "tuimail", "--config", config, "--data-dir", data]
    return [*command, "import", "--maildir", str(maildir), "arch/m"]


def run_import(tmp_path: Path, maildir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        import_command(tmp_path, maildir),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **env},
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_tuimail_import_of_a_large_maildir_goes_through_the_writer(tmp_path: Path) -> None:
    raws = write_maildir(tmp_path / "md", 1600)  # over BULK_MESSAGES: the writer stores it
    done = run_import(tmp_path, tmp_path / "md")
    assert done.returncode == 0, done.stderr
    assert "arch: 1600 imported into arch/m" in done.stdout
    bodies, total = folder_bodies(tmp_path / "data", "m")
    assert total == 1600 and bodies == sorted(raws)
    # Packed by the import while the writer is behind, else by the writer: with the dictionary
    # the writer trained once it had stored TRAIN_AFTER of them, from then on, either way.
    with sqlite3.connect(store_path(tmp_path / "data")) as conn:
        packed = dict(conn.execute("SELECT codec, count(*) FROM bodies GROUP BY codec"))
    assert set(packed) == {body_codec.ZSTD, body_codec.ZSTD_DICT}, packed
    assert packed[body_codec.ZSTD] >= body_codec.TRAIN_AFTER
    again = run_import(tmp_path, tmp_path / "md")
    assert "0 imported into arch/m" in again.stdout and "1600 already there" in again.stdout


def test_a_crash_in_the_writer_ends_the_import_and_a_rerun_adds_the_rest(tmp_path: Path) -> None:
    raws = write_maildir(tmp_path / "md", 1200)
    crashed = run_import(tmp_path, tmp_path / "md", **{ENV_VAR: "import.batch_committed:2"})
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    # The two batches committed before the crash are stored whole, nothing after them.
    _, total = folder_bodies(tmp_path / "data", "m")
    assert total == 2 * importer.BATCH_MESSAGES
    done = run_import(tmp_path, tmp_path / "md")
    assert done.returncode == 0, done.stderr
    assert "800 imported into arch/m" in done.stdout and "400 already there" in done.stdout
    bodies, total = folder_bodies(tmp_path / "data", "m")
    assert total == 1200 and bodies == sorted(raws)


def test_the_writers_failure_is_raised_to_the_caller(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    try:
        path = conn.path
        assert path is not None
        item = IncomingMessage(raw=message(1))
        with IngestWriter(path) as writer:
            writer.submit(importer.store_batch, 9999, [item])  # no such folder
            with pytest.raises(StoreError, match="folder 9999 is not in the store"):
                writer.wait()
            # The writer goes on after a failed batch.
            account_id = write.ensure_account(conn, "arch", None)
            folder_id = write.upsert_folder(conn, account_id, "f")
            writer.submit(importer.store_batch, folder_id, [item])
            assert writer.wait() == 1
        (message_id,) = read.message_ids(conn, folder_id)
        assert read.body(conn, message_id) == message(1)
    finally:
        conn.close()


def test_a_writer_that_ends_unexpectedly_is_a_store_error(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    try:
        path = conn.path
        assert path is not None
        with IngestWriter(path) as writer:
            writer._process.kill()
            writer._process.join()
            with pytest.raises(StoreError, match="ended unexpectedly"):
                # Found out when the batch is handed over, or at the latest when waited for.
                writer.submit(importer.store_batch, 1, [IncomingMessage(raw=message(1))])
                writer.wait()
    finally:
        conn.close()


def test_a_ctrl_c_while_the_writer_starts_does_not_end_it(tmp_path: Path) -> None:
    """The terminal's Ctrl-C reaches the writer too, and may come before the writer has
    started far enough to ignore it: it is held back until then, and the writer stores what it
    is given."""
    conn = open_store(tmp_path)
    try:
        path = conn.path
        assert path is not None
        account_id = write.ensure_account(conn, "arch", None)
        folder_id = write.upsert_folder(conn, account_id, "f")
        with IngestWriter(path) as writer:
            pid = writer._process.pid
            assert pid is not None
            os.kill(pid, signal.SIGINT)  # at once: the new process is still starting Python
            writer.submit(importer.store_batch, folder_id, [IncomingMessage(raw=message(1))])
            assert writer.wait() == 1
        assert writer._process.exitcode == 0
    finally:
        conn.close()


def test_an_interrupted_bulk_import_keeps_every_message_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_MESSAGES", 9)
    raws = [message(n) for n in range(100)]

    def interrupted() -> Iterator[SourceMessage]:
        for index, raw in enumerate(raws):
            if index == 77:
                raise KeyboardInterrupt  # Ctrl-C while batches are on their way
            yield SourceMessage(raw, frozenset(), None, f"m{index}", index)

    with pytest.raises(KeyboardInterrupt):
        import_source(tmp_path, "f", interrupted(), bulk=True)
    assert folder_bodies(tmp_path, "f")[1] == 77
    assert import_list(tmp_path, "f", raws, bulk=True) == (23, 77)


def test_ctrl_c_during_a_bulk_import_keeps_what_was_read(tmp_path: Path) -> None:
    # The terminal's Ctrl-C reaches both processes; the writer ignores it and stores what it
    # was handed whole, the import stops reading and hands over what it read.
    write_maildir(tmp_path / "md", 3000)
    process = subprocess.Popen(
        import_command(tmp_path, tmp_path / "md"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    data = tmp_path / "data"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stored_count(data) < 600:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert b"interrupted" in err
    kept = stored_count(data)
    assert 600 <= kept <= 3000
    done = run_import(tmp_path, tmp_path / "md")
    assert f"{3000 - kept} imported into arch/m" in done.stdout
    assert f"{kept} already there" in done.stdout


def stored_count(data_dir: Path) -> int:
    path = store_path(data_dir)
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
