"""SASL for mail logins: which mechanism to use, and the exact strings a client sends.

- Password logins: PLAIN (RFC 4616: NUL user NUL password, UTF-8) and LOGIN (the password in
  base64); `password_mechanism()` picks one of the SMTP AUTH mechanisms offered.
- OAuth2 logins: OAUTHBEARER (RFC 7628) when offered, else XOAUTH2 (Google's format);
  `oauth_response()` builds the initial response, `sasl_error_text()` reads a failure challenge.
- `SaslOnce` answers an imaplib AUTHENTICATE exchange with one initial response.

Every response built here holds a secret: it is registered with `tuimail.core.log` for
redaction, raw and in base64, before it can reach a wire log. The connections themselves are
`tuimail.sync.connection`'s; the password or token comes from `tuimail.auth.credentials`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from tuimail.core.log import register_secret
from tuimail.core.tls import printable_line

# SMTP AUTH mechanisms for a password, in order of preference (aiosmtplib's names).
PASSWORD_MECHANISMS = ("plain", "login", "cram-md5")
# OAuth2 mechanisms, in order of preference.
OAUTH_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")


def password_mechanism(offered: Iterable[str]) -> str | None:
    """The SMTP AUTH mechanism to use for a password among those `offered`; None when none of
    PASSWORD_MECHANISMS is. Only one is tried: a wrong password must not count twice towards a
    lockout."""
    names = set(offered)
    return next((m for m in PASSWORD_MECHANISMS if m in names), None)


def oauth_mechanism(offered: Iterable[str]) -> str | None:
    """OAUTHBEARER (RFC 7628) when offered, else XOAUTH2; None when neither is."""
    names = {name.upper() for name in offered}
    return next((m for m in OAUTH_MECHANISMS if m in names), None)


def plain_response(username: str, password: str) -> bytes:
    """The SASL PLAIN response as sent on the wire (base64 of NUL user NUL password),
    registered for redaction."""
    blob = base64.b64encode(b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8"))
    register_secret(blob)
    return blob


def login_response(password: str) -> bytes:
    """The SASL LOGIN answer that carries the password (its base64), registered for
    redaction."""
    blob = base64.b64encode(password.encode("utf-8"))
    register_secret(blob)
    return blob


def xoauth2_response(username: str, token: str) -> bytes:
    """The XOAUTH2 initial client response (Google's format), before base64."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer_response(username: str, token: str, host: str, port: int) -> bytes:
    """The OAUTHBEARER initial client response (RFC 7628 §3.1), before base64."""
    # RFC 5801 §4: in the GS2 header "," and "=" of the authzid are escaped.
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def oauth_response(mechanism: str, username: str, token: str, host: str, port: int) -> bytes:
    """The initial response for `mechanism` (OAUTHBEARER or XOAUTH2), before base64; registered
    for redaction raw and in base64."""
    if mechanism == "OAUTHBEARER":
        response = oauthbearer_response(username, token, host, port)
    else:
        response = xoauth2_response(username, token)
    register_secret(response)
    register_secret(base64.b64encode(response))
    return response


def sasl_error_text(challenge: bytes) -> str:
    """What a server's failure challenge (base64 JSON: status, scope) says, without tokens."""
    try:
        data = json.loads(base64.b64decode(challenge, validate=True))
    except (ValueError, TypeError):
        return "the server refused the token"
    if not isinstance(data, dict):
        return "the server refused the token"
    status = printable_line(str(data.get("status", "")))
    return f"the server refused the token (status {status})" if status else "the token was refused"


class SaslOnce:
    """An imaplib SASL callback: the initial response, then an empty answer to a failure
    challenge (whose JSON is kept in `error`, in words, never logged raw)."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.sent = False
        self.error: str | None = None

    def __call__(self, challenge: bytes) -> bytes:
        """The answer to the server's next challenge."""
        if not self.sent:
            self.sent = True
            return self.response
        # imaplib hands over the challenge already decoded from base64.
        self.error = sasl_error_text(base64.b64encode(challenge))
        return b""
