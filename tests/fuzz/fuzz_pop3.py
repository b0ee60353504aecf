"""Fuzz target: a scripted POP3 server's bytes, cut at chosen points, through tuimail's readers.

Input: a first line whose numbers are the chunk sizes, then the greeting and one answer per
command, separated by lines ``=====`` (see `tests.fuzz.wire`). The client is tuimail's POP3
session class (`tuimail.sync.pop3.connect.Pop3`: poplib with long lines), and the session walks
the reading paths of `Pop3Download`: the greeting, CAPA, STAT, UIDL, LIST, TOP, RETR (one, then
two pipelined) with dot-unstuffing, DELE and QUIT.

Checked: only the error types the download handles come out, and the session gives the same
results whether the bytes come in chunks or all at once.

Run with atheris: ``python -m tests.fuzz.fuzz_pop3 [libFuzzer options] [corpus dirs]``
(see docs/testing.md, "Fuzzing").
"""

from __future__ import annotations

import contextlib
import poplib
import sys

from tests.fuzz.wire import (
    InProcessTransport,
    Outcomes,
    Pop3Script,
    SessionEnded,
    Transport,
    chunk_sizes_from,
    pop3_client,
    split_script,
)
from tuimail.sync.pop3 import commands
from tuimail.sync.pop3 import connect as pop3_connect

# What `Pop3Download` turns into a SyncFailed with a clear message (through the engine session).
# commands.Unreadable: a RETR answered -ERR, which the engine skips (the session goes on).
POP3_ERRORS: tuple[type[BaseException], ...] = (
    poplib.error_proto,
    OSError,
    EOFError,
    commands.Unreadable,
)
# `connect_pop3` turns any exception while connecting into a ConnectError.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (Exception,)


def _pipelined_retr(pop: poplib.POP3, numbers: tuple[int, ...]) -> list[bytes]:
    """RETR sent ahead of the answers, as `download.Maildrop` does with PIPELINING."""
    for number in numbers:
        commands.send_retr(pop, number)
    return [commands.read_retr(pop, number) for number in numbers]


def session(transport: Transport) -> Outcomes:
    """One client session against a scripted server; the results of its steps, in order."""
    outcomes = Outcomes(POP3_ERRORS)
    with contextlib.suppress(SessionEnded):
        pop = outcomes.step("connect", lambda: pop3_client(transport), CONNECT_ERRORS)
        outcomes[-1] = ("connect", pop.getwelcome())
        outcomes.step("capa", lambda: pop3_connect._pop3_capa(pop), CONNECT_ERRORS)
        outcomes.step("stat", lambda: commands.stat(pop))
        outcomes.step("uidl", lambda: commands.uidl_listing(pop, "fuzz"))
        outcomes.step("list", pop.list)
        outcomes.step("top", lambda: pop.top(1, 0))
        outcomes.step("retr", lambda: commands.retrieve(pop, 1))
        outcomes.step("retr_pipelined", lambda: _pipelined_retr(pop, (2, 3)))
        outcomes.step("dele", lambda: commands.command(pop, "DELE 1"))
        outcomes.step("quit", lambda: commands.command(pop, "QUIT"))
    return outcomes


def run(data: bytes, *, chunked: bool = True) -> Outcomes:
    """The session over the script in `data`, cut as its first line says (or whole)."""
    header, _, body = data.partition(b"\n")
    greeting, answers = split_script(body)
    sizes = chunk_sizes_from(header[:200]) if chunked else []
    with InProcessTransport(Pop3Script(greeting, answers), sizes) as transport:
        return session(transport)


def test_one_input(data: bytes) -> None:
    """The fuzz entry point: allowed errors only, and chunking changes nothing."""
    assert run(data) == run(data, chunked=False)


# --- seeds: what a well-behaved server says to this session


def stuffed(message: bytes) -> bytes:
    """A message as a multi-line answer's body: dot-stuffed, ended by the lone dot."""
    lines = message.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    return b"".join(
        (b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines
    ) + (b".\r\n")


MESSAGE = (
    b"From: Alice <alice@example.org>\r\nSubject: dots\r\nMessage-ID: <m@example.org>\r\n\r\n"
    b".leading dot\r\n..two dots\r\n.\r\n \r\nlast line\r\n"
)


def transcript(messages: list[bytes] | None = None, *, capa: bytes = b"PIPELINING") -> list[bytes]:
    """Greeting and answers for `session`, in order."""
    messages = messages if messages is not None else [MESSAGE, MESSAGE.replace(b"dots", b"2")]
    messages = (messages + [b"Subject: filler\r\n\r\nx\r\n"] * 3)[:3]
    total = sum(len(message) for message in messages)
    header = messages[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    return [
        b"+OK POP3 ready <1896.697170952@example.org>\r\n",
        b"+OK capabilities follow\r\nTOP\r\nUIDL\r\nUSER\r\n%s\r\n.\r\n" % capa,
        b"+OK %d %d\r\n" % (len(messages), total),
        b"+OK\r\n"
        + b"".join(b"%d uid-%d\r\n" % (number, number) for number in range(1, len(messages) + 1))
        + b".\r\n",
        b"+OK scan listing follows\r\n"
        + b"".join(b"%d %d\r\n" % (n, len(m)) for n, m in enumerate(messages, 1))
        + b".\r\n",
        b"+OK top of message follows\r\n" + stuffed(header),
        *(b"+OK %d octets\r\n%s" % (len(message), stuffed(message)) for message in messages),
        b"+OK message 1 deleted\r\n",
        b"+OK bye\r\n",
    ]


def encode(pieces: list[bytes], sizes: list[int] | tuple[int, ...] = ()) -> bytes:
    """A fuzz input from a transcript and chunk sizes."""
    return b"chunks " + b" ".join(b"%d" % size for size in sizes) + b"\n" + b"=====\n".join(pieces)


def seeds() -> dict[str, bytes]:
    """The seed inputs (written to tests/fuzz/seeds/pop3/ by tests/fuzz/make_seeds.py)."""
    lf_only = [piece.replace(b"\r\n", b"\n") for piece in transcript()]
    cut = transcript()
    cut[6] = cut[6][:-20]
    no_uidl = transcript()
    no_uidl[3] = b"-ERR unknown command\r\n"
    return {
        "session.txt": encode(transcript(), (1, 2, 3, 5, 8, 13, 21, 34)),
        "session-bytewise.txt": encode(transcript(), (1,) * 64),
        "lf-line-ends.txt": encode(lf_only, (3, 1, 1)),
        "cut-mid-retr.txt": encode(cut, (7,)),
        "no-uidl.txt": encode(no_uidl),
        "lone-cr-in-body.txt": encode(transcript([b"Subject: a\rb\r\n\r\n100\rTotal\r\n"]), (9, 1)),
    }


if __name__ == "__main__":
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # warnings about malformed input are expected here
    atheris.instrument_all()  # coverage feedback for everything imported above
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
