"""The internals of poplib that tuimail relies on, each behind one named function or hook.

poplib has no public way to send a command it does not know (AUTH, RFC 5034), to send RETR
without reading the answer (so that the next command can be pipelined), to bound the lines and
the listings it reads, or to choose how it makes its socket; it does all of these through its
private methods. Every such use in tuimail goes through this module and nowhere else, so a
Python upgrade that changes one shows up in one place: tests/unit/sync/test_wire.py checks each
internal named here is still there with the shape used.
"""

from __future__ import annotations

import poplib
import socket


def short_command(pop: poplib.POP3, line: str) -> bytes:
    """Send one command line and read its one-line answer (`POP3._shortcmd`); raises
    poplib.error_proto on -ERR. For commands poplib has no method for."""
    response: bytes = pop._shortcmd(line)  # type: ignore[attr-defined]
    return response


def put_command(pop: poplib.POP3, line: str) -> None:
    """Send one command line without reading its answer (`POP3._putcmd`)."""
    pop._putcmd(line)  # type: ignore[attr-defined]


def get_response(pop: poplib.POP3) -> bytes:
    """Read one status line (`POP3._getresp`); raises poplib.error_proto on -ERR."""
    response: bytes = pop._getresp()  # type: ignore[attr-defined]
    return response


class Pop3Hooks:
    """Mixed into a poplib class (before it), so a subclass can replace what poplib does in its
    private methods through public names:

    - `open_socket`: the socket poplib makes (`POP3._create_socket`, called by its constructor
      before the greeting is read);
    - `read_line`: one line, as (line without its end, octets read) (`POP3._getline`, which
      every reader of poplib calls);
    - `read_long_response`: a multi-line answer, as (status, lines, octets)
      (`POP3._getlongresp`, which RETR, LIST, UIDL, TOP and CAPA read with).
    """

    def _create_socket(self, timeout: float) -> socket.socket:
        return self.open_socket(timeout)

    def open_socket(self, timeout: float) -> socket.socket:
        """The socket poplib would make (for POP3_SSL, already wrapped in TLS)."""
        sock: socket.socket = super()._create_socket(timeout)  # type: ignore[misc]
        return sock

    def _getline(self) -> tuple[bytes, int]:
        return self.read_line()

    def read_line(self) -> tuple[bytes, int]:
        """poplib's own line reader."""
        line: tuple[bytes, int] = super()._getline()  # type: ignore[misc]
        return line

    def _getlongresp(self) -> tuple[bytes, list[bytes], int]:
        return self.read_long_response()

    def read_long_response(self) -> tuple[bytes, list[bytes], int]:
        """poplib's own multi-line reader."""
        answer: tuple[bytes, list[bytes], int] = super()._getlongresp()  # type: ignore[misc]
        return answer
