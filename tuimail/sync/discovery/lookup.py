"""Find an account's server settings from its address, the way Thunderbird does.

For alice@example.com the sources are tried in Thunderbird's order, and the first that answers
wins:

1. the provider's own file: ``https://autoconfig.example.com/mail/config-v1.1.xml`` and
   ``https://example.com/.well-known/autoconfig/mail/config-v1.1.xml`` (both with
   ``?emailaddress=``), then the same two over plain ``http://`` (without the address; a result
   from there is marked as fetched insecurely, since anyone on the way could have changed it);
2. the Thunderbird ISPDB, ``https://autoconfig.thunderbird.net/v1.1/example.com``;
3. the domain's MX host: its registrable domain (aspmx.l.google.com -> google.com) in the ISPDB;
4. guesses (imap./pop3./pop./smtp./mail. and the domain itself, implicit TLS and STARTTLS ports),
   each probed: connect, read the greeting and capabilities, and for STARTTLS do the upgrade,
   all with certificate verification and a short timeout.

The files (Thunderbird's clientConfig v1.1 XML) are fetched and parsed by `ispdb`, the MX
hosts come from `mx`, the guesses are probed by `probe`; what is found is a
`tuimail.config.discovered.Autoconfig`. Everything that reaches the network goes through
`Network`, so tests can point the well-known host names at loopback servers and answer DNS from
a local resolver.
"""

from __future__ import annotations

import concurrent.futures
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from tuimail.config.discovered import Autoconfig, AutoconfigError, ServerSetting, SourceKind, rank
from tuimail.core.model import Protocol
from tuimail.core.tls import make_ssl_context
from tuimail.mail.sanitize import sanitize_line
from tuimail.sync.discovery.ispdb import FetchError, fetch, parse_client_config
from tuimail.sync.discovery.mx import mx_hosts
from tuimail.sync.discovery.names import registrable_domain, split_address, valid_host
from tuimail.sync.discovery.network import Network
from tuimail.sync.discovery.probe import guess as guess_servers


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: SourceKind
    url: str

    @property
    def insecure(self) -> bool:
        return self.url.startswith("http:")


def candidate_urls(address: str, network: Network | None = None) -> list[_Candidate]:
    """The files to try for `address`, best first (Thunderbird's order)."""
    network = network or Network()
    _, domain = split_address(address)
    query = urllib.parse.urlencode({"emailaddress": address.strip()})
    isp = f"autoconfig.{domain}/mail/config-v1.1.xml"
    well_known = f"{domain}/.well-known/autoconfig/mail/config-v1.1.xml"
    return [
        _Candidate(SourceKind.ISP, f"https://{isp}?{query}"),
        _Candidate(SourceKind.WELL_KNOWN, f"https://{well_known}?{query}"),
        # Over plain http the address is not sent: anyone on the way could read it.
        _Candidate(SourceKind.ISP, f"http://{isp}"),
        _Candidate(SourceKind.WELL_KNOWN, f"http://{well_known}"),
        _Candidate(SourceKind.ISPDB, network.ispdb_url + domain),
    ]


def lookup(
    address: str,
    network: Network | None = None,
    progress: Callable[[str], None] = lambda line: None,
    *,
    guess: bool = True,
) -> Autoconfig:
    """Find the settings for `address` (see the module's docstring for the order). `progress` is
    called with one line per source, in the calling thread. Raises AutoconfigError only when the
    address is not one; a lookup that finds nothing returns an Autoconfig with `found` False."""
    network = network or Network()
    address = address.strip()
    _, domain = split_address(address)
    try:
        make_ssl_context(network.ca_file)
    except OSError as exc:  # ssl.SSLError too: not a certificate file
        raise AutoconfigError(f"the CA file {network.ca_file} cannot be used: {exc}") from None
    tried: list[str] = []

    def report(line: str) -> None:
        line = sanitize_line(line)
        tried.append(line)
        progress(line)

    found = _first_file(address, candidate_urls(address, network), network, report)
    if found is None:
        found = _via_mx(address, domain, network, report)
    if found is None and guess:
        answered = guess_servers(address, domain, network, report)
        if answered:
            found = _result(address, SourceKind.GUESS, "", False, "", answered)
    result = found or Autoconfig(address)
    return replace(result, tried=tuple(tried))


def _first_file(
    address: str,
    candidates: Sequence[_Candidate],
    network: Network,
    report: Callable[[str], None],
) -> Autoconfig | None:
    """Fetch every candidate at once; the best one that gives a usable file wins."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(candidates) or 1)
    try:
        futures = [pool.submit(fetch, c.url, network) for c in candidates]
        for candidate, future in zip(candidates, futures, strict=True):
            shown = candidate.url.split("?", 1)[0]
            try:
                data = future.result()
                provider, servers, notes = parse_client_config(data, address)
            except (FetchError, AutoconfigError) as exc:
                report(f"{shown}: {exc}")
                continue
            except ET.ParseError as exc:
                report(f"{shown}: not a usable file ({exc})")
                continue
            for note in notes:
                report(f"{shown}: {note}")
            if not servers:
                report(f"{shown}: no usable server in the file")
                continue
            report(
                f"{shown}: found"
                + (" (fetched over unencrypted HTTP)" if candidate.insecure else "")
            )
            return _result(address, candidate.kind, shown, candidate.insecure, provider, servers)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return None


def _result(
    address: str,
    kind: SourceKind,
    url: str,
    insecure: bool,
    provider: str,
    servers: Iterable[ServerSetting],
) -> Autoconfig:
    servers = list(servers)
    return Autoconfig(
        address=address,
        source=kind,
        source_url=url,
        insecure_source=insecure,
        provider=provider,
        incoming=rank(s for s in servers if s.protocol is not Protocol.SMTP),
        outgoing=rank(s for s in servers if s.protocol is Protocol.SMTP),
    )


def _via_mx(
    address: str, domain: str, network: Network, report: Callable[[str], None]
) -> Autoconfig | None:
    lookup_mx = network.mx_lookup or mx_hosts
    hosts = [h for h in (valid_host(h) for h in lookup_mx(domain)) if h]
    if not hosts:
        report(f"MX of {domain}: none found")
        return None
    base = registrable_domain(hosts[0])
    if base == domain:
        report(f"MX of {domain}: {hosts[0]}, in the same domain (ISPDB already asked)")
        return None
    report(f"MX of {domain}: {hosts[0]}, so asking the ISPDB for {base}")
    found = _first_file(
        address, [_Candidate(SourceKind.MX, network.ispdb_url + base)], network, report
    )
    return found
