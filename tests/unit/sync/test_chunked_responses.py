"""IMAP and POP3 answers arriving in pieces: the same results as arriving whole.

A scripted server (tests/fuzz/wire.py) writes real-shaped answers over a socket pair in chunks
of random sizes, from one byte up to the whole answer, each chunk read by the client before the
next is written. The client side is what the engines use: imapclient over imaplib with
tuimail's `imap.extensions` and `imap.structure` readers, and tuimail's POP3 session with the
download's readers (see the session functions in tests/fuzz/fuzz_imap.py and fuzz_pop3.py).
Each session's results must equal those of the same script delivered in one piece, and a
malformed script may only end in the error types the engines handle.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import fuzz_imap, fuzz_pop3
from tests.fuzz.wire import ImapScript, InProcessTransport, Pop3Script, SocketPairTransport

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Header and body bytes with what trips readers: line ends of every kind, dots, parentheses,
# quotes, braces, tag-like and BYE-like lines, NUL and 8-bit bytes.
AWKWARD = st.lists(
    st.sampled_from(
        [
            *(b"\r\n", b"\n", b"\r", b".", b"..", b".\r\n", b"(", b")", b'"', b"{3}\r\n", b"\\"),
            *(b"TAG OK fake\r\n", b"* BYE no\r\n", b"+ more\r\n", b"\x00", b"\xff", b" "),
        ]
    )
    | st.binary(max_size=12),
    max_size=30,
).map(b"".join)


@st.composite
def cut_sizes(draw: st.DrawFn, total: int) -> list[int]:
    """Chunk sizes for about `total` bytes: single bytes, small and large pieces, the rest whole."""
    return draw(
        st.lists(
            st.integers(1, 3) | st.integers(1, 64) | st.integers(1, max(1, total)), max_size=40
        )
    )


@st.composite
def mutated(draw: st.DrawFn, pieces: list[bytes], tokens: list[bytes]) -> list[bytes]:
    """A few protocol tokens inserted into, or bytes cut from, random answers."""
    pieces = list(pieces)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(pieces) - 1))
        piece = pieces[index]
        position = draw(st.integers(0, len(piece)))
        if draw(st.booleans()):
            pieces[index] = piece[:position] + draw(st.sampled_from(tokens)) + piece[position:]
        else:
            pieces[index] = piece[:position] + piece[position + draw(st.integers(1, 20)) :]
    return pieces


IMAP_TOKENS = [
    b"\r\n",
    b"* 7 EXISTS\r\n",
    b"* 1 EXPUNGE\r\n",
    b"* BYE shutting down\r\n",
    b"+ continue\r\n",
    b"TAG OK early\r\n",
    b"TAG BAD no\r\n",
    b"{99999999999}\r\n",
    b"{2}\r\n",
    b"NIL",
    b"(",
    b")",
    b" MODSEQ (99)",
]
POP3_TOKENS = [b"\r\n", b"\n", b"\r", b".\r\n", b"..", b"+OK\r\n", b"-ERR no\r\n", b"\x00"]


def imap_runs(pieces: list[bytes], sizes: list[int]) -> tuple[list, list]:
    greeting, *answers = pieces
    with SocketPairTransport(ImapScript(greeting, answers), sizes) as chunked:
        in_pieces = fuzz_imap.session(chunked)
    with InProcessTransport(ImapScript(greeting, answers)) as whole:
        at_once = fuzz_imap.session(whole)
    return in_pieces, at_once


def pop3_runs(pieces: list[bytes], sizes: list[int]) -> tuple[list, list]:
    greeting, *answers = pieces
    with SocketPairTransport(Pop3Script(greeting, answers), sizes) as chunked:
        in_pieces = fuzz_pop3.session(chunked)
    with InProcessTransport(Pop3Script(greeting, answers)) as whole:
        at_once = fuzz_pop3.session(whole)
    return in_pieces, at_once


@st.composite
def imap_transcript(draw: st.DrawFn, body: bytes = b"x\r\n") -> list[bytes]:
    headers = draw(st.lists(AWKWARD, min_size=1, max_size=3))
    interleave = draw(st.sampled_from([b"", b"* 4 EXISTS\r\n", b"* 9 FETCH (FLAGS (\\Seen))\r\n"]))
    return fuzz_imap.transcript(headers, body, interleave=interleave)


@SETTINGS
@given(st.data())
def test_imap_answers_in_chunks_read_as_whole(data: st.DataObject) -> None:
    body = data.draw(AWKWARD)
    pieces = data.draw(imap_transcript(body))
    sizes = data.draw(cut_sizes(sum(map(len, pieces))))
    in_pieces, at_once = imap_runs(pieces, sizes)
    assert in_pieces == at_once
    # A well-formed script runs to the end; literals come back byte for byte, whatever is in them.
    assert in_pieces[-1] == ("logout", b"Logging out")
    outcomes = dict(in_pieces)
    assert outcomes["bodies"][0][1][b"BODY[]"] == body
    assert outcomes["idle_done"][1][0] == (5, b"EXISTS")


@SETTINGS
@given(st.data())
def test_malformed_imap_answers_in_chunks_fail_the_same_clear_way(data: st.DataObject) -> None:
    pieces = data.draw(mutated(data.draw(imap_transcript()), IMAP_TOKENS))
    sizes = data.draw(cut_sizes(sum(map(len, pieces))))
    in_pieces, at_once = imap_runs(pieces, sizes)  # other errors than the allowed ones escape
    assert in_pieces == at_once


LINE = st.lists(
    st.sampled_from([b".", b"..", b"a", b" ", b"\t", b"\xe9", b"=", b"From "]), max_size=8
).map(b"".join)
# Messages with CRLF line ends, lines starting with dots, a lone dot line, empty lines.
MESSAGE = st.lists(LINE, min_size=1, max_size=12).map(lambda lines: b"\r\n".join(lines) + b"\r\n")


@SETTINGS
@given(st.data())
def test_pop3_answers_in_chunks_read_as_whole(data: st.DataObject) -> None:
    messages = data.draw(st.lists(MESSAGE, min_size=3, max_size=3))
    pieces = fuzz_pop3.transcript(messages)
    sizes = data.draw(cut_sizes(sum(map(len, pieces))))
    in_pieces, at_once = pop3_runs(pieces, sizes)
    assert in_pieces == at_once
    outcomes = dict(in_pieces)
    # Dot-unstuffing gives back each message exactly; CRLF split across chunks changes nothing.
    assert outcomes["retr"] == messages[0]
    assert outcomes["retr_pipelined"] == messages[1:]
    assert outcomes["uidl"] == [(1, "uid-1"), (2, "uid-2"), (3, "uid-3")]
    assert in_pieces[-1] == ("quit", b"+OK bye")


@SETTINGS
@given(st.data())
def test_pop3_lone_cr_and_lf_and_malformed_answers_in_chunks(data: st.DataObject) -> None:
    messages = data.draw(st.lists(AWKWARD, min_size=1, max_size=3))
    pieces = data.draw(mutated(fuzz_pop3.transcript(messages), POP3_TOKENS))
    sizes = data.draw(cut_sizes(sum(map(len, pieces))))
    in_pieces, at_once = pop3_runs(pieces, sizes)  # other errors than the allowed ones escape
    assert in_pieces == at_once


def test_a_line_end_split_between_chunks_is_one_line_end() -> None:
    # CR in one chunk, LF in the next, for every line of the answer.
    message = b"Subject: split\r\n\r\n..dot\r\nend\r\n"
    pieces = fuzz_pop3.transcript([message])
    sizes: list[int] = []
    for piece in pieces:
        for line in piece.split(b"\r\n")[:-1]:
            sizes += [len(line) + 1, 1]
    in_pieces, at_once = pop3_runs(pieces, sizes)
    assert in_pieces == at_once
    assert dict(in_pieces)["retr"] == message
