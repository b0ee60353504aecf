"""The MX hosts of a domain, through dnspython (the system's resolver, or the given one)."""

from __future__ import annotations

from collections.abc import Sequence


def mx_hosts(
    domain: str,
    *,
    nameservers: Sequence[str] | None = None,
    port: int = 53,
    timeout: float = 5.0,
) -> list[str]:
    """The MX host names of `domain`, best (lowest preference) first; [] when there are none.
    Uses the system's resolver configuration unless `nameservers` is given."""
    import dns.exception
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            resolver.nameservers = list(nameservers)
            resolver.port = port
        resolver.lifetime = timeout
        answer = resolver.resolve(domain, "MX")
    except (dns.exception.DNSException, OSError):
        return []
    records = sorted(answer, key=lambda r: r.preference)
    hosts = [str(r.exchange).rstrip(".").lower() for r in records]
    return [h for h in hosts if h]  # "." means "no mail here" (RFC 7505)
