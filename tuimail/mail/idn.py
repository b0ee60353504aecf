"""Internationalized addresses on the wire: IDNA domains and non-ASCII local parts.

A domain with non-ASCII characters goes into the SMTP envelope (and into the headers tuimail
writes) as IDNA 2008 A-labels ("exämple.org" -> "xn--exmple-cua.org"), with the UTS #46 mapping
that makes "EXÄMPLE.org" the same name. A local part (before the "@") has no ASCII form: an
address with a non-ASCII local part can only be sent with SMTPUTF8 (RFC 6531), in a message
whose headers carry it as UTF-8 (RFC 6532).
"""

from __future__ import annotations

import idna


class AddressEncodingError(ValueError):
    """An address whose domain is not a valid (internationalized) domain name."""


def ascii_domain(domain: str) -> str:
    """`domain` as the DNS knows it: A-labels for non-ASCII labels, ASCII names unchanged.

    Raises AddressEncodingError for a name IDNA 2008 does not allow.
    """
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressEncodingError(
            f"the domain {domain!r} is not a valid internationalized domain name"
        ) from exc


def envelope_address(address: str) -> str:
    """`address` (local@domain) with its domain as A-labels: the form for MAIL FROM / RCPT TO.

    The local part is kept as it is (see `needs_smtputf8`). An address without "@" is returned
    unchanged. Raises AddressEncodingError for a domain that cannot be encoded.
    """
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{ascii_domain(domain)}"


def needs_smtputf8(address: str) -> bool:
    """True when `address` cannot be written in ASCII: its local part has non-ASCII characters
    (a non-ASCII domain has its A-label form)."""
    local, at, _domain = address.rpartition("@")
    return not (local if at else address).isascii()


def smtputf8_refusal(addresses: list[str], server: str) -> str:
    """Why a message to or from `addresses` (those needing SMTPUTF8) cannot go through `server`,
    in words for the outbox, the composer and `tuimail send`."""
    which = ", ".join(addresses)
    verb = "have" if len(addresses) > 1 else "has"
    return (
        f"{which} {verb} non-ASCII characters before the @, which only a server that offers "
        f"SMTPUTF8 (RFC 6531) can carry, and {server} does not offer it"
    )
