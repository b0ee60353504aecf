"""In-process TLS peers: a test CA with certificates for every failure a client can meet, and
real handshakes over socket pairs (no servers)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class TlsPeers:
    """A test CA with certificates for every failure a client can meet, and a way to handshake."""

    ca: trustme.CA
    ca_file: Path
    good: trustme.LeafCert  # imap.example.org, valid now
    expired: trustme.LeafCert  # imap.example.org, expired on 2021-01-01
    other_name: trustme.LeafCert  # other.example only

    def server_context(self, cert: trustme.LeafCert) -> ssl.SSLContext:
        """A server-side context presenting `cert`."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    def handshake(
        self,
        server: ssl.SSLContext,
        client: ssl.SSLContext,
        host: str = "imap.example.org",
        then: Callable[[ssl.SSLSocket], object] = lambda sock: None,
    ) -> object:
        """Run a real TLS handshake between the two contexts; return `then(client socket)`.

        Exceptions from the client side propagate; the server side's are swallowed (it is the
        client that must notice the problem).
        """
        server_sock, client_sock = socket.socketpair()
        server_sock.settimeout(10)
        client_sock.settimeout(10)

        def serve() -> None:
            try:
                with server.wrap_socket(server_sock, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass
            finally:
                server_sock.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with client.wrap_socket(client_sock, server_hostname=host) as tls:
                return then(tls)
        finally:
            client_sock.close()
            thread.join(10)
