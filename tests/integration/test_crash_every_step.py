"""Crash at every named step, run again, and compare with a run that was never interrupted.

For every name in `KNOWN_CRASHPOINTS` (and `NAME:N` where a step repeats within one run), a
scenario is played on fresh Dovecot users: the real command runs in a subprocess with
TUIMAIL_CRASH_AT set and must exit with 77 there; the same command then runs again to completion,
and the rest of the scenario follows. The end state must equal that of the same scenario played
once without a crash (one reference run per scenario, shared by its cases): the same store (per
folder UIDVALIDITY known, UIDNEXT, HIGHESTMODSEQ; per message UID, flags, SHA-256 of the exact
bytes, body_local, whether its full-text entry is complete; the outbox states; the drafts; no
queued action left) and the same server (per mailbox every message's bytes and flags; the POP3
UIDL list; for sending, the copies delivered to the recipient counted by Message-ID). Each run's
store must also agree with its own server. The one difference allowed: an outbox item left
`unknown` by a crash after the final "." (`smtp.after_data_end`, `smtp.after_reply`), and then
the message was delivered exactly once.

Scenarios (small, so each case takes a second or two):
- imap: a first `tuimail sync --bodies` of six messages; then another client flags, marks read,
  expunges and appends, while the user's flag, read, move, copy and delete wait in the journal;
  a second `tuimail sync --bodies`;
- pop3-leave, pop3-delete: `tuimail fetch` of four messages, then of two more;
- smtp: `tuimail outbox flush` of three queued messages (SMTP submission, then the Sent APPEND);
- drafts: a drafts pass uploading two drafts; a pass replacing one and removing the other;
  `tuimail sync --bodies` to read back the Drafts folder;
- import: `tuimail import --mbox FILE walk/INBOX --upload` of four messages, then
  `tuimail sync --bodies`.

The commands run with small batches (two messages per IMAP header, IMAP body and POP3 commit
batch, two POP3 commands in flight) so that a crash after the second batch (`:2`) happens with
a handful of messages.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.support import snapshots
from tests.support.crash_walk import (
    ACCOUNT,
    Run,
    settle,
    write_config,
)
from tests.support.mailservers import MailServers
from tests.support.snapshots import (
    assert_store_matches_server,
    comparable_server,
    comparable_store,
    imap_snapshot,
    message_id_counts,
    store_snapshot,
)
from tuimail.core.crashpoint import CRASH_EXIT_CODE, KNOWN_CRASHPOINTS

pytestmark = pytest.mark.integration


# Steps after which the final "." may have reached the server: the item may end 'unknown'.
AFTER_FINAL_DOT = frozenset({"smtp.after_data_end", "smtp.after_reply"})


# --- one run of a scenario


def corpus_message(number: int) -> bytes:
    """A small message whose bytes are the same in every run (no user name, fixed dates)."""
    return (
        f"From: Sender {number} <sender{number}@example.org>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: walk message {number}\r\n"
        f"Date: Tue, 03 Mar 2026 10:{number:02d}:00 +0000\r\n"
        f"Message-ID: <walk-{number}@example.org>\r\n"
        "\r\n"
        f"Body of message {number}.\r\n.a line that starts with a dot\r\n"
    ).encode()


def append(run: Run, numbers: range, folder: str = "INBOX") -> None:
    with run.client() as client:
        for number in numbers:
            client.append(folder, corpus_message(number))


# --- scenarios


@dataclass(frozen=True)
class Phase:
    """One command of a scenario, with what happens on the server or in the store before it."""

    name: str
    command: Callable[[Run, str | None], subprocess.CompletedProcess]
    before: Callable[[Run], None] = lambda run: None


@dataclass(frozen=True)
class Scenario:
    """A fresh setup, its phases, and how its end state is read."""

    name: str
    prepare: Callable[[Run], None]
    phases: tuple[Phase, ...]
    state: Callable[[Run], dict]


def sync_bodies(run: Run, crash_at: str | None) -> subprocess.CompletedProcess:
    return run.tuimail("sync", "--bodies", crash_at=crash_at)


# imap


def imap_prepare(run: Run) -> None:
    run.users["me"] = run.servers.add_user("walk-imap")
    write_config(run, incoming="imap")
    append(run, range(1, 7))


def imap_changes(run: Run) -> None:
    """Another client changes the mailbox; the user acts offline (journalled for the server)."""
    from tuimail.store import ops, read
    from tuimail.store.db import open_store

    with run.client() as client:
        client.select_folder("INBOX")
        client.add_flags([1], ["\\Flagged"])
        client.add_flags([2], ["\\Seen"])
        client.delete_messages([3])
        client.uid_expunge([3])
    append(run, range(7, 9))
    conn = open_store(run.data)
    try:
        account = read.account_id(conn, ACCOUNT)
        assert account is not None
        inbox = read.find_folder(conn, account, "INBOX")
        archive = read.find_folder(conn, account, "Archive")
        assert inbox is not None and archive is not None

        def row(uid: int) -> int:
            found = read.message_id_by_uid(conn, inbox.id, uid)
            assert found is not None
            return found

        ops.enqueue(conn, ops.OpKind.SEEN, [row(1)])
        ops.enqueue(conn, ops.OpKind.DELETE, [row(4)])
        ops.enqueue(conn, ops.OpKind.FLAG, [row(5)], flag="\\Flagged")
        ops.enqueue(conn, ops.OpKind.MOVE, [row(6)], to_folder_id=archive.id)
        ops.enqueue(conn, ops.OpKind.COPY, [row(2)], to_folder_id=archive.id)
    finally:
        conn.close()


def imap_state(run: Run) -> dict:
    store = store_snapshot(run.data)
    with run.client() as client:
        server = imap_snapshot(client)
    assert_store_matches_server(store, server, ACCOUNT, server.mailboxes)
    assert all(m.body_local for state in store.folders.values() for m in state.messages)
    return {"store": comparable_store(store), "server": comparable_server(server)}


IMAP = Scenario(
    "imap",
    imap_prepare,
    (
        Phase("first sync", sync_bodies),
        Phase("resync", sync_bodies, before=imap_changes),
    ),
    imap_state,
)


# pop3


def pop3_scenario(leave: bool) -> Scenario:
    def prepare(run: Run) -> None:
        run.users["me"] = run.servers.add_user("walk-pop3")
        write_config(run, incoming="pop3", leave=leave)
        append(run, range(1, 5))

    def fetch(run: Run, crash_at: str | None) -> subprocess.CompletedProcess:
        return run.tuimail("fetch", crash_at=crash_at)

    def state(run: Run) -> dict:
        with run.client() as client:
            uidvalidity = client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
            server = imap_snapshot(client)
        # Dovecot's UIDLs are the UID and the mailbox's UIDVALIDITY, which differs per user.
        own = f"{uidvalidity:08X}"

        def normalize_uidl(uidl: str) -> str:
            return uidl.lower().replace(own.lower(), "<uidvalidity>")

        store = store_snapshot(run.data, normalize_uidl=normalize_uidl)
        uidls = snapshots.pop3_uidls(
            run.servers.host,
            run.servers.pop3s_port,
            run.servers.ca_file,
            run.users["me"],
            run.password("me"),
        )
        (messages,) = [state.messages for state in store.folders.values()]
        inbox = server.mailboxes["INBOX"]
        on_server = sorted(m.sha256 for m in inbox.messages)
        if leave:
            # Everything stays on the server, and each message is in the store once.
            assert sorted(m.sha256 for m in messages) == on_server
            assert sorted(normalize_uidl(u) for u in uidls) == sorted(m.uidl for m in messages)
        else:
            assert uidls == [] and on_server == []
        # A POP3 session that ends without QUIT still moves Dovecot's HIGHESTMODSEQ (its own
        # bookkeeping; a POP3 client neither sees nor sets it): left out of the comparison.
        server = replace(
            server,
            mailboxes={
                name: replace(state, highestmodseq=None) for name, state in server.mailboxes.items()
            },
        )
        return {
            "store": comparable_store(store),
            "server": comparable_server(server),
            "uidls": sorted(normalize_uidl(u) for u in uidls),
        }

    return Scenario(
        "pop3-leave" if leave else "pop3-delete",
        prepare,
        (
            Phase("fetch", fetch),
            Phase("fetch new mail", fetch, before=lambda run: append(run, range(5, 7))),
        ),
        state,
    )


POP3_LEAVE = pop3_scenario(leave=True)
POP3_DELETE = pop3_scenario(leave=False)


# smtp

SMTP_MESSAGES = 3


def smtp_prepare(run: Run) -> None:
    from tuimail.cli.main import main

    run.users["me"] = run.servers.add_user("walk-from")
    run.users["to"] = run.servers.add_user("walk-to")
    write_config(run, incoming="imap", smtp=True)
    files = []
    for number in range(1, SMTP_MESSAGES + 1):
        path = run.directory / f"m{number}.eml"
        path.write_bytes(
            f"From: {run.servers.address(run.users['me'])}\r\n"
            f"To: {run.servers.address(run.users['to'])}\r\n"
            f"Subject: walk sending {number}\r\n"
            f"Date: Tue, 03 Mar 2026 11:{number:02d}:00 +0000\r\n"
            f"Message-ID: <walk-send-{number}@tuimail.test>\r\n"
            "\r\n"
            f"Sent message {number}.\r\n.a line that starts with a dot\r\n".encode()
        )
        files.append(str(path))
    common = ["--config", str(run.config), "--data-dir", str(run.data)]
    assert main([*common, "send", "--queue-only", "--now", *files]) == 0


def flush(run: Run, crash_at: str | None) -> subprocess.CompletedProcess:
    return run.tuimail("outbox", "flush", crash_at=crash_at)


def smtp_state(run: Run) -> dict:
    def normalize(raw: bytes) -> bytes:
        for role, user in run.users.items():
            raw = raw.replace(user.encode(), f"<{role}>".encode())
        return raw

    settle(run.servers)
    store = store_snapshot(run.data, normalize=normalize)
    with run.client() as client:
        server = imap_snapshot(client, normalize=normalize)
    with run.client("to") as client:
        delivered = message_id_counts(client, "INBOX")
    expected = {f"walk-send-{number}@tuimail.test": 1 for number in range(1, SMTP_MESSAGES + 1)}
    assert dict(delivered) == expected, "each message delivered exactly once"
    return {
        "store": comparable_store(store, renumbered={"Sent"}),
        "server": comparable_server(server, renumbered={"Sent"}),
        "delivered": dict(delivered),
    }


SMTP = Scenario("smtp", smtp_prepare, (Phase("flush", flush),), smtp_state)


# drafts

DRAFT_IDS = ("walk-draft-a@tuimail.test", "walk-draft-b@tuimail.test")
_DATE_LINE = re.compile(rb"^Date: [^\r\n]*\r?\n", re.MULTILINE | re.IGNORECASE)


def _draft(subject: str) -> Any:
    from tuimail.core.model import Address, Draft

    return Draft(
        from_=Address("Me", "me@tuimail.test"),
        to=(Address("Ann", "ann@example.org"),),
        subject=subject,
        body=f"Text of {subject}.\n",
    )


def _with_store(run: Run, action: Callable[[Any, int], None]) -> None:
    from tuimail.store import read
    from tuimail.store.db import open_store

    conn = open_store(run.data)
    try:
        account = read.account_id(conn, ACCOUNT)
        assert account is not None
        action(conn, account)
    finally:
        conn.close()


def drafts_prepare(run: Run) -> None:
    from tuimail.store import drafts

    run.users["me"] = run.servers.add_user("walk-drafts")
    write_config(run, incoming="imap")
    done = run.tuimail("sync")  # the folders, with their roles
    assert done.returncode == 0, done.stderr

    def save_both(conn: Any, account: int) -> None:
        run.notes["drafts"] = [
            drafts.save(conn, account, _draft(f"draft {n}"), message_id=message_id)
            for n, message_id in enumerate(DRAFT_IDS, 1)
        ]

    _with_store(run, save_both)


def drafts_changes(run: Run) -> None:
    from tuimail.store import drafts

    first, second = run.notes["drafts"]

    def edit_and_discard(conn: Any, account: int) -> None:
        drafts.save(
            conn, account, _draft("draft 1, edited"), message_id=DRAFT_IDS[0], draft_id=first
        )
        drafts.discard(conn, second)

    _with_store(run, edit_and_discard)


def drafts_pass(run: Run, crash_at: str | None) -> subprocess.CompletedProcess:
    return run.drafts_pass(crash_at=crash_at)


def drafts_state(run: Run) -> dict:
    def normalize(raw: bytes) -> bytes:
        return _DATE_LINE.sub(b"", raw)  # a composed draft carries the time it was built

    store = store_snapshot(run.data, normalize=normalize)
    with run.client() as client:
        server = imap_snapshot(client, normalize=normalize)
    assert_store_matches_server(store, server, ACCOUNT, server.mailboxes)
    live = [m for m in server.mailboxes["Drafts"].messages if "\\Deleted" not in m.flags]
    assert len(live) == 1, "one copy of the one draft left"
    return {
        "store": comparable_store(store, renumbered={"Drafts"}),
        "server": comparable_server(server, renumbered={"Drafts"}),
    }


DRAFTS = Scenario(
    "drafts",
    drafts_prepare,
    (
        Phase("upload", drafts_pass),
        Phase("replace and remove", drafts_pass, before=drafts_changes),
        Phase("sync", sync_bodies),
    ),
    drafts_state,
)


# import


def import_prepare(run: Run) -> None:
    import mailbox

    run.users["me"] = run.servers.add_user("walk-import")
    write_config(run, incoming="imap")
    source = mailbox.mbox(run.directory / "old.mbox")
    try:
        for number in range(1, 5):
            source.add(corpus_message(number))
    finally:
        source.close()


def upload(run: Run, crash_at: str | None) -> subprocess.CompletedProcess:
    mbox = str(run.directory / "old.mbox")
    return run.tuimail("import", "--mbox", mbox, f"{ACCOUNT}/INBOX", "--upload", crash_at=crash_at)


IMPORT = Scenario(
    "import",
    import_prepare,
    (Phase("upload", upload), Phase("sync", sync_bodies)),
    imap_state,
)

SCENARIOS = {s.name: s for s in (IMAP, POP3_LEAVE, POP3_DELETE, SMTP, DRAFTS, IMPORT)}


# --- the walk: every known step, where it is reached


@dataclass(frozen=True)
class Case:
    scenario: str
    phase: int
    crash_at: str  # NAME or NAME:N

    @property
    def step(self) -> str:
        return self.crash_at.partition(":")[0]

    @property
    def id(self) -> str:
        phase = SCENARIOS[self.scenario].phases[self.phase].name.replace(" ", "-")
        return f"{self.scenario}-{phase}-{self.crash_at}"


# step -> where it is crashed: (scenario, phase index, NAME or NAME:N).
WALK: dict[str, list[tuple[str, int, str]]] = {
    "imap.headers_committed": [
        ("imap", 0, "imap.headers_committed"),
        ("imap", 0, "imap.headers_committed:2"),
        ("imap", 1, "imap.headers_committed"),
    ],
    "imap.bodies_committed": [
        ("imap", 0, "imap.bodies_committed"),
        ("imap", 0, "imap.bodies_committed:2"),
        ("imap", 1, "imap.bodies_committed"),
    ],
    "imap.folder_synced": [
        ("imap", 0, "imap.folder_synced"),
        ("imap", 0, "imap.folder_synced:2"),
        ("imap", 1, "imap.folder_synced"),
    ],
    "imap.expunges_committed": [("imap", 1, "imap.expunges_committed")],
    "imap.flags_committed": [("imap", 1, "imap.flags_committed")],
    "imap.op_replayed": [
        ("imap", 1, "imap.op_replayed"),
        ("imap", 1, "imap.op_replayed:3"),
        ("imap", 1, "imap.op_replayed:5"),
    ],
    "pop3.mid_retr": [("pop3-leave", 0, "pop3.mid_retr"), ("pop3-delete", 0, "pop3.mid_retr:3")],
    "pop3.before_commit": [
        ("pop3-leave", 0, "pop3.before_commit:2"),
        ("pop3-delete", 0, "pop3.before_commit"),
    ],
    "pop3.after_commit": [
        ("pop3-leave", 0, "pop3.after_commit"),
        ("pop3-delete", 0, "pop3.after_commit:2"),
    ],
    "pop3.after_dele": [
        ("pop3-delete", 0, "pop3.after_dele"),
        ("pop3-delete", 0, "pop3.after_dele:3"),
    ],
    "smtp.before_connect": [("smtp", 0, "smtp.before_connect")],
    "smtp.after_mail": [("smtp", 0, "smtp.after_mail"), ("smtp", 0, "smtp.after_mail:2")],
    "smtp.mid_data": [("smtp", 0, "smtp.mid_data:2")],
    "smtp.after_data_end": [("smtp", 0, "smtp.after_data_end:2")],
    "smtp.after_reply": [("smtp", 0, "smtp.after_reply"), ("smtp", 0, "smtp.after_reply:3")],
    "smtp.sent_appended": [("smtp", 0, "smtp.sent_appended"), ("smtp", 0, "smtp.sent_appended:2")],
    "drafts.appended": [
        ("drafts", 0, "drafts.appended"),
        ("drafts", 0, "drafts.appended:2"),
        ("drafts", 1, "drafts.appended"),
    ],
    "drafts.old_copies_deleted": [("drafts", 1, "drafts.old_copies_deleted")],
    "drafts.discarded_removed": [("drafts", 1, "drafts.discarded_removed")],
    "import.appended": [("import", 0, "import.appended"), ("import", 0, "import.appended:3")],
    "index.batch_committed": [
        ("imap", 0, "index.batch_committed"),
        ("pop3-delete", 0, "index.batch_committed"),
        ("pop3-leave", 1, "index.batch_committed"),
    ],
}

# step -> why it is not walked here, and the test that covers it.
ELSEWHERE: dict[str, str] = {
    "import.batch_committed": "an import into the store, with no server: walked with its own"
    " source (tests/integration/test_import_bulk.py::"
    "test_a_crash_in_the_writer_ends_the_import_and_a_rerun_adds_the_rest)",
    "imap.folder_op_replayed": "folder actions are walked on their own scenario"
    " (tests/integration/test_imap_folder_ops.py::test_a_crash_after_each_folder_command)",
    "outbox.taken_back": "a key press in the app, not a command: the app on a pty is killed"
    " there (tests/ui/test_take_back.py::test_a_crash_while_taking_back_leaves_the_message_queued)",
}

CASES = [
    Case(scenario, phase, crash_at)
    for step in KNOWN_CRASHPOINTS
    for scenario, phase, crash_at in WALK.get(step, [])
]


def test_every_known_crash_point_is_walked_or_its_test_named() -> None:
    walked = {case.step for case in CASES}
    missing = set(KNOWN_CRASHPOINTS) - walked - set(ELSEWHERE)
    assert not missing, f"crash points neither walked here nor listed in ELSEWHERE: {missing}"
    assert set(WALK) <= set(KNOWN_CRASHPOINTS), "WALK names a step the code no longer has"
    assert not set(WALK) & set(ELSEWHERE)


# --- running scenarios


def play(
    scenario: Scenario, servers: MailServers, directory: Path, case: Case | None = None
) -> tuple[Run, dict]:
    """Play `scenario` on fresh users; with `case`, crash at its step in its phase, then run the
    same command again to completion. Returns the run and its end state."""
    directory.mkdir(parents=True, exist_ok=True)
    run = Run(servers, directory)
    scenario.prepare(run)
    for index, phase in enumerate(scenario.phases):
        phase.before(run)
        if case is not None and index == case.phase:
            crashed = phase.command(run, case.crash_at)
            assert crashed.returncode == CRASH_EXIT_CODE, (
                f"{case.crash_at} was not reached in {phase.name!r}: "
                f"{crashed.returncode}\n{crashed.stdout}{crashed.stderr}"
            )
            check_after_crash(run, case)
        done = phase.command(run, None)
        if case is not None and case.step in AFTER_FINAL_DOT and index == case.phase:
            settle_unknown(run, done)
            continue
        assert done.returncode == 0, f"{phase.name}: {done.stdout}{done.stderr}"
    return run, scenario.state(run)


def check_after_crash(run: Run, case: Case) -> None:
    """What must hold right after the crash, before anything runs again."""
    if case.scenario == "pop3-delete":
        uidls = snapshots.pop3_uidls(
            run.servers.host,
            run.servers.pop3s_port,
            run.servers.ca_file,
            run.users["me"],
            run.password("me"),
        )
        if case.step.startswith("index."):
            # The download had ended (QUIT, the DELEs done): every message is in the store,
            # durable, and only the index waits for the next run.
            assert uidls == []
            folders = snapshots.store_snapshot(run.data).folders.values()
            kept = [message for folder in folders for message in folder.messages]
            assert len(kept) == 4 and all(message.body_local for message in kept)
        else:
            # No QUIT was sent, so no DELE took effect: every message is still on the server.
            assert len(uidls) == 4


def settle_unknown(run: Run, done: subprocess.CompletedProcess) -> None:
    """After a crash past the final ".", the crashed item is 'unknown', never resent by itself,
    and was delivered exactly once; the user confirms it and the next flush files its Sent
    copy. (Only this state may differ from the uninterrupted run.)"""
    from tests.support.smtp_send import items
    from tuimail.store.outbox import OutboxState

    assert done.returncode == 1, done.stdout + done.stderr
    unknown = [item for item in items(run.data) if item.state is OutboxState.UNKNOWN]
    assert len(unknown) == 1, unknown
    assert f"#{unknown[0].id}" in done.stdout
    again = run.tuimail("outbox", "flush")
    assert again.returncode == 0, again.stdout + again.stderr
    settle(run.servers)
    with run.client("to") as client:
        assert message_id_counts(client, "INBOX")[unknown[0].message_id] == 1
    confirmed = run.tuimail("outbox", "confirm", str(unknown[0].id))
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    final = run.tuimail("outbox", "flush")
    assert final.returncode == 0, final.stdout + final.stderr


@pytest.fixture(scope="module")
def reference(
    mail_servers: MailServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], dict]]:
    """`reference(name)` -> the end state of scenario `name` played without a crash (once)."""
    states: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in states:
            directory = tmp_path_factory.mktemp(f"reference-{name}")
            states[name] = play(SCENARIOS[name], mail_servers, directory)[1]
        return states[name]

    yield get


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_crash_then_a_rerun_ends_as_an_uninterrupted_run(
    case: Case, mail_servers: MailServers, tmp_path: Path, reference: Callable[[str], dict]
) -> None:
    assert case.step in KNOWN_CRASHPOINTS
    expected = reference(case.scenario)
    _run, state = play(SCENARIOS[case.scenario], mail_servers, tmp_path, case)
    assert state == expected


def test_the_reference_runs_end_in_the_expected_state(
    reference: Callable[[str], dict],
) -> None:
    """The comparison means something: the uninterrupted runs did what each scenario says."""
    imap = reference("imap")["server"]
    assert len(imap["INBOX"][4]) == 5 - 1 - 1 + 2  # 6, minus expunged, moved, deleted; +2
    assert len(imap["Archive"][4]) == 2  # the moved one and the copy
    assert len(reference("pop3-leave")["server"]["INBOX"][4]) == 6
    assert reference("pop3-delete")["server"]["INBOX"][4] == ()
    keys = reference("pop3-delete")["store"]["pop3_uidls"]
    # Each message's UIDL, and beside it the key of its bytes (checked before the DELE).
    assert len(keys) == 12 and keys.count("sha256-message:") == 6
    smtp = reference("smtp")
    assert [state for _, state, done, _ in smtp["store"]["outbox"]] == ["sent"] * SMTP_MESSAGES
    assert all(done for _, _, done, _ in smtp["store"]["outbox"])
    assert len(smtp["server"]["Sent"][4]) == SMTP_MESSAGES
    drafts = reference("drafts")
    assert [(d[0], d[1], d[2]) for d in drafts["store"]["drafts"]] == [(DRAFT_IDS[0], False, False)]
    assert len(reference("import")["server"]["INBOX"][4]) == 4
