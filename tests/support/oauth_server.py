"""A small OAuth 2.0 authorization server on loopback, for the OAuth2 tests.

`OAuthServer(ca)` listens on two free 127.0.0.1 ports:
- `https_url`: what tuimail talks to (TLS with a certificate from the test CA): `/authorize`
  (approves at once as `user` and redirects with code and state), `/token` (authorization_code
  with PKCE S256 checked, refresh_token, device_code with pending/slow_down), `/device`
  (RFC 8628) and `/revoke`;
- `introspection_url`: plain http for Dovecot's oauth2 passdb (`introspection_mode = post`):
  `{"active": ..., "username": ...}` for a token.

Access tokens live `access_lifetime` seconds (short, so refreshes happen); a test can also
invalidate every access token at once (`expire_access_tokens`) or revoke a refresh token.
Every request is recorded (`requests`: path and form) for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.ca import CertificateAuthority


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    user: str


@dataclass
class _Device:
    user: str
    polls: int = 0


@dataclass
class OAuthServer:
    """The server; use as a context manager (or `start()` / `stop()`)."""

    ca: CertificateAuthority
    directory: Path
    client_id: str = "tuimail-test-client"
    client_secret: str | None = None
    user: str = "alice"  # whom /authorize and the device flow approve
    access_lifetime: int = 3600  # seconds (expires_in)
    device_pending_polls: int = 1  # answers of authorization_pending before approval
    device_slow_down: bool = True  # one slow_down answer after the pending ones
    device_interval: int = 1
    access_token_bytes: int = 24  # Microsoft's are over 1 KiB: longer than a POP3 AUTH line
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    _codes: dict[str, _Code] = field(default_factory=dict)
    _devices: dict[str, _Device] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> OAuthServer:
        """Start both listeners."""
        # The test CA's certificate for 127.0.0.1 (the one the mail servers use too).
        files = self.ca.write_server_files(self.directory / "oauth-tls").good
        cert, key = files.cert, files.key
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        https = self._listen(context)
        http = self._listen(None)
        self.https_url = f"https://127.0.0.1:{https.server_address[1]}"
        self.introspection_url = f"http://127.0.0.1:{http.server_address[1]}/introspect"
        return self

    def stop(self) -> None:
        """Stop both listeners."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests do --------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (as after a server-side expiry)."""
        with self._lock:
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is refused from now on (invalid_grant)."""
        with self._lock:
            self.refresh_tokens.clear()

    def issue_refresh_token(self, user: str | None = None) -> str:
        """A refresh token, as if the user had authorized before."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[token] = user or self.user
        return token

    def grants(self, grant_type: str) -> int:
        """How many token requests of `grant_type` came in."""
        return sum(1 for path, form in self.requests if form.get("grant_type") == grant_type)

    # --- the endpoints ----------------------------------------------------------------------------
    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {}, b"bad client or response_type"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, b"PKCE S256 required"
        code = "code-" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = _Code(
                self.client_id, query["redirect_uri"], query["code_challenge"], self.user
            )
        target = (
            query["redirect_uri"]
            + "?"
            + urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        )
        return 302, {"Location": target}, b""

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                code = self._codes.pop(form.get("code", ""), None)
            if code is None or code.redirect_uri != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if digest.decode() != code.challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE failed"}
            return 200, self._issue(code.user, new_refresh=True)
        if grant == "refresh_token":
            with self._lock:
                user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "revoked"}
            return 200, self._issue(user, new_refresh=False)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self._lock:
                device = self._devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, {"error": "expired_token"}
                device.polls += 1
                polls = device.polls
            if polls <= self.device_pending_polls:
                return 400, {"error": "authorization_pending"}
            if self.device_slow_down and polls == self.device_pending_polls + 1:
                return 400, {"error": "slow_down"}
            with self._lock:
                self._devices.pop(form["device_code"], None)
            return 200, self._issue(device.user, new_refresh=True)
        return 400, {"error": "unsupported_grant_type"}

    def _device(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        code = "dc-" + secrets.token_urlsafe(16)
        with self._lock:
            self._devices[code] = _Device(self.user)
        return 200, {
            "device_code": code,
            "user_code": "WDJB-MJHT",
            "verification_uri": f"{self.https_url}/device-login",
            "expires_in": 900,
            "interval": self.device_interval,
        }

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            entry = self.access_tokens.get(form.get("token", ""))
        if entry is None or entry[1] < time.time():
            return 200, {"active": False}
        return 200, {"active": True, "username": entry[0]}

    def _revoke(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            self.refresh_tokens.pop(form.get("token", ""), None)
            self.access_tokens.pop(form.get("token", ""), None)
        return 200, {}

    def _issue(self, user: str, *, new_refresh: bool) -> dict[str, object]:
        access = "at-" + secrets.token_urlsafe(self.access_token_bytes)
        answer: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
        }
        with self._lock:
            self.access_tokens[access] = (user, time.time() + self.access_lifetime)
        if new_refresh:
            answer["refresh_token"] = self.issue_refresh_token(user)
        return answer

    # --- plumbing -------------------------------------------------------------------------------
    def _listen(self, context: ssl.SSLContext | None) -> ThreadingHTTPServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                server.requests.append((parts.path, query))
                if parts.path == "/authorize" and context is not None:
                    status, headers, body = server._authorize(query)
                    self._send(status, headers, body)
                else:
                    self._send(404, {}, b"not here")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                path = urllib.parse.urlsplit(self.path).path
                server.requests.append((path, form))
                routes = (
                    {"/token": server._token, "/device": server._device, "/revoke": server._revoke}
                    if context is not None
                    else {"/introspect": server._introspect}
                )
                if path not in routes:
                    self._send(404, {}, b"not here")
                    return
                status, answer = routes[path](form)
                self._send(
                    status, {"Content-Type": "application/json"}, json.dumps(answer).encode()
                )

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        if context is not None:
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._servers.append(httpd)
        self._threads.append(thread)
        return httpd
