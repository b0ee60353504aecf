"""`tuimail list`, `show`, `search` and `export` on a small real store."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tuimail.cli.listing import cell_width, fit, flag_letters
from tuimail.cli.locate import split_target
from tuimail.cli.main import main
from tuimail.cli.parser import build_parser
from tuimail.core.model import ANSWERED, FLAGGED, SEEN, FolderRole, Protocol
from tuimail.mail.corpus import MailGenerator
from tuimail.mail.formats.export import maildir_flags, read_mboxrd
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read, write
from tuimail.store.db import open_store, store_path
from tuimail.store.ingest import IncomingMessage, store_message, store_messages

ROOT = Path(__file__).resolve().parents[3]
ESC = "\x1b"

HOSTILE = (
    b"From: \x1b[31mMallory\x1b[0m <mallory@evil.example>\r\n"
    b"To: you@example.org\r\n"
    b"Subject: Totally \x1b]0;pwned\x07normal \xe2\x80\xaeexe.txt\r\n"
    b"Date: Tue, 03 Mar 2026 09:00:00 +0000\r\n"
    b"Message-ID: <hostile@evil.example>\r\n"
    b"\r\n"
    b"Body with \x1b[2J a clear-screen and a lone\rCR.\r\n"
    b"From here a line that mbox must quote\r\n"
)
NO_FINAL_NEWLINE = (
    b"From: Carol <carol@example.org>\r\nSubject: unfinished kiwi\r\n"
    b"Date: Sun, 01 Mar 2026 08:00:00 +0000\r\n\r\n>From quoted already\nlone LF\nlast line"
)
HEADERS_ONLY = (
    b"From: Dave <dave@example.org>\r\nSubject: only headers kiwi\r\n"
    b"Date: Wed, 04 Mar 2026 12:00:00 +0000\r\nMessage-ID: <dave@example.org>\r\n\r\n"
)
POP3_MESSAGE = (
    b"From: Erin <erin@example.org>\r\nSubject: downloaded by POP3\r\n"
    b"Date: Mon, 02 Mar 2026 07:00:00 +0000\r\n\r\nhello\r\n"
)


class Store:
    """The paths of a built store and the ids of the messages in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.config = root / "config.toml"
        self.config.write_text("")
        self.ids: dict[str, int] = {}
        self.generated: dict[int, bytes] = {}

    def args(self, *args: str) -> list[str]:
        return [*args, "--config", str(self.config), "--data-dir", str(self.data)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An IMAP account `work` (INBOX, Lists/dev, an empty Archive) and a POP3 account `home`."""
    built = Store(tmp_path)
    conn = open_store(built.data)
    try:
        work = write.ensure_account(conn, "work", Protocol.IMAP)
        inbox = write.upsert_folder(conn, work, "INBOX", delimiter="/", role=FolderRole.INBOX)
        write.update_folder_state(conn, inbox, uidvalidity=9)
        lists = write.upsert_folder(conn, work, "Lists/dev", delimiter="/")
        write.upsert_folder(conn, work, "Archive", delimiter="/", role=FolderRole.ARCHIVE)
        generator = MailGenerator(7, "you@example.org")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        generated = list(generator.messages("INBOX", 12, start, start + timedelta(days=30)))
        ids = store_messages(
            conn,
            inbox,
            [IncomingMessage(raw=m.raw, uid=i + 1, flags=m.flags) for i, m in enumerate(generated)],
        )
        built.generated = {i: m.raw for i, m in zip(ids, generated, strict=True)}
        built.ids["hostile"] = store_message(conn, inbox, raw=HOSTILE, uid=100)
        built.ids["unfinished"] = store_message(
            conn, inbox, raw=NO_FINAL_NEWLINE, uid=101, flags=[SEEN, FLAGGED, ANSWERED]
        )
        built.ids["headers"] = store_message(conn, inbox, header_bytes=HEADERS_ONLY, uid=102)
        lists_messages = list(generator.messages("Lists/dev", 3, start, start + timedelta(1)))
        for m in lists_messages:
            store_message(conn, lists, raw=m.raw, flags=m.flags)
        home = write.ensure_account(conn, "home", Protocol.POP3)
        home_inbox = write.upsert_folder(conn, home, "INBOX", role=FolderRole.INBOX)
        built.ids["pop3"] = store_message(conn, home_inbox, raw=POP3_MESSAGE, uidl="UID/../1")
    finally:
        conn.close()
    return built


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# --- ACCOUNT/FOLDER -----------------------------------------------------------------------------


def test_split_target_splits_at_the_first_slash() -> None:
    assert split_target("a/Lists/dev") == ("a", "Lists/dev")
    assert split_target("a/inbox") == ("a", "inbox")
    assert split_target("a") == ("a", None)


def test_folder_names_resolve_with_inbox_in_any_case(store: Store, capsys) -> None:
    assert main(store.args("list", "work/inbox", "--json")) == 0
    inbox = json_lines(capsys.readouterr().out)
    assert len(inbox) == 15 and {r["folder"] for r in inbox} == {"INBOX"}
    assert main(store.args("list", "work/Lists/dev", "--json")) == 0
    lists = json_lines(capsys.readouterr().out)
    assert len(lists) == 3 and {r["folder"] for r in lists} == {"Lists/dev"}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nobody/INBOX", "no account 'nobody' (accounts in the store: home, work)"),
        ("work/lists/dev", "did you mean 'work/Lists/dev'?"),
        ("work/Archiv", "folders: INBOX, Archive, Lists/dev"),
        ("work/", "the folder name after '/' is missing"),
        ("/INBOX", "the account name is missing"),
    ],
)
def test_bad_targets_are_usage_errors_that_say_what_exists(
    store: Store, capsys, target: str, message: str
) -> None:
    assert main(store.args("list", target)) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_folder_names_in_errors_are_sanitized(store: Store, capsys) -> None:
    conn = open_store(store.data)
    try:
        account = read.account_id(conn, "work")
        assert account is not None
        write.upsert_folder(conn, account, f"Evil{ESC}]0;title{chr(7)}Box")
    finally:
        conn.close()
    assert main(store.args("list", "work/Nope")) == 2
    err = capsys.readouterr().err
    assert "EvilBox" in err and ESC not in err


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    data = tmp_path / "nothing"
    assert main(["list", "--config", str(config), "--data-dir", str(data)]) == 1
    assert "no local store" in capsys.readouterr().err
    assert not store_path(data).exists()


# --- list ---------------------------------------------------------------------------------------


def test_list_without_argument_shows_every_folder_with_counts(store: Store, capsys) -> None:
    assert main(store.args("list")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "home/INBOX",
        "work/INBOX",
        "work/Archive",
        "work/Lists/dev",
    ]
    assert "15 messages" in lines[1]


def test_list_account_shows_its_folders_as_json(store: Store, capsys) -> None:
    assert main(store.args("list", "work", "--json")) == 0
    records = json_lines(capsys.readouterr().out)
    assert [r["folder"] for r in records] == ["INBOX", "Archive", "Lists/dev"]
    assert records[0]["total"] == 15 and records[0]["role"] == "inbox"
    assert records[1]["total"] == 0 and records[1]["role"] == "archive"
    assert records[2]["role"] is None


def test_list_json_has_every_field_newest_first(store: Store, capsys) -> None:
    assert main(store.args("list", "work/INBOX", "--json")) == 0
    records = json_lines(capsys.readouterr().out)
    required = {"id", "account", "folder", "uid", "message_id", "date", "from", "subject"}
    required |= {"flags", "size", "body_local", "uidl"}
    assert all(required <= set(r) for r in records)
    dates = [datetime.fromisoformat(str(r["sort_date"])) for r in records]
    assert dates == sorted(dates, reverse=True)
    by_id = {r["id"]: r for r in records}
    unfinished = by_id[store.ids["unfinished"]]
    assert unfinished["uid"] == 101
    assert unfinished["flags"] == ["\\Answered", "\\Flagged", "\\Seen"]
    assert unfinished["from"] == [{"name": "Carol", "email": "carol@example.org"}]
    assert unfinished["size"] == len(NO_FINAL_NEWLINE)
    assert unfinished["body_local"] is True and unfinished["uidl"] is None
    assert unfinished["date"] == "2026-03-01T08:00:00+00:00"
    assert by_id[store.ids["headers"]]["body_local"] is False
    assert by_id[store.ids["headers"]]["message_id"] == "dave@example.org"


def test_list_json_gives_pop3_uidl(store: Store, capsys) -> None:
    assert main(store.args("list", "home/INBOX", "--json")) == 0
    (record,) = json_lines(capsys.readouterr().out)
    assert record["uidl"] == "UID/../1" and record["uid"] is None
    assert record["account"] == "home"


def test_json_keeps_hostile_text_as_escaped_data(store: Store, capsys) -> None:
    assert main(store.args("list", "work/INBOX", "--json")) == 0
    out = capsys.readouterr().out
    assert ESC not in out and "\u202e" not in out
    assert out.isascii()
    subjects = {r["id"]: r["subject"] for r in json_lines(out)}
    assert subjects[store.ids["hostile"]] == f"Totally {ESC}]0;pwned\x07normal \u202eexe.txt"


def test_text_output_is_sanitized(store: Store, capsys) -> None:
    assert main(store.args("list", "work/INBOX")) == 0
    out = capsys.readouterr().out
    assert ESC not in out and "\x07" not in out and "\u202e" not in out
    (line,) = [line for line in out.splitlines() if line.startswith(str(store.ids["hostile"]))]
    assert "Mallory" in line and "Totally normal exe.txt" in line
    assert "N " in line  # unread


def test_text_columns_are_aligned(store: Store, capsys) -> None:
    assert main(store.args("list", "work/INBOX", "--json")) == 0
    records = json_lines(capsys.readouterr().out)
    assert main(store.args("list", "work/INBOX")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(records) == 15
    sender_cells, subject_cells = set(), set()
    id_cells = len(str(max(int(str(r["id"])) for r in records)))
    for record, line in zip(records, lines, strict=True):
        assert line.startswith(f"{record['id']:>{id_cells}}  ")
        sender = sanitize_line(record["from"][0]["name"] or record["from"][0]["email"])[:10]
        subject = sanitize_line(str(record["subject"]))[:10]
        sender_cells.add(cell_width(line[: line.index(sender)]))
        subject_cells.add(cell_width(line[: line.rindex(subject)]))
    # Sender and subject start at the same cell on every line, whatever widths the values have.
    assert len(sender_cells) == 1 and len(subject_cells) == 1


def test_limit(store: Store, capsys) -> None:
    assert main(store.args("list", "work/INBOX", "--limit", "2", "--json")) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    with pytest.raises(SystemExit) as stop:
        main(store.args("list", "work/INBOX", "--limit", "0"))
    assert stop.value.code == 2


def test_lines_are_cut_to_the_terminal_width(store: Store, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "40")
    assert main(store.args("list", "work/INBOX")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 15
    assert all(cell_width(line) <= 40 for line in lines)
    assert any(line.endswith("…") for line in lines)


def test_fit_counts_wide_characters_as_two_cells() -> None:
    assert cell_width("会议纪要") == 8
    assert fit("会议纪要", 5) == "会议…"
    assert fit("会议纪要", 4) == "会… "  # a wide character never straddles the edge
    assert cell_width(fit("会议纪要", 4)) == 4
    assert fit("abc", 5) == "abc  "
    assert fit("abcdef", 4, pad=False) == "abc…"


def test_flag_letters() -> None:
    assert flag_letters(set()) == "N"
    assert flag_letters({SEEN}) == ""
    assert flag_letters({SEEN, FLAGGED, ANSWERED}) == "FR"


# --- show ---------------------------------------------------------------------------------------


def test_show_renders_headers_and_sanitized_body(store: Store, capsys) -> None:
    assert main(store.args("show", str(store.ids["hostile"]))) == 0
    out = capsys.readouterr().out
    assert ESC not in out and "\u202e" not in out
    assert "From: Mallory <mallory@evil.example>" in out
    assert "Subject: Totally normal exe.txt" in out
    assert "Folder: work/INBOX" in out
    assert "a clear-screen and a lone\nCR." in out


def test_show_raw_writes_the_exact_bytes(store: Store, capsysbinary) -> None:
    for key in ("hostile", "unfinished"):
        assert main(store.args("show", str(store.ids[key]), "--raw")) == 0
        expected = HOSTILE if key == "hostile" else NO_FINAL_NEWLINE
        assert capsysbinary.readouterr().out == expected


def test_show_raw_refuses_a_terminal_unless_forced(store: Store, capsysbinary, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(store.args("show", str(store.ids["hostile"]), "--raw")) == 2
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert b"refusing to write a raw message to a terminal" in captured.err
    assert main(store.args("show", str(store.ids["hostile"]), "--raw", "--force")) == 0
    assert capsysbinary.readouterr().out == HOSTILE


def test_show_of_a_message_without_local_body_says_so(store: Store, capsys) -> None:
    assert main(store.args("show", str(store.ids["headers"]))) == 1
    captured = capsys.readouterr()
    assert "has only its headers in the local store" in captured.err
    assert captured.out == ""


def test_show_of_an_unknown_id(store: Store, capsys) -> None:
    assert main(store.args("show", "999999")) == 1
    assert "no message 999999" in capsys.readouterr().err


# --- search -------------------------------------------------------------------------------------


def test_search_finds_across_accounts_and_folders_with_folder_column(store: Store, capsys) -> None:
    assert main(store.args("search", "kiwi", "--json")) == 0
    found = {r["id"] for r in json_lines(capsys.readouterr().out)}
    assert found == {store.ids["unfinished"], store.ids["headers"]}
    assert main(store.args("search", "subject:unfinished")) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "work/INBOX" in line and "unfinished kiwi" in line


def test_search_scoped_to_an_account_or_folder(store: Store, capsys) -> None:
    assert main(store.args("search", "from:erin")) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(store.args("search", "from:erin", "--folder", "work")) == 0
    assert capsys.readouterr().out == ""
    assert main(store.args("search", "from:erin", "--folder", "home/inbox", "--json")) == 0
    (record,) = json_lines(capsys.readouterr().out)
    assert record["id"] == store.ids["pop3"]
    assert main(store.args("search", "kiwi", "--folder", "work/Nope")) == 2


# --- export -------------------------------------------------------------------------------------


def stored_bodies(store: Store, folder: str) -> list[bytes]:
    """The bodies of a folder's messages that are local, oldest first."""
    conn = open_store(store.data)
    try:
        account_name, _, folder_name = folder.partition("/")
        account = read.account_id(conn, account_name)
        assert account is not None
        info = read.find_folder(conn, account, folder_name)
        assert info is not None
        ids = read.message_ids(conn, info.id, descending=False)
        return [b for b in (read.body(conn, i) for i in ids) if b is not None]
    finally:
        conn.close()


def test_export_mbox_reads_back_byte_exact(store: Store, capsys) -> None:
    target = store.root / "inbox.mbox"
    assert main(store.args("export", "work/INBOX", "--mbox", str(target))) == 1
    captured = capsys.readouterr()
    assert f"message {store.ids['headers']} skipped" in captured.err
    assert "14 messages exported" in captured.out and "1 skipped" in captured.out
    with target.open("rb") as file:
        entries = list(read_mboxrd(file))
    assert [e.raw for e in entries] == stored_bodies(store, "work/INBOX")
    assert HOSTILE in [e.raw for e in entries] and NO_FINAL_NEWLINE in [e.raw for e in entries]
    assert set(store.generated.values()) <= {e.raw for e in entries}
    assert entries[0].separator.startswith(b"From ")
    hostile = next(e for e in entries if e.raw == HOSTILE)
    assert hostile.separator.startswith(b"From mallory@evil.example Tue Mar  3 09:00:00 2026")


def test_export_maildir_has_exact_bytes_and_flags(store: Store, capsys) -> None:
    target = store.root / "md"
    assert main(store.args("export", "work/Lists/dev", "--maildir", str(target))) == 0
    assert "3 messages exported" in capsys.readouterr().out
    files = sorted((target / "cur").iterdir())
    assert sorted(f.read_bytes() for f in files) == sorted(stored_bodies(store, "work/Lists/dev"))
    assert main(store.args("export", "work/inbox", "--maildir", str(target))) == 1
    capsys.readouterr()
    by_bytes = {f.read_bytes(): f.name for f in (target / "cur").iterdir()}
    assert len(by_bytes) == 3 + 14
    assert maildir_flags(by_bytes[NO_FINAL_NEWLINE]) == {SEEN, FLAGGED, ANSWERED}
    assert maildir_flags(by_bytes[HOSTILE]) == frozenset()


def test_export_pop3_inbox_reproduces_every_message(store: Store, capsys) -> None:
    target = store.root / "home.mbox"
    assert main(store.args("export", "home/INBOX", "--mbox", str(target))) == 0
    with target.open("rb") as file:
        assert [e.raw for e in read_mboxrd(file)] == [POP3_MESSAGE]


def test_export_never_overwrites_and_needs_a_folder(store: Store, capsys) -> None:
    target = store.root / "exists.mbox"
    target.write_bytes(b"keep me")
    assert main(store.args("export", "work/INBOX", "--mbox", str(target))) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert main(store.args("export", "work", "--mbox", str(store.root / "x.mbox"))) == 2
    assert "name a folder as ACCOUNT/FOLDER" in capsys.readouterr().err
    assert not (store.root / "x.mbox").exists()
    with pytest.raises(SystemExit) as stop:
        main(store.args("export", "work/INBOX"))
    assert stop.value.code == 2


def test_export_mbox_to_standard_output(store: Store, capsysbinary) -> None:
    assert main(store.args("export", "home/INBOX", "--mbox", "-")) == 0
    captured = capsysbinary.readouterr()
    assert [e.raw for e in read_mboxrd(io.BytesIO(captured.out))] == [POP3_MESSAGE]
    assert b"1 message exported to standard output" in captured.err


# --- the command line ---------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    text = build_parser().format_help()
    for command in ("list", "show", "search", "export", "sync", "fetch"):
        assert command in text
    assert "download new mail from POP3 accounts (one pass)" in text


def _run(store: Store, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "tuimail", *store.args(*args)],
        cwd=ROOT,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_commands_as_a_process(store: Store) -> None:
    listed = _run(store, "list", "work/INBOX", "--json", "--limit", "3", capture_output=True)
    assert listed.returncode == 0, listed.stderr
    assert len(json_lines(listed.stdout.decode())) == 3
    raw = _run(store, "show", str(store.ids["unfinished"]), "--raw", capture_output=True)
    assert raw.returncode == 0 and raw.stdout == NO_FINAL_NEWLINE


def test_show_raw_refuses_a_real_terminal(store: Store) -> None:
    leader, follower = pty.openpty()
    try:
        result = _run(
            store,
            "show",
            str(store.ids["hostile"]),
            "--raw",
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        follower = -1
        shown = b""
        try:
            while chunk := os.read(leader, 4096):
                shown += chunk
        except OSError:
            pass  # the terminal closed: everything written has been read
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert result.returncode == 2
    assert b"refusing to write a raw message to a terminal" in result.stderr
    assert ESC.encode() not in shown and shown == b""


def test_store_commands_do_not_load_the_ui_or_the_network(store: Store) -> None:
    probe = (
        "import sys\n"
        "from tuimail.cli.main import main\n"
        f"main({store.args('list', 'work/INBOX')!r})\n"
        "heavy = ('textual', 'keyring', 'imapclient', 'aiosmtplib', 'poplib')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0
    assert result.stderr.strip() == "[]"


def _as_a_user(command: list[str]) -> list[str]:
    """`command` run so that file modes bind it: root's overrides of them are dropped."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


def test_a_read_only_store_is_listed_searched_and_exported(store: Store) -> None:
    # Files and directory read-only, as on a read-only medium or another user's copy.
    for path in (store.data, *store.data.rglob("*")):
        path.chmod(0o500 if path.is_dir() else 0o400)
    before = {p.name: p.read_bytes() for p in store.data.iterdir() if p.is_file()}
    for args, shown in (
        (["list", "work/INBOX"], "unfinished kiwi"),
        (["search", "kiwi"], "unfinished kiwi"),
        (["export", "home/INBOX", "--mbox", "-"], "downloaded by POP3"),
    ):
        result = subprocess.run(
            _as_a_user([sys.executable, "-m", "tuimail", *store.args(*args)]),
            cwd=ROOT,
            timeout=60,
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines()[0] == (
            f"tuimail: note: {store_path(store.data)} cannot be written; opened read-only"
        )
        assert "Traceback" not in result.stderr
        assert shown in result.stdout
    assert {p.name: p.read_bytes() for p in store.data.iterdir() if p.is_file()} == before
