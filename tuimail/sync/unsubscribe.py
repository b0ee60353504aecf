"""One-click unsubscribe (RFC 8058): one HTTPS POST of `List-Unsubscribe=One-Click` to a
list's List-Unsubscribe address, after the user said yes.

The request carries nothing about the user beyond what the address itself holds: no cookies,
no authorization, no Referer. The certificate is verified (the system's trust store plus the
account's `ca_file`), a redirect is never followed (the POST has been made; where the server
points next is named, not fetched), and the whole exchange has a time limit. The answer is
reported in words (`OneClickResult`); this never raises for a network or server failure.
"""

from __future__ import annotations

import http.client
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tuimail.core.tls import describe_tls_error, make_ssl_context, printable_line

BODY = b"List-Unsubscribe=One-Click"
TIMEOUT = 15.0  # seconds for the connection and each read
MAX_ANSWER_BYTES = 64 * 1024  # of the answer's body read (and then dropped)


@dataclass(frozen=True, slots=True)
class OneClickResult:
    """How the POST went: `ok` when the server accepted it (2xx); `words` for the user."""

    ok: bool
    words: str


def one_click(uri: str, *, ca_file: Path | None = None, timeout: float = TIMEOUT) -> OneClickResult:
    """POST `List-Unsubscribe=One-Click` to the https address `uri` (RFC 8058)."""
    parts = urlsplit(uri)
    host = parts.hostname
    if parts.scheme.lower() != "https" or not host:
        return OneClickResult(False, "Not sent: one-click unsubscribe is only done over https.")
    shown = printable_line(host, 100)
    try:
        port = parts.port or 443
    except ValueError:
        return OneClickResult(False, f"Not sent: the address's port is not a number ({shown}).")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    try:
        context = make_ssl_context(ca_file)
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        try:
            connection.request(
                "POST",
                target,
                body=BODY,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "tuimail",
                },
            )
            answer = connection.getresponse()
            answer.read(MAX_ANSWER_BYTES)
            if time.monotonic() - started > 4 * timeout:  # a server that trickles its answer
                raise TimeoutError
            status, location = answer.status, answer.getheader("Location") or ""
        finally:
            connection.close()
    except ssl.SSLError as exc:
        return OneClickResult(False, f"Not unsubscribed: {describe_tls_error(exc, host=host)}.")
    except TimeoutError:
        return OneClickResult(False, f"Not unsubscribed: {shown} did not answer in time.")
    except (OSError, http.client.HTTPException) as exc:
        why = printable_line(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        return OneClickResult(False, f"Not unsubscribed: {shown} could not be reached ({why}).")
    if 200 <= status < 300:
        return OneClickResult(True, f"Unsubscribed: {shown} accepted the request ({status}).")
    if 300 <= status < 400:
        where = printable_line(location, 100)
        return OneClickResult(
            False,
            f"{shown} answered with a redirect ({status}) to {where or 'another address'}, "
            "which tuimail does not follow: the unsubscribe may not have been done.",
        )
    return OneClickResult(False, f"Not unsubscribed: {shown} refused the request ({status}).")
