"""`tuimail import`: mbox files and Maildirs into a local account's folders, exact bytes, flags
and dates, no duplicates on a rerun, errors that name the place, bounded memory."""

from __future__ import annotations

import io
import mailbox
import os
import resource
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tuimail.cli.main import main
from tuimail.core.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN
from tuimail.mail.formats.export import (
    Maildir,
    maildir_flags,
    read_mboxrd,
    separator_date,
    write_mbox_entry,
)
from tuimail.store import read, write
from tuimail.store.db import open_store
from tuimail.sync import importer
from tuimail.sync.importer import (
    SourceMessage,
    SourceProblem,
    import_into_store,
    mbox_flags,
    read_maildir,
    read_mbox,
)

WHEN = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)

# Messages that break naive mbox code (as in test_export), plus ordinary ones with Message-IDs.
EDGE_CASES = [
    b"Subject: plain\r\n\r\nHello\r\n",
    b"Subject: x\r\n\r\nFrom the start of a line\r\n>From quoted\r\n>>From twice\r\n",
    b"From the very first line\n",
    b"Subject: lone LF\n\nbody\n",
    b"Subject: lone CR\r\rbody\rFrom after a CR\r",
    b"Subject: no final line end\r\n\r\nlast line",
    b"Subject: mixed\r\n\nline\r\rFrom x\n\r\n",
    b"Subject: trailing blank lines\r\n\r\nbody\n\n\n",
    b"",
    b"\n",
    b"\x00\xff binary \x1b[31m\n",
]


def message(number: int, body: bytes = b"body\r\n", **headers: str) -> bytes:
    head = (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        f"Subject: message {number}\r\n"
        f"Date: Mon, {number % 28 + 1:02d} Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <import-{number}@example.org>\r\n"
    )
    head += "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return head.encode() + b"\r\n" + body


def mbox_bytes(messages: list[bytes], when: datetime = WHEN) -> bytes:
    buffer = io.BytesIO()
    for raw in messages:
        write_mbox_entry(buffer, raw, "someone@example.org", when)
    return buffer.getvalue()


class Env:
    """A config with a local account `arch` (and an IMAP account `work`) and a data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.toml"
        self.data = root / "data"
        self.config.write_text(
            '[accounts.arch]\naddress = "me@example.org"\n'
            '[accounts.work]\naddress = "me@example.net"\n'
            '[accounts.work.imap]\nhost = "imap.example.net"\n'
        )

    def run(self, *args: str) -> int:
        return main(["--config", str(self.config), "--data-dir", str(self.data), *args])

    def stored(self, folder: str, account: str = "arch") -> list[read.MessageRow]:
        conn = open_store(self.data)
        try:
            account_id = read.account_id(conn, account)
            assert account_id is not None
            found = read.find_folder(conn, account_id, folder)
            assert found is not None
            return read.rows(conn, read.message_ids(conn, found.id, descending=False))
        finally:
            conn.close()

    def bodies(self, folder: str) -> list[bytes]:
        conn = open_store(self.data)
        try:
            return [read.body(conn, row.id) or b"" for row in self.stored(folder)]
        finally:
            conn.close()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# --- reading mbox -------------------------------------------------------------------------------


def test_mboxrd_quoting_is_undone_and_the_separator_date_kept() -> None:
    data = mbox_bytes(EDGE_CASES)
    messages = list(read_mbox(io.BytesIO(data), "x.mbox"))
    assert [m.raw for m in messages if isinstance(m, SourceMessage)] == EDGE_CASES
    assert all(isinstance(m, SourceMessage) and m.internaldate == WHEN for m in messages)
    assert messages[-1].position == len(data)


def test_an_mboxo_file_from_another_program_is_read_with_from_lines_unquoted(
    tmp_path: Path,
) -> None:
    # Python's mailbox writes mboxo: "From " lines of a body get a ">", nothing else changes.
    originals = [
        b"Subject: one\n\nFrom the start\nplain\n",
        b"Subject: two\n\nsecond\n",
    ]
    path = tmp_path / "other.mbox"
    box = mailbox.mbox(path)
    for raw in originals:
        box.add(raw)
    box.flush()
    box.close()
    assert b"\n>From the start\n" in path.read_bytes()
    with path.open("rb") as file:
        read_back = [m.raw for m in read_mbox(file, str(path)) if isinstance(m, SourceMessage)]
    assert read_back == originals


def test_separator_dates_parse_or_give_none() -> None:
    assert separator_date(b"From a@b Mon Mar  2 10:00:00 2026") == WHEN
    assert separator_date(b"From a@b Mon Mar  2 10:00:00 2026 +0000 remote from x") == WHEN
    assert separator_date(b"From a@b yesterday") is None
    assert separator_date(b"From ") is None


def test_mbox_status_headers_become_flags() -> None:
    raw = b"Subject: x\nStatus: RO\nX-Status: AFTD\n\nStatus: not a header\n"
    assert mbox_flags(raw) == {SEEN, ANSWERED, FLAGGED, DRAFT, DELETED}
    assert mbox_flags(b"Subject: x\nStatus: O\n\nbody\n") == frozenset()
    assert mbox_flags(b"Subject: x\n\nStatus: RO\n") == frozenset()


def test_a_file_cut_short_ends_with_a_problem_naming_the_line() -> None:
    data = mbox_bytes([message(1), message(2)])
    cut = data[: data.rindex(b"body") + 2]  # in the middle of a line
    items = list(read_mbox(io.BytesIO(cut), "cut.mbox"))
    assert [type(item) for item in items] == [SourceMessage, SourceProblem]
    problem = items[1]
    assert isinstance(problem, SourceProblem)
    second_line = cut.count(b"\n", 0, cut.rindex(b"From someone")) + 1
    assert problem.where == f"cut.mbox, line {second_line}"
    assert "cut short" in problem.problem


# --- reading Maildir ----------------------------------------------------------------------------


def test_maildir_flags_come_from_the_name_and_the_date_from_the_mtime(tmp_path: Path) -> None:
    box = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    files = {
        "cur/1.a.host:2,DFRST": {DRAFT, FLAGGED, ANSWERED, SEEN, DELETED},
        "cur/2.b.host:2,S": {SEEN},
        "cur/3.c.host:2,": set(),
        "new/4.d.host": set(),
    }
    stamp = WHEN.timestamp()
    for name in files:
        (box / name).write_bytes(name.encode())
        os.utime(box / name, (stamp, stamp))
    (box / "cur" / ".hidden").write_bytes(b"not mail")
    items = list(read_maildir(importer.maildir_names(box)))
    assert all(isinstance(item, SourceMessage) for item in items)
    by_bytes = {item.raw.decode(): item for item in items if isinstance(item, SourceMessage)}
    assert set(by_bytes) == set(files)
    for name, flags in files.items():
        assert by_bytes[name].flags == flags
        assert by_bytes[name].internaldate == WHEN


def test_maildir_entries_come_new_first_then_cur_each_by_name(tmp_path: Path) -> None:
    box = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    names = ["cur/20.x:2,S", "cur/3.y:2,", "new/9.z", "new/10.w", "tmp/1.partial"]
    for name in names:
        (box / name).write_bytes(name.encode())
    entries = importer.maildir_names(box)
    assert len(entries) == 4  # not tmp/
    assert list(entries) == [
        str(box / name) for name in ("new/10.w", "new/9.z", "cur/20.x:2,S", "cur/3.y:2,")
    ]
    items = list(read_maildir(entries))
    assert [item.position for item in items] == [1, 2, 3, 4]
    assert [item.where for item in items] == list(entries)


def test_maildir_files_read_ahead_come_in_order_whatever_their_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are read ahead by threads: each entry still comes in the order given with its
    position, a file larger than is read ahead is read in its turn, and an entry that is not a
    message (a directory, a link, a file gone meanwhile) is a problem in its place."""
    monkeypatch.setattr(importer, "READ_AHEAD_BYTES", 100)
    monkeypatch.setattr(importer, "READ_AHEAD", 3)
    box = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    expected: list[bytes | str] = []
    for n in range(40):
        name = box / "cur" / f"{n:03d}.host:2,S"
        if n % 9 == 4:
            name.mkdir()
            expected.append("not a regular file")
        elif n % 9 == 7:
            name.symlink_to(box / "cur" / "000.host:2,S")
            expected.append("not a regular file")
        else:
            raw = message(n, body=b"x" * (n * 7))  # some over 100 bytes, some under
            name.write_bytes(raw)
            expected.append(raw)
    entries = [*importer.maildir_names(box), str(box / "cur" / "999.gone:2,S")]
    expected.append("cannot be read")
    items = list(read_maildir(entries))
    assert [item.where for item in items] == entries
    for position, (item, wanted) in enumerate(zip(items, expected, strict=True), start=1):
        if isinstance(wanted, bytes):
            assert isinstance(item, SourceMessage)
            assert (item.raw, item.flags, item.position) == (wanted, {SEEN}, position)
        else:
            assert isinstance(item, SourceProblem) and wanted in item.problem


def test_a_maildir_read_left_early_stops_its_readers(tmp_path: Path) -> None:
    box = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for n in range(200):
        (box / "new" / f"{n:03d}.host").write_bytes(message(n))
    reading = read_maildir(importer.maildir_names(box))
    first = next(reading)
    assert isinstance(first, SourceMessage) and first.position == 1
    reading.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("read-maildir")]


def test_a_directory_that_is_not_a_maildir_is_refused(env: Env, tmp_path: Path, capsys) -> None:
    (tmp_path / "plain").mkdir()
    assert env.run("import", "--maildir", str(tmp_path / "plain"), "arch/x") == 2
    assert "not a Maildir" in capsys.readouterr().err


# --- into the store -----------------------------------------------------------------------------


def test_import_stores_exact_bytes_flags_and_internal_dates(env: Env, capsys) -> None:
    originals = [message(1, Status="RO"), message(2, X_Status="F"), *EDGE_CASES]
    path = env.root / "old.mbox"
    path.write_bytes(mbox_bytes(originals))
    assert env.run("import", "--mbox", str(path)) == 0  # the only local account, folder "old"
    out = capsys.readouterr().out
    assert f"{len(originals)} imported into arch/old" in out
    rows = env.stored("old")
    assert sorted(env.bodies("old")) == sorted(originals)
    by_subject = {row.envelope.subject: row for row in rows}
    assert by_subject["message 1"].flags == {SEEN}
    assert by_subject["message 2"].flags == {FLAGGED}
    assert all(row.internaldate == WHEN for row in rows)


def test_export_import_export_of_an_mbox_is_byte_identical(env: Env) -> None:
    originals = [message(n, body) for n, body in enumerate([b"x\r\n", b"From y\r\n>From z\n"])]
    originals += EDGE_CASES
    first = env.root / "first.mbox"
    first.write_bytes(mbox_bytes(originals))
    assert env.run("import", "--mbox", str(first), "arch/one") == 0
    exported = env.root / "exported.mbox"
    assert env.run("export", "arch/one", "--mbox", str(exported)) == 0
    assert env.run("import", "--mbox", str(exported), "arch/two") == 0
    again = env.root / "again.mbox"
    assert env.run("export", "arch/two", "--mbox", str(again)) == 0
    assert exported.read_bytes() == again.read_bytes()
    with exported.open("rb") as file:
        assert sorted(entry.raw for entry in read_mboxrd(file)) == sorted(originals)
    assert sorted(env.bodies("two")) == sorted(originals)


def test_export_import_export_of_a_maildir_keeps_bytes_and_flags(env: Env) -> None:
    flag_sets = [{SEEN}, {FLAGGED, ANSWERED}, set(), {DRAFT, SEEN}, {DELETED}]
    originals = [message(n) for n in range(len(flag_sets))] + EDGE_CASES[:4]
    source = Maildir(env.root / "source")
    for index, raw in enumerate(originals):
        source.add(raw, flag_sets[index % len(flag_sets)], WHEN)
    source.commit()

    def contents(path: Path) -> list[tuple[bytes, frozenset[str]]]:
        return sorted((f.read_bytes(), maildir_flags(f.name)) for f in (path / "cur").iterdir())

    assert env.run("import", "--maildir", str(env.root / "source"), "arch/md") == 0
    assert all(row.internaldate == WHEN for row in env.stored("md"))
    assert env.run("export", "arch/md", "--maildir", str(env.root / "out1")) == 0
    assert env.run("import", "--maildir", str(env.root / "out1"), "arch/md2") == 0
    assert env.run("export", "arch/md2", "--maildir", str(env.root / "out2")) == 0
    assert contents(env.root / "source") == contents(env.root / "out1")
    assert contents(env.root / "out1") == contents(env.root / "out2")
    # The dates travel too: export gives each file the message's date as its modification time.
    assert all(row.internaldate == WHEN for row in env.stored("md2"))
    mtimes = {f.stat().st_mtime for f in (env.root / "out2" / "cur").iterdir()}
    assert mtimes == {WHEN.timestamp()}


def test_importing_twice_adds_nothing_but_a_message_twice_in_the_file_is_kept_twice(
    env: Env, capsys
) -> None:
    # The same bytes twice (with and without a Message-ID), and the same Message-ID with other
    # bytes: all are different messages of the file, and a rerun finds every one of them.
    twin = message(7)
    no_id = b"Subject: no id\r\n\r\nsame\r\n"
    originals = [twin, twin, no_id, no_id, message(7, b"other body\r\n"), message(8)]
    path = env.root / "twice.mbox"
    path.write_bytes(mbox_bytes(originals))
    assert env.run("import", "--mbox", str(path), "arch/t") == 0
    assert env.run("import", "--mbox", str(path), "arch/t") == 0
    assert "0 imported into arch/t" in capsys.readouterr().out.splitlines()[-1]
    assert sorted(env.bodies("t")) == sorted(originals)
    # The same messages from a Maildir count as the same messages.
    box = Maildir(env.root / "md")
    for raw in originals:
        box.add(raw, ())
    assert env.run("import", "--maildir", str(env.root / "md"), "arch/t") == 0
    assert len(env.bodies("t")) == len(originals)


def test_after_any_import_the_folder_holds_each_message_as_often_as_the_most_of_before_and_source(
    env: Env,
) -> None:
    """Random sources with repeats (same bytes, with or without a Message-ID, and a Message-ID
    shared by other bytes), imported one after another into one folder: after each, the
    folder holds every message's bytes as many times as the folder held before or the source
    holds, whichever is more; never fewer (nothing lost), never more."""
    import random
    from collections import Counter

    rng = random.Random(19)
    pool = [message(n % 4, b"body %d\r\n" % n) for n in range(6)]  # ids shared by bodies
    pool += [b"Subject: no id %d\r\n\r\nsame\r\n" % n for n in range(3)]
    held: Counter[bytes] = Counter()
    for round_number in range(8):
        source = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        path = env.root / f"round{round_number}.mbox"
        path.write_bytes(mbox_bytes(source))
        assert env.run("import", "--mbox", str(path), "arch/t") == 0
        held = held | Counter(source)  # the most of each
        assert Counter(env.bodies("t")) == held, round_number


def test_an_interrupted_import_keeps_its_batches_and_a_rerun_adds_the_rest(
    env: Env, monkeypatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_MESSAGES", 3)
    originals = [message(n) for n in range(10)]
    conn = open_store(env.data)
    try:
        account_id = write.ensure_account(conn, "arch", None)
        folder_id = write.upsert_folder(conn, account_id, "f")

        def interrupted() -> Iterator[SourceMessage]:
            for index, raw in enumerate(originals):
                if index == 7:
                    raise KeyboardInterrupt
                yield SourceMessage(raw, frozenset(), None, f"m{index}", index)

        with pytest.raises(KeyboardInterrupt):
            import_into_store(conn, folder_id, interrupted())
        # Every message read before the interruption is committed, none twice.
        assert read.folder(conn, folder_id).total == 7  # type: ignore[union-attr]
        source = [SourceMessage(raw, frozenset(), None, "m", 0) for raw in originals]
        result = import_into_store(conn, folder_id, source)
        assert (result.imported, result.already_there) == (3, 7)
        assert read.folder(conn, folder_id).total == 10  # type: ignore[union-attr]
    finally:
        conn.close()


def test_a_truncated_mbox_keeps_what_came_before_and_names_the_line(env: Env, capsys) -> None:
    data = mbox_bytes([message(1), message(2), message(3)])
    path = env.root / "cut.mbox"
    path.write_bytes(data[:-10])
    assert env.run("import", "--mbox", str(path), "arch/cut") == 1
    captured = capsys.readouterr()
    line = data.count(b"\n", 0, data.rindex(b"From someone")) + 1
    assert f"cut.mbox, line {line}: the file ends in the middle" in captured.err
    assert "2 imported" in captured.out
    assert sorted(env.bodies("cut")) == sorted([message(1), message(2)])


def test_a_file_that_is_not_an_mbox_imports_nothing(env: Env, capsys) -> None:
    path = env.root / "notes.txt"
    path.write_bytes(b"Subject: x\n\nFrom here on\n")
    assert env.run("import", "--mbox", str(path), "arch/x") == 2
    assert "notes.txt, line 1: not an mbox file" in capsys.readouterr().err
    assert not env.data.exists()  # refused before anything was created


def test_an_unreadable_maildir_entry_is_named_and_the_others_imported(env: Env, capsys) -> None:
    box = Maildir(env.root / "md")
    box.add(message(1), {SEEN})
    box.add(message(2), ())
    # A directory and a symbolic link where messages should be: neither is read.
    (env.root / "md" / "cur" / "9.bad.host:2,S").mkdir()
    (env.root / "md" / "new" / "9.link.host").symlink_to("/etc/passwd")
    assert env.run("import", "--maildir", str(env.root / "md"), "arch/md") == 1
    err = capsys.readouterr().err
    assert "9.bad.host:2,S: not a regular file" in err
    assert "9.link.host: not a regular file" in err
    assert sorted(env.bodies("md")) == sorted([message(1), message(2)])


def test_an_imap_account_needs_upload_and_names_are_checked(env: Env, capsys) -> None:
    path = env.root / "a.mbox"
    path.write_bytes(mbox_bytes([message(1)]))
    assert env.run("import", "--mbox", str(path), "work/INBOX") == 2
    assert "add --upload" in capsys.readouterr().err
    assert env.run("import", "--mbox", str(path), "nobody/x") == 2
    assert "no account 'nobody'" in capsys.readouterr().err
    assert env.run("import", "--mbox", str(path), "arch/x", "--upload") == 2
    assert "no IMAP server" in capsys.readouterr().err
    assert env.run("import", "--mbox", str(env.root / "missing.mbox")) == 2
    assert "missing.mbox" in capsys.readouterr().err


def test_folder_defaults_to_the_source_name_and_inbox_matches_in_any_case(env: Env) -> None:
    path = env.root / "Lists.mbox"
    path.write_bytes(mbox_bytes([message(1)]))
    assert env.run("import", "--mbox", str(path), "arch") == 0
    assert len(env.stored("Lists")) == 1
    assert env.run("import", "--mbox", str(path), "arch/inbox") == 0
    conn = open_store(env.data)
    try:
        account_id = read.account_id(conn, "arch")
        assert account_id is not None
        assert sorted(f.name for f in read.folders(conn, account_id)) == ["INBOX", "Lists"]
    finally:
        conn.close()


def test_untrusted_names_are_sanitized_in_messages(env: Env, capsys) -> None:
    box = Maildir(env.root / "md")
    box.add(message(1), ())
    (env.root / "md" / "cur" / "evil\x1b]0;owned\x07:2,S").mkdir()
    assert env.run("import", "--maildir", str(env.root / "md"), "arch/md") == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "not a regular file" in err


# --- bounded memory -----------------------------------------------------------------------------


def test_a_large_mbox_is_streamed_in_memory_far_below_its_size(env: Env, capsys) -> None:
    # ~30 MB of 100 KiB messages: the file is read message by message and stored in batches,
    # so the peak of Python's allocations stays a small part of the file. (A file this large is
    # stored by the writer process: at most three batches are in this one at once.)
    line = b"All work and no play makes a dull message, line after line. " * 14 + b"\r\n"
    body = line * (100 * 1024 // len(line))
    path = env.root / "big.mbox"
    count = 0
    with path.open("wb") as file:
        while file.tell() < 30 * 1024 * 1024:
            write_mbox_entry(file, message(count, body), "someone@example.org", WHEN)
            count += 1
    size = path.stat().st_size
    tracemalloc.start()
    try:
        assert env.run("import", "--mbox", str(path), "arch/big") == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{count} imported" in capsys.readouterr().out
    assert peak < min(size / 3, 3 * importer.BULK_BATCH_BYTES), f"peak {peak} for {size} bytes"
    assert len(env.stored("big")) == count


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_counts_bytes_up_to_the_file_size(env: Env) -> None:
    from tuimail.cli.import_mail import import_command
    from tuimail.config.load import load_config

    path = env.root / "p.mbox"
    path.write_bytes(mbox_bytes([message(n) for n in range(3)]))
    out, err = io.StringIO(), _Terminal()
    status = import_command(
        load_config(env.config),
        env.data,
        mbox=str(path),
        maildir=None,
        target="arch/p",
        upload=False,
        out=out,
        err=err,
    )
    assert status == 0
    size = path.stat().st_size
    # The live line ends at the whole file, then is cleared for the summary.
    assert f"arch/p: {size}/{size}" in err.getvalue()
    assert out.getvalue() == f"arch: 3 imported into arch/p from {path}\n"


def _run_capped(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a child whose address space is capped at 1 GiB: a regression that reads a
    huge file into memory fails there, instead of filling the machine's memory."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    paths = ["--config", str(env.config), "--data-dir", str(env.data)]
    return subprocess.run(
        [sys.executable, "-m", "tuimail", *paths, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
        preexec_fn=cap_memory,
    )


def test_a_maildir_file_too_large_is_named_and_the_others_imported(env: Env) -> None:
    box = Maildir(env.root / "md")
    box.add(message(1), {SEEN})
    box.add(message(2), ())
    huge = env.root / "md" / "new" / "5.huge.host"
    with huge.open("wb") as file:
        file.truncate(2 * 1024 * 1024 * 1024)  # sparse: no disk used
    result = _run_capped(env, "import", "--maildir", str(env.root / "md"), "arch/md")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"tuimail: {huge}: 2147483648 bytes, larger than the 256 MiB a message may have; "
        "not imported"
    )
    assert "2 imported" in result.stdout
    assert sorted(env.bodies("md")) == sorted([message(1), message(2)])


def test_an_mbox_message_too_large_is_named_and_the_others_imported(env: Env) -> None:
    path = env.root / "big.mbox"
    with path.open("wb") as file:
        file.write(mbox_bytes([message(1)]))
        file.write(b"From someone@example.org Mon Mar  2 10:05:09 2026\nSubject: big\n\n")
        file.seek(1024 * 1024 * 1024, os.SEEK_CUR)  # a sparse GiB of NULs, one endless line
        file.write(b"\n\n" + mbox_bytes([message(2)]))
    big_line = mbox_bytes([message(1)]).count(b"\n") + 1
    result = _run_capped(env, "import", "--mbox", str(path), "arch/big")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"tuimail: {path}, line {big_line}: 1073741839 bytes, larger than the 256 MiB a message "
        "may have; not imported"
    )
    assert "2 imported" in result.stdout
    assert sorted(env.bodies("big")) == sorted([message(1), message(2)])
