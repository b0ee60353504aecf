"""OAuth 2.0 for mail: the authorization flows and token refresh.

An account with `auth = "oauth2"` logs in with an access token instead of a password. The
refresh token that gets new access tokens lives in the keyring entry `ACCOUNT/oauth`
(`tuimail.auth.secrets` owns the keyring); access tokens live only in this process's memory.

- Flows (`authorize`): authorization code with PKCE (RFC 7636, S256) and a loopback redirect
  (RFC 8252: a one-request HTTP listener on 127.0.0.1, random port) when a browser is at hand; the
  same flow where the user pastes the redirect URL back ("paste", for a machine without a
  browser: the browser elsewhere shows an error page whose address holds the code); or the device
  authorization grant (RFC 8628: a code typed on another device, polled for).
- `access_token(account)` hands out a cached token, refreshed (RFC 6749 §6) a minute before it
  expires; `forget_access_token()` drops one the server refused, so the next call refreshes.
  A refused refresh token (`invalid_grant`) raises `AuthorizationNeeded`, which tells the user to
  run `tuimail accounts authorize NAME`.
- Requests use only the standard library (urllib + json) with verified TLS
  (`tuimail.core.tls.make_ssl_context`, plus the account's `ca_file`). Plain http is accepted only
  for loopback hosts (the config enforces it).
- Every token is registered with `tuimail.core.log` for redaction the moment it is seen.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import logging
import secrets as random_secrets
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tuimail.auth.secrets import (
    SecretError,
    get_refresh_token,
    run_password_command,
    set_refresh_token,
)
from tuimail.config.schema import AccountConfig, OAuth2Config
from tuimail.core.log import register_secret

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 30.0  # seconds, for each request to the authorization server
REFRESH_MARGIN = 60.0  # seconds before expiry at which an access token is refreshed
DEFAULT_LIFETIME = 3600.0  # seconds, when the token response names no expires_in
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FLOWS = ("browser", "paste", "device")


class OAuthError(SecretError):
    """An authorization step failed; the message says what to do (never holds a token)."""


class AuthorizationNeeded(OAuthError):
    """There is no usable refresh token: the user has to go through the flow again."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Where an authorization server's endpoints are, and what to ask it for."""

    name: str
    auth_url: str
    token_url: str
    device_url: str | None
    scopes: tuple[str, ...]
    # Extra parameters of the authorization request (Google: offline access, always consent).
    auth_params: tuple[tuple[str, str], ...] = ()
    redirect_host: str = "127.0.0.1"


GOOGLE = Provider(
    name="google",
    auth_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL, not a password
    # Google's device flow does not allow the Gmail scope, so there is none for mail.
    device_url=None,
    scopes=("https://mail.google.com/",),
    # Without these Google issues no refresh token on a second authorization.
    auth_params=(("access_type", "offline"), ("prompt", "consent")),
)
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
MICROSOFT_BASE = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"


def microsoft(tenant: str = "common") -> Provider:
    """The Microsoft identity platform (Outlook.com, Microsoft 365) for `tenant`."""
    base = MICROSOFT_BASE.format(tenant=urllib.parse.quote(tenant, safe=""))
    return Provider(
        name="microsoft",
        auth_url=f"{base}/authorize",
        token_url=f"{base}/token",
        device_url=f"{base}/devicecode",
        scopes=MICROSOFT_SCOPES,
        redirect_host="localhost",  # what Azure accepts for a "mobile and desktop" redirect
    )


def provider_for(settings: OAuth2Config) -> Provider:
    """The provider an account's [oauth2] table describes (a preset, or the custom endpoints)."""
    if settings.provider == "google":
        preset = GOOGLE
    elif settings.provider == "microsoft":
        preset = microsoft(settings.tenant)
    else:
        assert settings.auth_url and settings.token_url  # the config requires them for custom
        return Provider(
            name="custom",
            auth_url=settings.auth_url,
            token_url=settings.token_url,
            device_url=settings.device_url,
            scopes=settings.scopes,
        )
    # Any endpoint or scope the table names replaces the preset's.
    return Provider(
        name=preset.name,
        auth_url=settings.auth_url or preset.auth_url,
        token_url=settings.token_url or preset.token_url,
        device_url=settings.device_url or preset.device_url,
        scopes=settings.scopes or preset.scopes,
        auth_params=preset.auth_params,
        redirect_host=preset.redirect_host,
    )


@dataclass(frozen=True, slots=True)
class Tokens:
    """A token response: the access token, when it expires (time.time()), a refresh token."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None


# --- PKCE, state, the authorization URL ----------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636 §4.1, §4.2)."""
    verifier = random_secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorization_url(
    provider: Provider,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    login_hint: str | None = None,
) -> str:
    """The URL the user opens to authorize (RFC 6749 §4.1.1 with PKCE)."""
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", " ".join(provider.scopes)),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        *provider.auth_params,
    ]
    if login_hint:
        params.append(("login_hint", login_hint))
    separator = "&" if "?" in provider.auth_url else "?"
    return provider.auth_url + separator + urllib.parse.urlencode(params)


def code_from_redirect(url: str, expected_state: str) -> str:
    """The authorization code from the redirect URL the browser was sent to.

    Refuses a URL whose state is not ours (a forged redirect, RFC 6749 §10.12) and one that
    carries an error instead of a code.
    """
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url.strip()).query)
    state = query.get("state", [""])[0]
    if not random_secrets.compare_digest(state.encode(), expected_state.encode()):
        raise OAuthError(
            "the redirect does not belong to this authorization (its state does not match); "
            "start again"
        )
    if "error" in query:
        error = _printable(query["error"][0])
        detail = _printable(query.get("error_description", [""])[0])
        raise OAuthError(f"the authorization was not granted: {error} {detail}".rstrip())
    code = query.get("code", [""])[0]
    if not code:
        raise OAuthError("the redirect URL holds no authorization code")
    register_secret(code)
    return code


def redirect_uri(provider: Provider, port: int | None) -> str:
    """The loopback redirect URI (RFC 8252 §7.3); `port` None for the paste flow."""
    return f"http://{provider.redirect_host}" + (f":{port}/" if port else "/")


# --- the token endpoint -------------------------------------------------------------------------


class TokenClient:
    """Requests to one provider's token and device endpoints for one client id."""

    def __init__(
        self,
        provider: Provider,
        client_id: str,
        client_secret: str | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        self.provider = provider
        self.client_id = client_id
        self.client_secret = client_secret
        self.ssl_context = ssl_context
        self.timeout = timeout
        if client_secret:
            register_secret(client_secret)

    def code_request(self, code: str, verifier: str, redirect: str) -> dict[str, str]:
        """The form of the authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        return self._with_client(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            }
        )

    def refresh_request(self, refresh_token: str) -> dict[str, str]:
        """The form of the refresh grant (RFC 6749 §6)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self.provider.name == "microsoft":
            # Microsoft wants the scopes again; Google refuses nothing but needs none.
            form["scope"] = " ".join(self.provider.scopes)
        return self._with_client(form)

    def exchange_code(self, code: str, verifier: str, redirect: str) -> Tokens:
        """Trade an authorization code for tokens."""
        return self._tokens(
            self._post(self.provider.token_url, self.code_request(code, verifier, redirect))
        )

    def refresh(self, refresh_token: str) -> Tokens:
        """A new access token (and maybe a new refresh token). AuthorizationNeeded when the
        server refuses the refresh token (revoked or expired)."""
        register_secret(refresh_token)
        try:
            answer = self._post(self.provider.token_url, self.refresh_request(refresh_token))
        except _ErrorAnswer as error:
            if error.code == "invalid_grant":
                raise AuthorizationNeeded("the authorization was revoked or expired") from None
            raise OAuthError(error.describe("refreshing the access token")) from None
        return self._tokens(answer)

    def device_flow(
        self,
        show: Callable[[str, str], None],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Tokens:
        """RFC 8628: ask for a user code, `show(verification_uri, user_code)`, poll for tokens."""
        if not self.provider.device_url:
            raise OAuthError(
                f"the provider {self.provider.name!r} has no device flow for mail; "
                'use flow = "paste" instead'
            )
        form = self._with_client({"scope": " ".join(self.provider.scopes)}, secret=False)
        try:
            answer = self._post(self.provider.device_url, form)
        except _ErrorAnswer as error:
            raise OAuthError(error.describe("asking for a device code")) from None
        device_code = str(answer.get("device_code", ""))
        user_code = str(answer.get("user_code", ""))
        # Google spells it verification_url.
        uri = str(answer.get("verification_uri") or answer.get("verification_url") or "")
        if not device_code or not user_code or not uri:
            raise OAuthError("the device authorization answer is incomplete")
        register_secret(device_code)
        interval = _number(answer.get("interval"), 5.0)
        deadline = clock() + _number(answer.get("expires_in"), 900.0)
        show(uri, user_code)
        poll = self._with_client({"grant_type": DEVICE_GRANT, "device_code": device_code})
        while True:
            if clock() >= deadline:
                raise OAuthError("the code expired before it was entered; start again")
            sleep(interval)
            try:
                return self._tokens(self._post(self.provider.token_url, poll))
            except _ErrorAnswer as error:
                if error.code == "authorization_pending":
                    continue
                if error.code == "slow_down":
                    interval += 5.0  # RFC 8628 §3.5
                    continue
                if error.code == "expired_token":
                    raise OAuthError(
                        "the code expired before it was entered; start again"
                    ) from None
                if error.code == "access_denied":
                    raise OAuthError("the authorization was declined") from None
                raise OAuthError(error.describe("waiting for the authorization")) from None

    def _with_client(self, form: dict[str, str], *, secret: bool = True) -> dict[str, str]:
        form = {**form, "client_id": self.client_id}
        if secret and self.client_secret:
            form["client_secret"] = self.client_secret
        return form

    def _post(self, url: str, form: Mapping[str, str]) -> dict[str, object]:
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):  # config: http on loopback
            raise OAuthError(f"not an http(s) URL: {_printable(url)}")
        body = urllib.parse.urlencode(form).encode("ascii")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        log.debug("OAuth request to %s (%s)", _printable(url), form.get("grant_type", "device"))
        try:
            with urllib.request.urlopen(  # noqa: S310 - the URL is https, or http on loopback
                request, timeout=self.timeout, context=self.ssl_context
            ) as response:
                raw = response.read(1_000_000)
        except urllib.error.HTTPError as exc:
            raw = exc.read(100_000)
            raise _ErrorAnswer(exc.code, _json_object(raw)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            raise OAuthError(
                f"cannot reach the authorization server {_host(url)}: {_printable(str(reason))}"
            ) from None
        except (OSError, ValueError) as exc:
            raise OAuthError(
                f"cannot reach the authorization server {_host(url)}: {_printable(str(exc))}"
            ) from None
        answer = _json_object(raw)
        if answer is None:
            raise OAuthError(f"the authorization server {_host(url)} did not answer with JSON")
        if "error" in answer:  # some servers answer errors with 200
            raise _ErrorAnswer(200, answer)
        return answer

    def _tokens(self, answer: Mapping[str, object]) -> Tokens:
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise OAuthError("the token answer holds no access token")
        register_secret(access)
        refresh = answer.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            register_secret(refresh)
        else:
            refresh = None
        lifetime = _number(answer.get("expires_in"), DEFAULT_LIFETIME)
        return Tokens(access, time.time() + lifetime, refresh)


class _ErrorAnswer(Exception):
    """An error answer of the token endpoint (RFC 6749 §5.2)."""

    def __init__(self, status: int, answer: Mapping[str, object] | None) -> None:
        self.status = status
        self.code = str((answer or {}).get("error", ""))
        self.description = str((answer or {}).get("error_description", ""))
        super().__init__(self.code)

    def describe(self, doing: str) -> str:
        what = self.code or f"HTTP status {self.status}"
        detail = f": {_printable(self.description)}" if self.description else ""
        return f"the authorization server refused {doing} ({_printable(what)}){detail}"


def _json_object(raw: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return number if number >= 0 else default


def _printable(text: str, limit: int = 200) -> str:
    from tuimail.core.tls import printable_line

    return printable_line(text, limit)


def _host(url: str) -> str:
    return _printable(urllib.parse.urlsplit(url).netloc)


# --- the loopback redirect listener -------------------------------------------------------------

_DONE_PAGE = (
    b"<!doctype html><title>tuimail</title><p>tuimail has the authorization. "
    b"You can close this window.</p>"
)


class LoopbackReceiver:
    """A one-shot HTTP listener on 127.0.0.1 (random port) that waits for the redirect.

    Use as a context manager; `port` is known once entered, `wait()` returns the URL the browser
    was sent to (path and query, with the redirect's host).
    """

    def __init__(self, host_name: str = "127.0.0.1") -> None:
        self._host_name = host_name
        self._received: str | None = None
        self._event = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.urlsplit(self.path).query
                if "state=" not in query:  # a favicon or a stray request
                    self.send_error(404)
                    return
                receiver._received = f"http://{receiver._host_name}:{receiver.port}{self.path}"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_DONE_PAGE)))
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                receiver._event.set()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request holds the code: never logged

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="oauth-redirect",
            daemon=True,
        )

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> str:
        """The redirect URL; OAuthError when none came within `timeout` seconds."""
        if not self._event.wait(timeout):
            raise OAuthError(
                f"no answer from the browser within {timeout:.0f} s; try again, or use --flow paste"
            )
        assert self._received is not None
        return self._received


# --- flows and the account's tokens -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowUi:
    """How a flow talks to the user (the CLI prints and reads; tests act as browser and user).

    `open_browser(url) -> bool` opens the authorization page (False: could not);
    `show(text)` tells the user something; `ask(prompt) -> str` reads one line.
    """

    open_browser: Callable[[str], bool]
    show: Callable[[str], None]
    ask: Callable[[str], str]


BROWSER_TIMEOUT = 300.0  # seconds the loopback listener waits for the browser


def token_client(
    account: AccountConfig, *, ssl_context: ssl.SSLContext | None = None
) -> TokenClient:
    """The TokenClient for `account`'s [oauth2] table (its secret read now, if any)."""
    settings = _settings(account)
    secret = settings.client_secret
    if settings.client_secret_command:
        where = f"accounts.{account.name}.oauth2.client_secret_command"
        secret = run_password_command(settings.client_secret_command, where)
    if ssl_context is None:
        from tuimail.core.tls import make_ssl_context

        ssl_context = make_ssl_context(account.ca_file)
    return TokenClient(provider_for(settings), settings.client_id, secret, ssl_context=ssl_context)


def authorize(
    account: AccountConfig,
    ui: FlowUi,
    *,
    flow: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    browser_timeout: float = BROWSER_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> Tokens:
    """Run the authorization flow for `account`, store the refresh token, cache the access token.

    `flow` is "browser", "paste" or "device" (default: the account's `flow`). Raises OAuthError.
    """
    settings = _settings(account)
    flow = flow or settings.flow
    if flow not in FLOWS:
        raise OAuthError(f"unknown flow {flow!r}; use one of {', '.join(FLOWS)}")
    client = token_client(account, ssl_context=ssl_context)
    if flow == "device":

        def show_code(uri: str, code: str) -> None:
            ui.show(f"Open {uri} on any device and enter the code {code}")

        tokens = client.device_flow(show_code, sleep=sleep)
    else:
        tokens = _code_flow(client, account, ui, paste=flow == "paste", timeout=browser_timeout)
    if not tokens.refresh_token:
        raise OAuthError(
            "the provider issued no refresh token, so tuimail could not log in again later "
            "(for Microsoft, the scopes need offline_access)"
        )
    set_refresh_token(account.name, tokens.refresh_token)
    _cache[account.name] = tokens
    return tokens


def _code_flow(
    client: TokenClient, account: AccountConfig, ui: FlowUi, *, paste: bool, timeout: float
) -> Tokens:
    provider = client.provider
    verifier, challenge = pkce_pair()
    state = random_secrets.token_urlsafe(24)
    if paste:
        redirect = redirect_uri(provider, None)
        url = authorization_url(
            provider,
            client_id=client.client_id,
            redirect_uri=redirect,
            state=state,
            challenge=challenge,
            login_hint=account.address,
        )
        ui.show(
            "Open this address in a browser, allow access, and copy the address of the page "
            f"it ends on (it will not load; that is expected):\n\n{url}\n"
        )
        pasted = ui.ask("Address of the page it ended on: ")
        code = code_from_redirect(pasted, state)
    else:
        with LoopbackReceiver(provider.redirect_host) as receiver:
            redirect = redirect_uri(provider, receiver.port)
            url = authorization_url(
                provider,
                client_id=client.client_id,
                redirect_uri=redirect,
                state=state,
                challenge=challenge,
                login_hint=account.address,
            )
            if not ui.open_browser(url):
                ui.show(f"Open this address in a browser to allow access:\n\n{url}\n")
            else:
                ui.show("Waiting for the browser (allow access there)...")
            code = code_from_redirect(receiver.wait(timeout), state)
    return client.exchange_code(code, verifier, redirect)


# Access tokens of this process: account name -> Tokens. Never written anywhere.
_cache: dict[str, Tokens] = {}
_cache_lock = threading.Lock()


def access_token(
    account: AccountConfig,
    *,
    ssl_context: ssl.SSLContext | None = None,
    now: Callable[[], float] = time.time,
) -> str:
    """A valid access token for `account`: the cached one, or a refreshed one.

    Raises AuthorizationNeeded (no refresh token, or the server refused it) with a message that
    says to run `tuimail accounts authorize NAME`, or OAuthError for other failures.
    """
    with _cache_lock:  # one refresh at a time: parallel refreshes could rotate each other out
        cached = _cache.get(account.name)
        if cached is not None and cached.expires_at - REFRESH_MARGIN > now():
            return cached.access_token
        refresh_token = get_refresh_token(account.name)
        if not refresh_token:
            raise AuthorizationNeeded(_needed(account.name, "tuimail has no authorization"))
        client = token_client(account, ssl_context=ssl_context)
        try:
            tokens = client.refresh(refresh_token)
        except AuthorizationNeeded:
            raise AuthorizationNeeded(
                _needed(account.name, "the authorization was revoked or expired")
            ) from None
        if tokens.refresh_token and tokens.refresh_token != refresh_token:
            set_refresh_token(account.name, tokens.refresh_token)  # rotated (Microsoft does)
        _cache[account.name] = tokens
        log.debug("access token for %s refreshed", account.name)
        return tokens.access_token


def forget_access_token(token: str) -> None:
    """Drop `token` from the cache (a server refused it), so the next call refreshes."""
    with _cache_lock:
        for name, tokens in list(_cache.items()):
            if tokens.access_token == token:
                del _cache[name]


def _needed(name: str, what: str) -> str:
    return f"account {name!r}: {what}: run `tuimail accounts authorize {name}`"


def _settings(account: AccountConfig) -> OAuth2Config:
    if account.oauth2 is None:
        raise OAuthError(f'account {account.name!r} does not use auth = "oauth2"')
    return account.oauth2
