"""The internals of imaplib and imapclient that tuimail relies on, each behind one named function.

imapclient 4.1 has no public way to send a command with parameters it does not know (SELECT
with QRESYNC, LIST RETURN, UID FETCH with modifiers), to reach the response codes it leaves in
imaplib's untagged responses, or to choose the imaplib class it connects with; imapclient itself
does these things through imaplib's private methods. Every such use in tuimail goes through this
module and nowhere else, so an upgrade that changes one shows up in one place:
tests/unit/sync/test_wire.py checks each internal named here is still there with the shape used,
and the versions are pinned in pyproject.toml.

The functions are thin on purpose: they name the internal, say why it is needed, and pass the
call through; what tuimail makes of the answers lives in extensions, connect and the engine.
"""

from __future__ import annotations

import imaplib
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import imapclient
import imapclient.exceptions
from imapclient.imapclient import _parse_untagged_response
from imapclient.response_parser import _convert_INTERNALDATE


def imaplib_of(client: imapclient.IMAPClient) -> Any:
    """The imaplib connection inside the client (`IMAPClient._imap`): its untagged responses,
    state, read buffer and reader/writer methods, which imapclient does not expose. (Typed Any:
    its callers set attributes on it that imaplib's stubs do not know.)"""
    return client._imap


def log_wire_only_when_asked(client: imapclient.IMAPClient) -> None:
    """Let imaplib format its wire log only when that log is on.

    imapclient sets imaplib's `debug` to 5 and sends imaplib's messages to the
    `imapclient.imaplib` logger; imaplib formats each message before the logger can drop it,
    including the repr of every literal it reads: with logging off, that was a tenth of the
    time of a sync downloading bodies. With the logger on (`--debug`, a test at DEBUG), it
    stays 5."""
    enabled = logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG)
    client._imap.debug = 5 if enabled else 0


def starttls_done(client: imapclient.IMAPClient) -> bool:
    """Whether STARTTLS has been done on the connection (`IMAPClient._starttls_done`)."""
    return bool(client._starttls_done)


def normalise_folder(client: imapclient.IMAPClient, folder: str) -> bytes:
    """A folder name as imapclient sends it: modified UTF-7 when the client uses folder
    encoding, quoted (`IMAPClient._normalise_folder`); for commands imapclient cannot send."""
    name: bytes = client._normalise_folder(folder)
    return name


def folder_list(client: imapclient.IMAPClient, data: list[Any]) -> list[tuple[Any, Any, Any]]:
    """LIST responses as `list_folders` gives them, (flags, delimiter, name)
    (`IMAPClient._proc_folder_list`), for a LIST that imapclient cannot send itself."""
    return list(client._proc_folder_list(data))


def select_state(client: imapclient.IMAPClient, untagged: dict[str, Any]) -> dict[bytes, Any]:
    """The mailbox state (EXISTS, UIDVALIDITY, ...) from a SELECT's untagged responses, as
    `select_folder` reads it (`IMAPClient._process_select_response`)."""
    state: dict[bytes, Any] = client._process_select_response(untagged)
    return state


def raw_command_untagged(
    client: imapclient.IMAPClient, command: bytes, arguments: list[bytes]
) -> list[Any]:
    """Send a UID command whose arguments are already quoted, and return its untagged data
    (`IMAPClient._raw_command_untagged`): imapclient's own `search` would quote them again, and
    this sender still sends 8-bit items as literals."""
    data: list[Any] = client._raw_command_untagged(command, arguments)
    return data


def start_idle(client: imapclient.IMAPClient) -> list[Any]:
    """Begin IDLE, as `IMAPClient.idle`, and return what the server said before its "+"
    (parsed as `idle_check` parses it). A server may send untagged responses at any time
    (RFC 3501, 5.3): news it had not told yet, NOTIFY's STATUS of another folder, can come
    between IDLE and its continuation, which `idle` takes for a refusal. Reads lines as
    `idle_check` does (`IMAP4._get_line`); sets `IMAPClient._idle_tag` for `idle_done`."""
    imap = imaplib_of(client)
    tag = imap._command("IDLE")
    client._idle_tag = tag
    said: list[Any] = []
    while True:
        line: bytes = imap._get_line()
        if line.startswith(b"+"):
            return said
        if not line.startswith(b"* "):
            imap.tagged_commands.pop(tag, None)  # answered (refused): nothing left to read
            raise imapclient.exceptions.IMAPClientError(f"Unexpected IDLE response: {line!r}")
        said.append(_parse_untagged_response(line))


def end_idle_later(client: imapclient.IMAPClient) -> bytes:
    """End IDLE without waiting for the server's answer: DONE is sent now, and the answer is
    read along with the next command's (imaplib keeps the tagged answer of a command it sent in
    `IMAP4.tagged_commands` until it is taken, and the untagged lines with the others). Saves
    the round trip before the command that ended the wait. Returns the IDLE's tag, for
    `forget_answered`."""
    tag: bytes = client._idle_tag
    imaplib_of(client).send(b"DONE\r\n")
    return tag


def unanswered(imap: imaplib.IMAP4) -> list[bytes]:
    """The tags of the commands sent whose answers have not been read yet (imaplib keeps a
    command's tag in `IMAP4.tagged_commands`, with None until its answer comes)."""
    return [tag for tag, answer in imap.tagged_commands.items() if answer is None]


def forget_answered(client: imapclient.IMAPClient, tags: list[bytes]) -> list[bytes]:
    """Drop the kept answers of `tags` (IDLEs ended by `end_idle_later`) that have come; the
    tags still waiting for theirs."""
    kept = imaplib_of(client).tagged_commands
    waiting = []
    for tag in tags:
        if kept.get(tag) is None and tag in kept:
            waiting.append(tag)
        else:
            kept.pop(tag, None)
    return waiting


def allow_command(name: str, states: tuple[str, ...]) -> None:
    """Let imaplib send command `name` in `states` (its `Commands` table lists the commands it
    knows; NOTIFY, RFC 5465, is not among them)."""
    imaplib.Commands.setdefault(name, states)


def simple_command(imap: imaplib.IMAP4, name: str, *arguments: Any) -> tuple[str, list[Any]]:
    """Send a command and wait for its tagged reply (`IMAP4._simple_command`), for commands or
    parameters that neither imaplib nor imapclient offer."""
    typ, data = imap._simple_command(name, *arguments)
    return typ, data


def send_command(imap: imaplib.IMAP4, name: str, *arguments: Any) -> bytes:
    """Send a command without waiting for its reply; returns its tag (`IMAP4._command`)."""
    tag: bytes = imap._command(name, *arguments)
    return tag


def command_complete(imap: imaplib.IMAP4, name: str, tag: bytes) -> tuple[str, list[Any]]:
    """Read up to the tagged reply of a command sent with `send_command`
    (`IMAP4._command_complete`)."""
    typ, data = imap._command_complete(name, tag)
    return typ, data


def untagged_response(
    imap: imaplib.IMAP4, typ: str, data: list[Any], name: str
) -> tuple[str, list[Any]]:
    """Take the untagged responses called `name` out of imaplib's store
    (`IMAP4._untagged_response`), as imaplib's public commands do before they return."""
    return imap._untagged_response(typ, data, name)


def login_utf8(imap: imaplib.IMAP4, username: str, secret: str) -> tuple[str, list[Any]]:
    """LOGIN with UTF-8 quoted strings (RFC 6855, section 5). imaplib writes commands in ASCII
    (`IMAP4._encoding`) until UTF8=ACCEPT is enabled, which can only happen after login: this
    one command is written in UTF-8, with imaplib's own quoting (`IMAP4._quote`)."""
    imap._encoding = "utf-8"  # type: ignore[attr-defined]
    try:
        return simple_command(imap, "LOGIN", imap._quote(username), imap._quote(secret))
    finally:
        imap._encoding = "ascii"  # type: ignore[attr-defined]


def on_new_tag(imap: imaplib.IMAP4, hook: Callable[[], None]) -> None:
    """Call `hook` whenever this connection starts a command: imaplib makes a new tag
    (`IMAP4._new_tag`) for every command it or imapclient sends. Only this connection is
    affected (an instance attribute shadows the method)."""
    original: Callable[[], bytes] = imap._new_tag

    def new_tag() -> bytes:
        hook()
        return original()

    imap._new_tag = new_tag  # type: ignore[attr-defined]


def convert_internaldate(text: bytes) -> datetime:
    """An INTERNALDATE string as imapclient's FETCH parser gives it
    (`imapclient.response_parser._convert_INTERNALDATE`, local time, no timezone), for a fast
    parser that must give the same values."""
    converted: datetime = _convert_INTERNALDATE(text, False)
    return converted


class SocketHooks:
    """Mixed into an imaplib class (before it): the socket imaplib makes (`IMAP4._create_socket`,
    called by its constructor before the greeting is read) comes from `open_socket`, which a
    subclass overrides to dial or wrap the socket itself."""

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self.open_socket(timeout)

    def open_socket(self, timeout: float | None) -> socket.socket:
        """The socket imaplib would make (for IMAP4_SSL, already wrapped in TLS)."""
        sock: socket.socket = super()._create_socket(timeout)  # type: ignore[misc]
        return sock


class ClientHooks(imapclient.IMAPClient):
    """An IMAPClient whose imaplib connection comes from `create_imaplib`: imapclient makes it
    in `IMAPClient._create_IMAP4`, called by its constructor, from its `_timeout`."""

    def _create_IMAP4(self) -> Any:
        return self.create_imaplib(getattr(self._timeout, "connect", None))

    def create_imaplib(self, connect_timeout: float | None) -> imaplib.IMAP4:
        """The imaplib connection imapclient would make."""
        imap: imaplib.IMAP4 = super()._create_IMAP4()
        return imap
