"""The POP3 engine against a fake server, for what Dovecot does not do: no UIDL, APOP, hostile
or duplicate UIDLs, broken MIME, UTF8 (RFC 6856). (Everything else is tested against the real
Dovecot in tests/integration/test_pop3_*.py.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.fake_pop3 import FakeMessage, FakePop3Server
from tuimail.cli.fetch import fetch_command
from tuimail.config.schema import AccountConfig, Config, ServerConfig
from tuimail.core.model import FolderRole, Protocol, Security
from tuimail.mail import limits
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import body_codec, read, write
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, pop3_content_key, store_messages
from tuimail.sync.events import Event, StoreChanged, SyncFailed, SyncFinished
from tuimail.sync.pop3 import download as pop3_module
from tuimail.sync.pop3.commands import header_digest_key
from tuimail.sync.pop3.connect import Pop3Login, pop3_login_method
from tuimail.sync.pop3.fetch import FetchResult, Pop3Download

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def message(index: int, extra_header: str = "") -> bytes:
    return (
        f"From: a{index}@example.org\r\nSubject: fake {index}\r\n{extra_header}"
        f"Message-ID: <fake-{index}@example.org>\r\n\r\nbody {index}\r\n..dots\r\n"
    ).encode()


def account_for(server: FakePop3Server, *, leave_on_server: bool = True) -> AccountConfig:
    return AccountConfig(
        name="fake",
        address="fake@example.org",
        incoming=ServerConfig(
            protocol=Protocol.POP3,
            host=server.host,
            port=server.port,
            security=Security.NONE,
            username=server.user,
            leave_on_server=leave_on_server,
        ),
    )


def run(
    server: FakePop3Server, data_dir: Path, *, leave_on_server: bool = True
) -> tuple[FetchResult, list[Event]]:
    events: list[Event] = []
    result = Pop3Download(
        account_for(server, leave_on_server=leave_on_server),
        data_dir,
        emit=events.append,
        password=lambda: server.password,
        timeout=10,
    ).run()
    return result, events


def stored(data_dir: Path) -> list[tuple[str, bytes]]:
    conn = open_store(data_dir)
    try:
        rows = conn.execute(
            "SELECT m.uidl, b.raw, b.codec, b.dict_id FROM messages AS m"
            " JOIN bodies AS b ON b.message_id = m.id ORDER BY m.id"
        ).fetchall()
        return [(row[0], body_codec.unpack(conn, *row[1:])) for row in rows]
    finally:
        conn.close()


def test_without_uidl_messages_are_keyed_by_their_bytes_and_the_user_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raws = [message(i) for i in range(1, 4)]
    with FakePop3Server([FakeMessage(raw) for raw in raws], uidl=False) as server:
        with caplog.at_level(logging.WARNING, logger="tuimail.sync.pop3.fetch"):
            result, events = run(server, tmp_path)
        assert result.ok and result.keyed_by_digest and result.new == 3
        summary = next(e for e in events if isinstance(e, SyncFinished)).summary
        assert summary.startswith("first download: 3 messages")
        assert "no UIDL" in summary and "downloaded again on each pass" in summary
        assert "no UIDL" in caplog.text
        assert [uidl for uidl, _ in stored(tmp_path)] == [
            pop3_content_key(raw) for raw in reversed(raws)
        ]
        assert [raw for _, raw in stored(tmp_path)] == list(reversed(raws))
        # Nothing new the second time: the same bytes are the same message.
        result, _ = run(server, tmp_path)
        assert (result.new, result.known) == (0, 3)
        assert len(stored(tmp_path)) == 3


def test_without_uidl_two_messages_with_the_same_headers_are_both_kept_before_any_delete(
    tmp_path: Path,
) -> None:
    """Two reports with byte-identical headers and different bodies, on a server without UIDL
    and with leave_on_server = false (what such servers call for): both are stored, and each is
    deleted on the server only once its own bytes are committed."""
    header = b"From: monitor@example.org\r\nSubject: disk report\r\nDate: x\r\n\r\n"
    first, second = header + b"disk 91% full\r\n", header + b"disk 99% full\r\n"
    with FakePop3Server([FakeMessage(first), FakeMessage(second)], uidl=False) as server:
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (2, 2)
        assert server.messages == []
        assert sorted(raw for _, raw in stored(tmp_path)) == sorted([first, second])


def test_without_uidl_or_top_every_message_is_stored_and_deleted(tmp_path: Path) -> None:
    raws = [message(i) for i in range(1, 3)]
    with FakePop3Server([FakeMessage(r) for r in raws], uidl=False, top=False) as server:
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (2, 2)
        assert server.messages == []
        assert sorted(uidl for uidl, _ in stored(tmp_path)) == sorted(
            pop3_content_key(raw) for raw in raws
        )


def test_messages_stored_by_header_digest_are_recognised_by_their_bytes(tmp_path: Path) -> None:
    """A store from before content keys: what it holds under a header digest is not downloaded
    again; a different message with the same headers is stored, not taken for it."""
    raw = message(1)
    twin = raw.replace(b"body 1", b"body one")
    conn = open_store(tmp_path)
    try:
        account_id = write.ensure_account(conn, "fake", Protocol.POP3)
        folder_id = write.upsert_folder(conn, account_id, "INBOX", role=FolderRole.INBOX)
        store_messages(conn, folder_id, [IncomingMessage(raw=raw, uidl=header_digest_key(raw))])
        conn.execute("DELETE FROM pop3_uidls WHERE uidl LIKE 'sha256-message:%'")
    finally:
        conn.close()
    with FakePop3Server([FakeMessage(raw), FakeMessage(twin)], uidl=False) as server:
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.known, result.deleted) == (1, 1, 2)
        assert sorted(stored(tmp_path)) == sorted(
            [(header_digest_key(raw), raw), (pop3_content_key(twin), twin)]
        )


def test_a_uidl_used_again_for_new_mail_gets_it_stored_not_deleted_unread(tmp_path: Path) -> None:
    """The server lists, under a UIDL stored before, a message that is not the one stored: it is
    stored (under its content key) before any DELE; the next pass finds nothing new."""
    old, new = message(1), message(2)
    with FakePop3Server([FakeMessage(old, b"u1")]) as server:
        result, _ = run(server, tmp_path)  # leave on the server
        assert result.ok and result.new == 1
        server.messages = [FakeMessage(new, b"u1")]
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (1, 1)
        assert server.messages == []
        assert sorted(stored(tmp_path)) == sorted([("u1", old), (pop3_content_key(new), new)])


def test_a_known_uidl_is_deleted_once_its_bytes_are_checked(tmp_path: Path) -> None:
    raw = message(1)
    with FakePop3Server([FakeMessage(raw, b"u1")]) as server:
        run(server, tmp_path)
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (0, 1)
        assert server.messages == [] and stored(tmp_path) == [("u1", raw)]
        assert b"RETR 1" in server.sessions[-1].commands


def test_header_digest_is_the_same_for_a_message_and_its_top_answer() -> None:
    raw = message(1)
    header = raw[: raw.index(b"\r\n\r\n") + 4]
    assert header_digest_key(raw) == header_digest_key(header)
    assert header_digest_key(raw) == "sha256:" + hashlib.sha256(header[:-2]).hexdigest()
    assert header_digest_key(raw) != header_digest_key(message(2))


def test_apop_is_used_on_an_unencrypted_loopback_connection(tmp_path: Path) -> None:
    with FakePop3Server(
        [FakeMessage(message(1), b"u1")], apop_timestamp=b"<1896.697170952@fake.example>"
    ) as server:
        result, _ = run(server, tmp_path)
        assert result.ok, result.error
        verbs = [c.split(b" ")[0] for c in server.commands]
        assert b"APOP" in verbs and b"PASS" not in verbs and b"USER" not in verbs
        assert not any(server.password.encode() in c for c in server.commands)
        assert stored(tmp_path) == [("u1", message(1))]


def test_a_wrong_apop_digest_asks_for_authentication(tmp_path: Path) -> None:
    with FakePop3Server([], apop_timestamp=b"<1.2@fake>") as server:
        events: list[Event] = []
        result = Pop3Download(
            account_for(server), tmp_path, emit=events.append, password=lambda: "wrong"
        ).run()
        assert not result.ok and "wrong user name or password" in (result.error or "")
        assert len(server.sessions) == 1  # tried once


def test_login_method_choice() -> None:
    plain = {"SASL": ["PLAIN", "LOGIN"], "USER": []}
    apop = b"+OK ready <1.2@host>"
    assert pop3_login_method(plain, greeting=b"+OK", protected=True) is Pop3Login.AUTH_PLAIN
    assert pop3_login_method(plain, greeting=apop, protected=True) is Pop3Login.AUTH_PLAIN
    assert pop3_login_method(plain, greeting=apop, protected=False) is Pop3Login.APOP
    assert pop3_login_method({"USER": []}, greeting=apop, protected=True) is Pop3Login.USER_PASS
    assert pop3_login_method({"TOP": []}, greeting=apop, protected=True) is Pop3Login.APOP
    assert pop3_login_method({}, greeting=apop, protected=True) is Pop3Login.USER_PASS
    assert pop3_login_method({}, greeting=b"+OK", protected=False) is Pop3Login.USER_PASS


HOSTILE_UIDLS = [
    b"a" * 1000,
    b"../../etc/passwd",
    b"/tmp/x",
    b"\x1b[31mred\x07bell\x00nul",
    b"caf\xc3\xa9-\xff",
]


def test_hostile_uidls_are_stored_as_data_and_never_become_paths(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    messages = [FakeMessage(message(i), uidl) for i, uidl in enumerate(HOSTILE_UIDLS, 1)]
    with FakePop3Server(messages) as server:
        result, events = run(server, data_dir, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (5, 5), result.error
        expected = {u.decode("utf-8", "backslashreplace") for u in HOSTILE_UIDLS}
        assert {uidl for uidl, _ in stored(data_dir)} == expected
        assert sorted(raw for _, raw in stored(data_dir)) == sorted(m.raw for m in messages)
    # Nothing but the store and the lock directory was created, nowhere else.
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith("tuimail.db")) == [
        "locks"
    ]
    assert [p.name for p in (data_dir / "locks").iterdir()] == ["fake.pop3.lock"]
    assert not (tmp_path / "etc").exists()
    # What reaches a terminal about them is printable.
    for uidl in expected:
        assert sanitize_line(uidl).isprintable()
    assert all(str(event).isprintable() for event in events)


def test_duplicate_uidls_key_each_copy_by_its_bytes(tmp_path: Path) -> None:
    messages = [
        FakeMessage(message(1), b"same"),
        FakeMessage(message(2), b"same"),
        FakeMessage(message(3), b"other"),
    ]
    with FakePop3Server(messages) as server:
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (3, 3)
        assert server.messages == []
        assert sorted(stored(tmp_path)) == sorted(
            [
                ("other", message(3)),
                (pop3_content_key(message(2)), message(2)),
                (pop3_content_key(message(1)), message(1)),
            ]
        )


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in CORPUS.glob("broken-*.eml")),
)
def test_broken_mime_is_stored_byte_exact_and_shown(tmp_path: Path, name: str) -> None:
    raw = (CORPUS / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with FakePop3Server([FakeMessage(raw, b"broken-1")]) as server:
        result, _ = run(server, tmp_path)
    assert result.ok and result.new == 1
    assert stored(tmp_path) == [("broken-1", raw)]
    conn = open_store(tmp_path)
    try:
        (row,) = read.rows(conn, [conn.execute("SELECT id FROM messages").fetchone()[0]])
        body = read.body(conn, row.id)
    finally:
        conn.close()
    assert body == raw
    shown = render_message(parse_message(body), body)
    assert isinstance(shown, str) and shown.strip()


def test_a_session_cut_before_quit_deletes_nothing_and_is_not_downloaded_again(
    tmp_path: Path,
) -> None:
    """The fake answers -ERR to the second DELE; the pass fails without QUIT."""
    with FakePop3Server([FakeMessage(message(1), b"u1"), FakeMessage(message(2), b"u2")]) as server:
        original = server._transaction

        def refuse_second_dele(send, verb, argument, marked, **kwargs):  # type: ignore[no-untyped-def]
            if verb == b"DELE" and marked:
                send(b"-ERR cannot delete now\r\n")
                return
            original(send, verb, argument, marked, **kwargs)

        server._transaction = refuse_second_dele  # type: ignore[method-assign]
        result, events = run(server, tmp_path, leave_on_server=False)
        assert not result.ok and result.new == 2
        failed = [e for e in events if isinstance(e, SyncFailed)]
        assert failed[0].kind == "protocol" and "cannot delete now" in failed[0].message
        assert len(server.messages) == 2  # no QUIT: the first DELE did not take effect
        assert b"QUIT" not in server.commands

        server._transaction = original  # type: ignore[method-assign]
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.known, result.deleted) == (0, 2, 2)
        assert server.messages == []
        assert len(stored(tmp_path)) == 2


# --- fetch_command


def config_with(*accounts: AccountConfig) -> Config:
    return Config(accounts={a.name: a for a in accounts})


def test_fetch_command_refuses_unknown_and_non_pop3_accounts(tmp_path: Path) -> None:
    imap = AccountConfig(
        name="work",
        address="w@example.org",
        incoming=ServerConfig(Protocol.IMAP, "127.0.0.1", 1, Security.NONE, "w"),
    )
    local = AccountConfig(name="local", address="l@example.org")
    for names, config, expected in [
        (["nope"], config_with(imap), "no account 'nope'"),
        (["work"], config_with(imap), "'work' is not a POP3 account"),
        ([], config_with(imap, local), "no POP3 accounts are configured"),
    ]:
        out, err = io.StringIO(), io.StringIO()
        assert fetch_command(config, tmp_path, names, out, err) == 2
        assert expected in err.getvalue() and out.getvalue() == ""
    assert not (tmp_path / "tuimail.db").exists()  # nothing started


def test_fetch_command_reports_each_account_and_exits_1_when_one_fails(tmp_path: Path) -> None:
    with (
        FakePop3Server([FakeMessage(message(1), b"u1")], password="good") as good,
        FakePop3Server([], password="other") as bad,
    ):
        ok = account_for(good)
        failing = AccountConfig(
            name="broken", address="b@example.org", incoming=account_for(bad).incoming
        )
        # Passwords from a command, as a user would configure them.
        ok = AccountConfig(
            name=ok.name, address=ok.address, password_command="echo good", incoming=ok.incoming
        )
        failing = AccountConfig(
            name=failing.name,
            address=failing.address,
            password_command="echo wrong",
            incoming=failing.incoming,
        )
        out, err = io.StringIO(), io.StringIO()
        status = fetch_command(config_with(ok, failing), tmp_path, [], out, err)
    assert status == 1
    assert out.getvalue() == "fake: first download: 1 message\n"
    assert err.getvalue().startswith("broken: POP3 failed: wrong user name or password")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_many_batches_with_deletes_keep_commands_and_answers_in_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipelining: bool
) -> None:
    """Batches of 3 (plus what is in flight when one fills): each is committed, then deleted."""
    monkeypatch.setattr(pop3_module, "BATCH_MESSAGES", 3)
    raws = [message(i) for i in range(1, 31)]
    capa = ["TOP", "UIDL", "USER", *(["PIPELINING"] if pipelining else [])]
    messages = [FakeMessage(raw, f"u{i}".encode()) for i, raw in enumerate(raws, 1)]
    with FakePop3Server(messages, capa=capa) as server:
        result, events = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (30, 30), result.error
        assert server.messages == []
        assert [raw for _, raw in stored(tmp_path)] == list(reversed(raws))
        # A message's DELE never comes before its RETR; DELEs of early batches come before the
        # RETRs of later ones; at least three batch commits came before the final StoreChanged.
        verbs = [c.decode() for c in server.commands]
        for number in range(1, 31):
            assert verbs.index(f"RETR {number}") < verbs.index(f"DELE {number}")
        first_dele = next(i for i, verb in enumerate(verbs) if verb.startswith("DELE"))
        assert any(verb.startswith("RETR") for verb in verbs[first_dele:])  # interleaved
        assert sum(isinstance(e, StoreChanged) for e in events) >= 4


def test_new_mail_behind_a_used_again_uidl_is_kept_its_own_days_before_deletion(
    tmp_path: Path,
) -> None:
    """delete_after_days counts from when the bytes were first stored, not from the UIDL."""
    old, new = message(1), message(2)
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def run_at(server: FakePop3Server, day: int) -> FetchResult:
        account = account_for(server)
        assert account.incoming is not None
        incoming = dataclasses.replace(account.incoming, delete_after_days=30)
        return Pop3Download(
            dataclasses.replace(account, incoming=incoming),
            tmp_path,
            emit=lambda event: None,
            password=lambda: server.password,
            now=lambda: start + timedelta(days=day),
            timeout=10,
        ).run()

    with FakePop3Server([FakeMessage(old, b"u1")]) as server:
        assert run_at(server, 0).new == 1
        server.messages = [FakeMessage(new, b"u1")]
        result = run_at(server, 40)  # u1 is 40 days old, but this message is new
        assert (result.new, result.deleted) == (1, 0)
        assert run_at(server, 45).deleted == 0
        assert run_at(server, 71).deleted == 1
        assert server.messages == []
        assert sorted(stored(tmp_path)) == sorted([("u1", old), (pop3_content_key(new), new)])


def test_an_endless_retr_answer_is_cut_at_the_limit_and_the_message_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile server answers RETR of one message with megabytes that never end: reading it
    stops at the limit for one message, that message is named and left on the server, and the
    others are stored (and deleted, as the policy says)."""
    limit = 100_000
    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", limit, raising=False)
    raws = [message(i) for i in range(1, 5)]
    messages = [FakeMessage(raw, uidl=b"u%d" % i) for i, raw in enumerate(raws, 1)]
    with FakePop3Server(messages, oversized={3: 256 * limit}) as server:
        result, events = run(server, tmp_path, leave_on_server=False)
        assert result.ok and (result.new, result.deleted) == (3, 3)
        assert result.unreadable == (
            "message u3: larger than the limit of 100,000 bytes; the rest was not read",
        )
        summary = next(e for e in events if isinstance(e, SyncFinished)).summary
        assert "message u3: larger than the limit of 100,000 bytes" in summary
        assert sorted(uidl for uidl, _ in stored(tmp_path)) == ["u1", "u2", "u4"]
        assert [m.uidl for m in server.messages] == [b"u3"]
        # The server could not send its whole answer: the client stopped reading it. The
        # server's thread records that once its write fails, which may be after the run ends.
        deadline = time.monotonic() + 30
        while not server.oversized_sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.oversized_sent and max(server.oversized_sent) < 256 * limit


def test_a_listing_over_the_limit_for_one_answer_ends_the_pass_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UIDL listing longer than the limit for one answer is not read on: the pass ends with
    an error that says so, and nothing is stored or deleted."""
    monkeypatch.setattr(limits, "MAX_COMMAND_BYTES", 200, raising=False)
    messages = [FakeMessage(message(i), uidl=b"uidl-%d" % i) for i in range(1, 41)]
    with FakePop3Server(messages) as server:
        result, _ = run(server, tmp_path, leave_on_server=False)
        assert not result.ok
        assert "answer larger than 200 bytes; the rest was not read" in (result.error or "")
        assert stored(tmp_path) == [] and len(server.messages) == 40


def test_utf8_is_enabled_when_offered_so_raw_utf8_headers_arrive_whole(tmp_path: Path) -> None:
    """A Courier-like server (RFC 6856; Dovecot 2.3 offers no UTF8, hence the fake) sends a stub
    in place of a message with raw UTF-8 headers unless the client enabled UTF8 before login.
    The message arrives as it is on the server and its headers read as UTF-8."""
    international = (
        "From: Jürgen Müller <jürgen@bücher.example>\r\nTo: fake@example.org\r\n"
        "Subject: Grüße aus Köln — 東京\r\nMessage-ID: <utf8-1@example.org>\r\n"
        "\r\nHallo\r\n"
    ).encode()
    plain = message(2)
    messages = [FakeMessage(international, b"u1"), FakeMessage(plain, b"u2")]
    with FakePop3Server(messages, utf8=True) as server:
        result, _ = run(server, tmp_path)
        assert result.ok, result.error
        assert sorted(stored(tmp_path)) == [("u1", international), ("u2", plain)]
        verbs = [c.split(b" ")[0].upper() for c in server.commands]
        assert b"UTF8" in verbs and verbs.index(b"UTF8") < verbs.index(b"PASS")
        conn = open_store(tmp_path)
        try:
            subject, sender = conn.execute(
                "SELECT subject, from_addr FROM messages WHERE uidl = 'u1'"
            ).fetchone()
        finally:
            conn.close()
        assert subject == "Grüße aus Köln — 東京"
        assert "Jürgen Müller" in sender and "jürgen@bücher.example" in sender


def test_utf8_is_not_sent_to_a_server_that_does_not_offer_it(tmp_path: Path) -> None:
    with FakePop3Server([FakeMessage(message(1), b"u1")]) as server:
        result, _ = run(server, tmp_path)
        assert result.ok, result.error
        assert not any(c.upper().startswith(b"UTF8") for c in server.commands)
