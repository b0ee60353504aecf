"""The POP3 commands of a download and what they read: the UIDL listing, STAT, RETR (sent
ahead of its answer when pipelined, read line by line up to the size limit), one-line commands
(DELE, QUIT), and the keys earlier versions stored messages under.

Each command and its answer go to the wire-trace logger `tuimail.sync.wire.pop3` (enabled with
--debug); a message's contents never do.
"""

from __future__ import annotations

import hashlib
import logging
import poplib
from collections.abc import Iterator
from typing import BinaryIO

from tuimail.core.crashpoint import crashpoint
from tuimail.core.tls import printable_line
from tuimail.mail import limits
from tuimail.sync.pop3.connect import POP3_MAX_LINE, AnswerTooLargeError, buffered_lines
from tuimail.sync.pop3.wire import get_response, put_command, short_command

log = logging.getLogger(__name__)
wire_log = logging.getLogger("tuimail.sync.wire.pop3")

DIGEST_PREFIX = "sha256:"


class Unreadable(Exception):
    """The server answered -ERR to the RETR of one message (not a session failure)."""

    def __init__(self, number: int, said: str) -> None:
        super().__init__(said)
        self.number = number
        self.said = said


class TooLarge(Exception):
    """A RETR answer passed limits.MAX_MESSAGE_BYTES. The rest of it is still on the wire, so
    the session ends; the pass goes on in a new one without that message."""

    def __init__(self, number: int, limit: int) -> None:
        super().__init__(f"larger than the limit of {limit:,} bytes; the rest was not read")
        self.number = number
        self.key: str | None = None  # its UIDL, where known


class AnswerTooLarge(Exception):
    """A multi-line answer passed its limit."""


def uidl_listing(pop: poplib.POP3, account: str) -> list[tuple[int, str]] | None:
    """[(message number, UIDL)] in server order, or None when the server has no UIDL.
    `account` names the account in the log."""
    wire_log.debug("> UIDL")
    try:
        response, lines, _ = pop.uidl()
    except AnswerTooLargeError:
        raise  # the rest of the listing is on the wire: the session cannot go on
    except poplib.error_proto as exc:
        wire_log.debug("< %s", shown(exc.args[0] if exc.args else b""))
        return None
    wire_log.debug("< %s (%d lines)", shown(response), len(lines))
    listing = []
    for line in lines:
        number_text, _, uidl_bytes = line.partition(b" ")
        # UIDLs are untrusted text kept as data: any bytes decode the same way every time.
        uidl = uidl_bytes.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
        if not number_text.isdigit() or not uidl:
            log.warning("%s: ignoring a malformed UIDL line", account)
            continue
        listing.append((int(number_text), uidl))
    return listing


def stat(pop: poplib.POP3) -> int:
    """The number of messages in the maildrop (STAT)."""
    wire_log.debug("> STAT")
    try:
        count, _size = pop.stat()
    except (ValueError, IndexError) as exc:  # poplib reads "+OK count size" without checks
        raise poplib.error_proto(b"-ERR malformed STAT answer") from exc
    wire_log.debug("< +OK %d", count)
    return int(count)


def retrieve(pop: poplib.POP3, number: int) -> bytes:
    """The exact message: lines joined with CRLF, dot-unstuffed, with a final CRLF."""
    send_retr(pop, number)
    return read_retr(pop, number)


# RETR is pipelined and its answer read here line by line, which poplib's public methods
# cannot do (pop3_wire's put_command / get_response).
def send_retr(pop: poplib.POP3, number: int) -> None:
    """Send RETR for message `number`; its answer is read by `read_retr`."""
    wire_log.debug("> RETR %d", number)
    put_command(pop, f"RETR {number}")


def read_retr(pop: poplib.POP3, number: int) -> bytes:
    """The answer to a RETR sent before: the exact message (see `retrieve`). Raises Unreadable
    for a -ERR (the session goes on), TooLarge past limits.MAX_MESSAGE_BYTES (it cannot)."""
    try:
        response = get_response(pop)
    except poplib.error_proto as exc:
        # A one-line -ERR for this message (Dovecot: "-ERR Message 2 expunged." when it
        # cannot read the file); the session itself goes on.
        said = shown(exc.args[0] if exc.args else b"-ERR")
        wire_log.debug("< %s (message %d)", said, number)
        raise Unreadable(number, said) from exc
    wire_log.debug("< %s (message %d)", shown(response), number)
    limit = limits.MAX_MESSAGE_BYTES
    try:
        return b"".join(read_multiline(pop, crash_step=True, limit=limit))
    except AnswerTooLarge as exc:
        wire_log.debug("< (message %d over %d bytes; the rest not read)", number, limit)
        raise TooLarge(number, limit) from exc


def read_multiline(
    pop: poplib.POP3, *, crash_step: bool = False, limit: int | None = None
) -> Iterator[bytes]:
    """The body of a multi-line response with CRLF line ends, dot-unstuffed, in pieces.

    Reads `pop.file` directly: poplib refuses lines over 2048 bytes and builds lists of lines;
    here each line may be up to POP3_MAX_LINE. The whole lines already buffered are taken at
    once (a message of many short lines is a few thousand lines: one Python step each cost a
    third of a download); a line not yet whole in the buffer, or lines with a bare LF end, are
    read one at a time.
    """
    file = pop.file
    first = True
    total = 0
    while True:
        piece, done, size = buffered_lines(file)
        if not size:
            piece, done, size = _one_line(file)
        total += size
        if limit is not None and total > limit:
            raise AnswerTooLarge()
        if piece:
            yield piece
            if first and crash_step:
                first = False
                crashpoint("pop3.mid_retr")
        if done:
            return


def _one_line(file: BinaryIO) -> tuple[bytes, bool, int]:
    """One line read as it comes, with a CRLF end and unstuffed: (the line, whether it was the
    final dot, bytes consumed)."""
    line = file.readline(POP3_MAX_LINE + 1)
    if len(line) > POP3_MAX_LINE:
        raise poplib.error_proto(b"-ERR line too long")
    if not line:
        raise EOFError("the server closed the connection in the middle of a response")
    if line == b".\r\n" or line == b".\n":
        return b"", True, len(line)
    size = len(line)
    if line[:2] == b"..":
        line = line[1:]
    if line[-2:] == b"\r\n":
        return line, False, size
    if line[-1:] == b"\n":
        return line[:-1] + b"\r\n", False, size
    return line, False, size  # only at the end of the stream: the next read reports it


def command(pop: poplib.POP3, line: str) -> bytes:
    """A one-line command (DELE, QUIT) and its +OK answer (poplib.error_proto for -ERR)."""
    wire_log.debug("> %s", line)
    try:
        response = short_command(pop, line)
    except poplib.error_proto as exc:
        wire_log.debug("< %s", shown(exc.args[0] if exc.args else b""))
        raise
    wire_log.debug("< %s", shown(response))
    return response


def shown(text: bytes | str) -> str:
    """A server's line as one printable line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return printable_line(text)


def header_digest_key(message: bytes) -> str:
    """The key earlier versions gave a message on a server without UIDL: a digest of its header
    section (two messages with the same headers got the same key; kept to recognise them).

    The same for the message and for its `TOP n 0` answer (both end the headers with CRLF CRLF).
    """
    end = message.find(b"\r\n\r\n")
    header = message if end < 0 else message[: end + 2]
    return DIGEST_PREFIX + hashlib.sha256(header).hexdigest()
