"""Loopback servers for the autoconfig tests: HTTP(S) with virtual hosts, and a tiny DNS server.

`WebServer` serves files by (host name, path) on a free 127.0.0.1 port, over TLS when given a
certificate; tests route the real host names (autoconfig.example.com:443, ...) to it through
`tuimail.sync.discovery.network.Network.connect_to`. Besides files it can answer with a
status, a redirect, or stall until the test ends (a slow server). Every request is recorded,
and a POST with its header fields and body too.

`MxServer` answers MX queries over UDP on a free 127.0.0.1 port with dnspython's message API, so
the real resolver code runs against it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

if TYPE_CHECKING:
    from tuimail.config.discovered import Autoconfig


@dataclass(frozen=True)
class Answer:
    """What the server sends for one (host, path): a status, a body, headers; or a stall."""

    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/xml"),)
    stall: bool = False  # send nothing until the server stops


class WebServer:
    """An HTTP or HTTPS server on 127.0.0.1 that answers from `routes[(host, path)]`."""

    def __init__(self, cert_file: Path | None = None, key_file: Path | None = None) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str]] = []  # (Host header, path with query)
        # Each POST: (Host header, path with query, its header fields, its body).
        self.posts: list[tuple[str, str, dict[str, str], bytes]] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                server.requests.append((host, self.path))
                answer = server.routes.get((host, self.path.split("?", 1)[0]))
                if answer is None:
                    answer = Answer(b"not here", status=404)
                if answer.stall:
                    server._release.wait(60)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def do_POST(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                server.posts.append((host, self.path, dict(self.headers.items()), body))
                self.do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if cert_file is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, host: str, path: str, answer: Answer | bytes) -> None:
        """Answer GET `path` on virtual host `host` with `answer` (bytes: a 200 with that body)."""
        self.routes[(host, path)] = answer if isinstance(answer, Answer) else Answer(answer)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


@contextmanager
def web_server(cert_file: Path | None = None, key_file: Path | None = None) -> Iterator[WebServer]:
    """A running WebServer, stopped at the end of the block."""
    server = WebServer(cert_file, key_file).start()
    try:
        yield server
    finally:
        server.stop()


class MxServer:
    """A DNS server on 127.0.0.1 (UDP) that answers MX queries from `records[domain]`:
    [(preference, exchange), ...]; other names get NXDOMAIN."""

    def __init__(self, records: dict[str, list[tuple[int, str]]]) -> None:
        self.records = records
        self.queries: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            records = self.records.get(name)
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.MX and records:
                texts = [f"{preference} {exchange}." for preference, exchange in records]
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, "IN", "MX", texts)
                )
            self._socket.sendto(response.to_wire(), peer)

    def start(self) -> MxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


@contextmanager
def routed_autoconfig_lookup(
    directory: Path, *host_names: str
) -> Iterator[tuple[WebServer, Callable[[str, Callable[[str], None], Path | None], Autoconfig]]]:
    """An HTTPS server that answers for `host_names` (a certificate from a CA of its own), and a
    lookup in the setup screen's shape routed there: port 443 of any host reaches the server,
    every other port a closed one; no MX, no guesses."""
    import trustme

    from tuimail.sync.discovery.lookup import lookup
    from tuimail.sync.discovery.network import Network

    ca = trustme.CA()
    ca_file = directory / "lookup-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf = ca.issue_cert(*host_names)
    cert, key = directory / "lookup-cert.pem", directory / "lookup-key.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    with web_server(cert, key) as server:
        network = Network(
            connect_to=lambda host, port: ("127.0.0.1", server.port if port == 443 else 9),
            mx_lookup=lambda domain: [],
            ca_file=ca_file,
        )

        def routed(address: str, progress: Callable[[str], None], ca: Path | None) -> Autoconfig:
            return lookup(address, network, progress, guess=False)

        yield server, routed
