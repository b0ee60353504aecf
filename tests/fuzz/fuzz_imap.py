"""Fuzz target: a scripted IMAP server's bytes, cut at chosen points, through tuimail's readers.

Input: a first line whose numbers are the chunk sizes (``chunks 1 7 300``), then the server's
script: the greeting and one answer per command, separated by lines ``=====`` (see
`tests.fuzz.wire`). The client is imapclient over imaplib, as `connect_imap` makes it, and the
session walks the reading paths of the engine: login, ENABLE, LIST, SELECT with QRESYNC
(`selection.select`), UID SEARCH, the header FETCH (`imap_ext.uid_fetch` and its fast path),
BODYSTRUCTURE and the partial-body plan (`imap.structure`), the body FETCH with literals capped
(`imap_ext.cap_literals`), IDLE, LOGOUT.

Checked: only the error types the engine handles come out, and the session gives the same
results whether the bytes come in chunks or all at once.

Run with atheris: ``python -m tests.fuzz.fuzz_imap [libFuzzer options] [corpus dirs]``
(see docs/testing.md, "Fuzzing").
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import imapclient
import imapclient.exceptions

from tests.fuzz.wire import (
    ImapScript,
    InProcessTransport,
    Outcomes,
    SessionEnded,
    Transport,
    chunk_sizes_from,
    imap_client,
    split_script,
)
from tuimail.sync.imap import extensions as imap_ext
from tuimail.sync.imap import selection
from tuimail.sync.imap.bodies import BODY_ITEMS
from tuimail.sync.imap.extensions import ImapProtocolError
from tuimail.sync.imap.resync import HEADER_ITEMS
from tuimail.sync.imap.structure import StructureError, plan_partial

# What the engine turns into a SyncFailed (see `imap.account.sync_account`); anything else is a
# crash of the sync thread.
IMAP_ERRORS: tuple[type[BaseException], ...] = (
    ImapProtocolError,
    StructureError,  # caught by ImapSync._fetch_text_only: the message is fetched whole
    imapclient.exceptions.IMAPClientError,  # imaplib's error and abort (BYE, a cut stream)
    OSError,
    ValueError,
)
# ImapSync.sync_folders also takes a TypeError from imapclient's LIST parser as a server fault.
LIST_ERRORS = (*IMAP_ERRORS, TypeError)
# `connect_imap` turns any exception while connecting and logging in into a ConnectError.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (Exception,)
# Literal cap for the fuzz session (the engine's is 256 MiB); larger announced sizes are refused.
MAX_LITERAL = 1 << 20


def _logged_in_capabilities(client: imapclient.IMAPClient) -> Any:
    """What `connect_imap` checks once logged in."""
    capabilities = client.capabilities()
    if not capabilities:
        raise ImapProtocolError("the server announced no capabilities")  # a ConnectError there
    return capabilities


def _idle_done(client: imapclient.IMAPClient) -> Any:
    """End an IDLE as the IDLE watcher does (`imap.news.NewsWatch._idle`)."""
    with imap_ext.server_response("IDLE"):
        return client.idle_done()


def session(transport: Transport) -> Outcomes:
    """One client session against a scripted server; the results of its steps, in order."""
    outcomes = Outcomes(IMAP_ERRORS)
    with contextlib.suppress(SessionEnded):
        client = outcomes.step("connect", lambda: imap_client(transport), CONNECT_ERRORS)
        outcomes[-1] = ("connect", client.welcome)
        outcomes.step("login", lambda: client.login("fuzz", "fuzz-password"), CONNECT_ERRORS)
        # connect_imap reads the logged-in capabilities before handing the client over.
        outcomes.step("capabilities", lambda: _logged_in_capabilities(client), CONNECT_ERRORS)
        imap_ext.cap_literals(client, MAX_LITERAL)  # as ImapSync does, once logged in
        outcomes.step("enable", lambda: selection.enable(client, "QRESYNC"))
        outcomes.step("list", client.list_folders, LIST_ERRORS)
        outcomes.step("select", lambda: selection.select(client, "INBOX", qresync=(1, 5)))
        outcomes.step("search", lambda: imap_ext.uid_search(client, "ALL"))
        outcomes.step("headers", lambda: imap_ext.uid_fetch(client, "1:*", HEADER_ITEMS))
        structures, _ = outcomes.step(
            "structure", lambda: imap_ext.uid_fetch(client, "1", ("UID", "BODYSTRUCTURE"))
        )
        plans = {uid: plan_partial(item.get(b"BODYSTRUCTURE")) for uid, item in structures.items()}
        outcomes.append(("plans", {uid: plan and plan.items for uid, plan in plans.items()}))
        for uid, plan in plans.items():
            if plan is None:
                continue
            fetched, _ = outcomes.step(
                "partial",
                lambda: imap_ext.uid_fetch(client, str(uid), ("UID", *plan.items)),  # noqa: B023
            )
            for item in fetched.values():
                outcomes.step("rebuild", lambda: plan.rebuild(item))  # noqa: B023
            break
        outcomes.step("bodies", lambda: imap_ext.uid_fetch(client, "1:*", BODY_ITEMS))
        outcomes.step("idle", client.idle)
        outcomes.step("idle_done", lambda: _idle_done(client))
        outcomes.step("logout", client.logout)
    return outcomes


def run(data: bytes, *, chunked: bool = True) -> Outcomes:
    """The session over the script in `data`, cut as its first line says (or whole)."""
    header, _, body = data.partition(b"\n")
    greeting, answers = split_script(body)
    sizes = chunk_sizes_from(header[:200]) if chunked else []
    with InProcessTransport(ImapScript(greeting, answers), sizes) as transport:
        return session(transport)


def test_one_input(data: bytes) -> None:
    """The fuzz entry point: allowed errors only, and chunking changes nothing."""
    assert run(data) == run(data, chunked=False)


# --- seeds: what a well-behaved server says to this session


def literal(data: bytes) -> bytes:
    """An IMAP literal: ``{n}`` CRLF and the bytes."""
    return b"{%d}\r\n%s" % (len(data), data)


HEADER = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hello\r\n"
    b"Date: Tue, 05 Mar 2024 14:30:00 +0100\r\nMessage-ID: <m%d@example.org>\r\n\r\n"
)
CAPABILITIES = b"IMAP4rev1 LITERAL+ IDLE ENABLE CONDSTORE QRESYNC UIDPLUS MOVE AUTH=PLAIN"
BODYSTRUCTURE = (
    b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 6 1 NIL NIL NIL NIL)'
    b'("APPLICATION" "PDF" ("NAME" "a.pdf") NIL NIL "BASE64" 8 NIL'
    b' ("ATTACHMENT" ("FILENAME" "a.pdf")) NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)'
)


def header_fetch(seq: int, uid: int, flags: bytes, header: bytes) -> bytes:
    return (
        b"* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE %d "
        b'INTERNALDATE "05-Mar-2024 14:30:00 +0100" BODY[HEADER.FIELDS (FROM TO CC BCC '
        b"REPLY-TO SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES CONTENT-TYPE)] %s)\r\n"
    ) % (seq, uid, flags, len(header) + 100, literal(header))


def transcript(
    headers: list[bytes] | None = None,
    body: bytes = b"Subject: x\r\n\r\nline one\r\n.line two\r\n",
    *,
    interleave: bytes = b"* 4 EXISTS\r\n",
    structure: bytes = BODYSTRUCTURE,
) -> list[bytes]:
    """Greeting and answers for `session`, in order."""
    headers = headers if headers is not None else [HEADER % 1, HEADER % 2]
    fetches = b"".join(
        header_fetch(seq, seq, b"\\Seen" if seq % 2 else b"", header)
        + (interleave if seq == 1 else b"")
        for seq, header in enumerate(headers, 1)
    )
    text_mime = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    pdf_mime = b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n"
    return [
        b"* OK [CAPABILITY %s] ready\r\n" % CAPABILITIES,
        b"* CAPABILITY %s\r\nTAG OK Capability completed\r\n" % CAPABILITIES,
        b"* CAPABILITY %s\r\nTAG OK Logged in\r\n" % CAPABILITIES,
        b"* ENABLED QRESYNC\r\nTAG OK Enabled\r\n",
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
        b'* LIST () "/" ' + literal(b'Odd "name"') + b"\r\nTAG OK List completed\r\n",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
        b"* %d EXISTS\r\n* 0 RECENT\r\n"
        b"* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT %d] Predicted next UID\r\n"
        b"* OK [HIGHESTMODSEQ 12] Highest\r\n* VANISHED (EARLIER) 4:6,9\r\n"
        b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (11))\r\n"
        b"TAG OK [READ-ONLY] Examine completed\r\n" % (len(headers), len(headers) + 1),
        b"* SEARCH %s\r\nTAG OK Search completed\r\n"
        % b" ".join(b"%d" % uid for uid in range(1, len(headers) + 1)),
        fetches + b"TAG OK Fetch completed\r\n",
        b"* 1 FETCH (UID 1 BODYSTRUCTURE %s)\r\nTAG OK Fetch completed\r\n" % structure,
        b"* 1 FETCH (UID 1 BODY[HEADER] %s BODY[1.MIME] %s BODY[1] %s BODY[2.MIME] %s)\r\n"
        b"TAG OK Fetch completed\r\n"
        % (literal(HEADER % 1), literal(text_mime), literal(b"hello\r\n"), literal(pdf_mime)),
        b"* 1 FETCH (UID 1 BODY[] %s)\r\n* 2 EXPUNGE\r\nTAG OK Fetch completed\r\n" % literal(body),
        b"+ idling\r\n* 5 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen) MODSEQ (20))\r\n",
        b"TAG OK Idle completed\r\n",
        b"* BYE Logging out\r\nTAG OK Logout completed\r\n",
    ]


def encode(pieces: list[bytes], sizes: list[int] | tuple[int, ...] = ()) -> bytes:
    """A fuzz input from a transcript and chunk sizes."""
    return b"chunks " + b" ".join(b"%d" % size for size in sizes) + b"\n" + b"=====\n".join(pieces)


def seeds() -> dict[str, bytes]:
    """The seed inputs (written to tests/fuzz/seeds/imap/ by tests/fuzz/make_seeds.py)."""
    huge = transcript()
    huge[10] = b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\nabc)\r\nTAG OK done\r\n"
    bye = transcript()
    bye[8] = bye[8][: len(bye[8]) // 2] + b"\r\n* BYE server shutting down\r\n"
    return {
        "session.txt": encode(transcript(), (1, 3, 7, 64, 2, 500)),
        "session-bytewise.txt": encode(transcript(), (1,) * 64),
        "literal-huge.txt": encode(huge, (5, 5)),
        "bye-mid-fetch.txt": encode(bye, (13, 1, 1)),
        "header-with-tag-lines.txt": encode(
            transcript([b"Subject: TAG OK fake\r\n)\r\n* 9 EXISTS\r\n\r\n"]), (2, 9)
        ),
    }


if __name__ == "__main__":
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # warnings about malformed input are expected here
    atheris.instrument_all()  # coverage feedback for everything imported above
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
