"""A recording relay that does an IMAP server's STARTTLS itself, so a test can read what the client
sends on the protected connection.

The fault proxy (proxy.py) sees only ciphertext once STARTTLS has begun, and Dovecot's login
rawlog records the TLS records too. ``StartTlsRelay(host, port, certificate)`` listens on a free
127.0.0.1 port; for each client it opens a plain connection to the server (Dovecot accepts a
plaintext login from loopback), relays the greeting and every line both ways, and answers the
client's ``STARTTLS`` itself: ``OK``, then a TLS handshake with ``certificate`` (one from the test
CA). From then on the client talks TLS to the relay, and the relay passes the decrypted bytes to
the server's plain connection. ``commands`` lists the client's command lines on each connection
(before and after STARTTLS, the STARTTLS itself included), in order. Once the server accepts the
client's ``COMPRESS DEFLATE``, the client's bytes are passed on as they come and inflated for
``commands``.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import ssl
import threading
import zlib
from types import TracebackType
from typing import Any

from tests.support.ca import CertificateFiles

_CHUNK = 65536


class StartTlsRelay:
    """See the module docstring. Use as a context manager."""

    host = "127.0.0.1"

    def __init__(self, target_host: str, target_port: int, certificate: CertificateFiles) -> None:
        self.target = (target_host, target_port)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(certificate.cert), str(certificate.key))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self.commands: list[list[bytes]] = []  # per connection: each client line, CRLF removed
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> StartTlsRelay:
        self._listener.listen(8)
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            lines: list[bytes] = []
            with self._lock:
                self.commands.append(lines)
                self._sockets += [client, server]
            thread = threading.Thread(target=self._relay, args=(client, server, lines), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _relay(self, client: socket.socket, server: socket.socket, lines: list[bytes]) -> None:
        # Whole lines only go to the server (a literal's bytes wait for the CRLF that ends the
        # command): IMAP is line-framed, and the STARTTLS line must not reach it.
        client.settimeout(10)
        server.settimeout(10)
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, "client")
        selector.register(server, selectors.EVENT_READ, "server")
        pending = b""  # an unfinished client line
        compress_tag: bytes | None = None  # the client's COMPRESS, awaiting its answer
        inflate: Any = None  # the client's compressed stream, once the server accepted it
        try:
            while not self._closing.is_set():
                ready = [key.data for key, _ in selector.select(timeout=0.5)]
                if isinstance(client, ssl.SSLSocket) and client.pending():
                    ready.append("client")
                if "server" in ready:
                    data = server.recv(_CHUNK)
                    if not data:
                        return
                    if compress_tag is not None:
                        answer = re.search(rb"^" + re.escape(compress_tag) + rb" (\w+)", data, re.M)
                        if answer is not None:
                            compress_tag = None
                            if answer.group(1).upper() == b"OK":
                                inflate = zlib.decompressobj(wbits=-15)
                    client.sendall(data)
                if "client" in ready:
                    data = client.recv(_CHUNK)
                    if not data:
                        return
                    if inflate is not None:
                        server.sendall(data)
                        pending += inflate.decompress(data)
                        *done, pending = pending.split(b"\r\n")
                        lines.extend(done)
                        continue
                    pending += data
                    while b"\r\n" in pending:
                        line, pending = pending.split(b"\r\n", 1)
                        lines.append(line)
                        tag, _, command = line.partition(b" ")
                        if command.upper() == b"COMPRESS DEFLATE":
                            compress_tag = tag
                        if command.upper() == b"STARTTLS" and not isinstance(client, ssl.SSLSocket):
                            client.sendall(tag + b" OK Begin TLS negotiation now.\r\n")
                            selector.unregister(client)
                            client = self._context.wrap_socket(client, server_side=True)
                            selector.register(client, selectors.EVENT_READ, "client")
                            with self._lock:
                                self._sockets.append(client)
                        else:
                            server.sendall(line + b"\r\n")
        except OSError:
            return
        finally:
            selector.close()
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()
