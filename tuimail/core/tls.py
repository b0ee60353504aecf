"""TLS for every connection tuimail makes: the one place SSL contexts are made.

`make_ssl_context()` gives a context that verifies the certificate chain against the system trust
store (plus the account's optional `ca_file`), checks the host name and refuses anything older
than TLS 1.2. The system store is read from its hashed directory when that holds the whole store
(`system_trust`): OpenSSL then reads only the certificate a handshake needs, instead of parsing
every certificate of the bundle for each context (tens of milliseconds with OpenSSL 3, most of a
`tuimail sync` that has nothing to do).

`describe_tls_error()` turns a failed handshake into words a user can act on, and
`tls_problem()` sorts it into a small closed set for callers that branch on it.

`make_inspection_context()` exists only to explain a failure after the fact (what names a
certificate is for, when it expired); it never carries credentials or mail.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuimail.core.failure import FailureKind

MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2

# OpenSSL X509_V_FLAG_NO_CHECK_TIME; Python's ssl module has no name for it.
_VERIFY_NO_CHECK_TIME = 0x200000

# OpenSSL X509_V_ERR_* codes (x509_vfy.h) that mean "the chain does not end at a trusted anchor".
_UNTRUSTED_CODES = frozenset(
    {
        2,  # unable to get issuer certificate
        18,  # self-signed certificate
        19,  # self-signed certificate in certificate chain
        20,  # unable to get local issuer certificate
        21,  # unable to verify the first certificate
        24,  # invalid CA certificate
        27,  # certificate not trusted
        28,  # certificate rejected
    }
)
_CODE_NOT_YET_VALID = 9
_CODE_EXPIRED = 10
_HOSTNAME_CODES = frozenset({62, 64})  # host name mismatch, IP address mismatch

# Handshake failures (ssl.SSLError.reason) that mean the server only speaks old TLS/SSL versions.
_OLD_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "WRONG_SSL_VERSION",
    }
)
# ... and those that mean the other side does not speak TLS at all on this port.
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


# A certificate's link in a hashed directory (`openssl rehash`): subject hash, dot, number (CRLs,
# named HASH.rN, are not certificates).
_HASH_LINK = re.compile(r"[0-9a-f]{8}\.[0-9]+")
_PEM_CERTIFICATE = (b"-----BEGIN CERTIFICATE-----", b"-----BEGIN TRUSTED CERTIFICATE-----")


def make_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context: system trust store plus `ca_file`, host name checked, TLS >= 1.2.

    Raises OSError/ssl.SSLError when `ca_file` cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, capath=system_trust())
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    # create_default_context sets these today; state them so a change there cannot weaken us.
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = MINIMUM_TLS_VERSION
    return context


def system_trust() -> str | None:
    """The system's hashed certificate directory when it holds the whole trust store, else None
    (then the default paths are loaded: the bundle file, parsed at once, and the directory).

    OpenSSL's default trust is the bundle file and the hashed directory together. The directory
    alone is read lazily (a certificate when a chain asks for its subject), so it is used alone
    when it has as many certificates as the bundle (Debian's update-ca-certificates writes both
    from one list), or when there is no bundle. Trusting the directory alone never trusts
    more than the default would; a bundle with other certificates (a company's CA added to it
    through SSL_CERT_FILE) makes the counts differ, and then both are loaded as before.
    """
    paths = ssl.get_default_verify_paths()  # SSL_CERT_FILE and SSL_CERT_DIR included
    if paths.capath is None:
        return None
    try:
        links = sum(1 for name in os.listdir(paths.capath) if _HASH_LINK.fullmatch(name))
        if paths.cafile is None:
            return paths.capath if links else None
        with open(paths.cafile, "rb") as bundle:
            data = bundle.read()
    except OSError:
        return None
    certificates = sum(data.count(marker) for marker in _PEM_CERTIFICATE)
    return paths.capath if links and links == certificates else None


def make_inspection_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that reads a trusted server's certificate without checking its dates or names.

    Only for explaining an expired or wrong-name certificate to the user: nothing is ever sent
    over a connection made with it.
    """
    context = make_ssl_context(ca_file)
    context.check_hostname = False
    context.verify_flags |= _VERIFY_NO_CHECK_TIME
    return context


def tls_problem(exc: BaseException) -> FailureKind:
    """Sort a TLS failure into untrusted / expired / wrong host name / other (a TLS_* kind)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == _CODE_EXPIRED:
            return FailureKind.TLS_EXPIRED
        if code in _HOSTNAME_CODES:
            return FailureKind.TLS_HOSTNAME
        if code in _UNTRUSTED_CODES:
            return FailureKind.TLS_UNTRUSTED
    return FailureKind.TLS_OTHER


def certificate_would_explain(exc: BaseException) -> bool:
    """Whether the server's certificate (dates, names) would make `describe_tls_error` clearer."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in (
        _CODE_NOT_YET_VALID,
        _CODE_EXPIRED,
        *_HOSTNAME_CODES,
    )


def describe_tls_error(
    exc: BaseException, *, host: str | None = None, cert: Mapping[str, Any] | None = None
) -> str:
    """Explain a TLS failure in words a user can act on.

    `host` is the name that was connected to; `cert` is the server certificate as returned by
    `SSLSocket.getpeercert()` when it could be read (see `make_inspection_context`), which lets
    the message say when the certificate expired or which names it is for.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _describe_verification(exc, host, cert)
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "TLS handshake failed: the server closed the connection during the handshake"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _OLD_VERSION_REASONS:
            return (
                "TLS handshake failed: the server offers only TLS versions older than 1.2, "
                "which are no longer safe; ask the provider to upgrade the server"
            )
        if reason in _NOT_TLS_REASONS:
            return (
                "TLS handshake failed: the server did not answer with TLS on this port "
                '(check the port, and whether it needs security = "starttls")'
            )
        return f"TLS handshake failed ({reason or printable_line(str(exc))})"
    return f"TLS failed: {printable_line(str(exc)) or type(exc).__name__}"


def _describe_verification(
    exc: ssl.SSLCertVerificationError, host: str | None, cert: Mapping[str, Any] | None
) -> str:
    code = exc.verify_code
    detail = printable_line(exc.verify_message or "")
    if code == _CODE_EXPIRED:
        when = _cert_date(cert, "notAfter")
        return f"certificate expired on {when}" if when else "certificate has expired"
    if code == _CODE_NOT_YET_VALID:
        when = _cert_date(cert, "notBefore")
        since = f" until {when}" if when else " yet"
        return f"certificate is not valid{since} (is this computer's clock right?)"
    if code in _HOSTNAME_CODES:
        names = certificate_names(cert) if cert else []
        wanted = host or "this server"
        if names:
            shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            return f"certificate is for {shown}, not {wanted}"
        return f"certificate is not valid for {wanted}"
    if code in _UNTRUSTED_CODES:
        return (
            "certificate not trusted (self-signed or unknown CA; set ca_file if this is your "
            f"own server): {detail}"
        )
    return f"certificate rejected: {detail or 'verification failed'}"


def certificate_names(cert: Mapping[str, Any]) -> list[str]:
    """The DNS names and IP addresses a certificate is for (falling back to its common name)."""
    names = [
        printable_line(str(value))
        for kind, value in cert.get("subjectAltName", ())
        if kind in ("DNS", "IP Address")
    ]
    if not names:
        for rdn in cert.get("subject", ()):
            names += [printable_line(str(value)) for key, value in rdn if key == "commonName"]
    return [name for name in names if name]


def _cert_date(cert: Mapping[str, Any] | None, field: str) -> str | None:
    if not cert or not isinstance(cert.get(field), str):
        return None
    try:
        seconds = ssl.cert_time_to_seconds(cert[field])
    except ValueError:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def printable_line(text: str, limit: int = 200) -> str:
    """Untrusted text (server replies, certificate names) reduced to one short printable line."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
