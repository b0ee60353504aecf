"""The internals of aiosmtplib and smtplib that tuimail relies on, each behind one named function
or hook.

aiosmtplib's `SMTP.data()` writes a whole message and its final "." in one go; the sender needs
to write a large message in chunks, waiting while the connection's buffer is full, and to commit
a step right before the final "." goes out (smtp.send_data). It does that on aiosmtplib's
protocol object, whose lock, flow control and reply bookkeeping are private. The account
finder's SMTP probe (autoconfig) dials through its own network object, which smtplib takes only
through a private method. Every such use in tuimail goes through this module and nowhere else,
so an upgrade that changes one shows up in one place: tests/unit/sync/test_wire.py checks each
internal named here is still there with the shape used, and aiosmtplib is pinned in
pyproject.toml.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiosmtplib.protocol import SMTPProtocol

# aiosmtplib is imported by its users only: the account finder's probe needs smtplib alone.


def command_lock(protocol: SMTPProtocol) -> asyncio.Lock | None:
    """The lock aiosmtplib holds while one command and its reply are under way
    (`SMTPProtocol._command_lock`); None before the connection is made. Held while a message
    is written, so nothing else is sent in the middle of it."""
    return protocol._command_lock


async def drain(protocol: SMTPProtocol) -> None:
    """Wait while the transport's buffer is over its high-water mark
    (`SMTPProtocol._drain_helper`, aiosmtplib's copy of asyncio's flow control)."""
    await protocol._drain_helper()


def expect_reply(protocol: SMTPProtocol) -> None:
    """Tell aiosmtplib a reply is awaited (`SMTPProtocol._response_pending`): it drops what
    arrives while none is, so this is set before the end of DATA is written (aiosmtplib's own
    commands set it as they write)."""
    protocol._response_pending = True


class SmtplibSocketHooks:
    """Mixed into an smtplib class (before it): the socket smtplib makes (`SMTP._get_socket`,
    called by `connect`) comes from `open_socket`, which a subclass overrides to dial the
    socket itself. SMTP_SSL's own `_get_socket` calls this one and wraps what it gives."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.open_socket(host, port, timeout)

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """The socket smtplib would make."""
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        return sock
