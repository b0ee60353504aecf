"""A throw-away certificate authority for the test mail servers (built on trustme).

One CA signs every certificate the test servers present, so a client that trusts the CA file sees
exactly one fault per server variant:

- ``good``: valid now, for 127.0.0.1 and localhost (CN 127.0.0.1 too, for clients that only match
  the CN or DNS names);
- ``wrong_host``: valid now, but only for ``wrong-host.invalid`` (served on 127.0.0.2);
- ``expired``: for 127.0.0.3 and localhost, but its validity ended a year ago (served on 127.0.0.3).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import trustme

WRONG_HOST_NAME = "wrong-host.invalid"


@dataclass(frozen=True)
class CertificateFiles:
    """PEM files of one server certificate: the certificate (chain) and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ServerTLSFiles:
    """The CA that clients trust, plus one server certificate per variant."""

    ca_file: Path
    good: CertificateFiles
    wrong_host: CertificateFiles
    expired: CertificateFiles


class CertificateAuthority:
    """A test CA that can write its CA certificate and freshly issued server certificates."""

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="tuimail test CA")

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM, the one file clients must trust."""
        return self._ca.cert_pem.bytes()

    def write_server_files(self, directory: Path) -> ServerTLSFiles:
        """Write the CA certificate and the three server certificates into ``directory``.

        Keys are 0600 (read by the servers while still root); certificates are 0644.
        """
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        good = self._ca.issue_cert("127.0.0.1", "localhost", common_name="127.0.0.1")
        wrong = self._ca.issue_cert(WRONG_HOST_NAME, common_name=WRONG_HOST_NAME)
        expired = self._ca.issue_cert(
            "127.0.0.3",
            "localhost",
            common_name="127.0.0.3",
            not_before=now - datetime.timedelta(days=730),
            not_after=now - datetime.timedelta(days=365),
        )
        ca_file = directory / "ca.pem"
        _write(ca_file, self.ca_pem, 0o644)
        return ServerTLSFiles(
            ca_file=ca_file,
            good=_write_leaf(directory, "good", good),
            wrong_host=_write_leaf(directory, "wrong-host", wrong),
            expired=_write_leaf(directory, "expired", expired),
        )


def _write_leaf(directory: Path, name: str, leaf: trustme.LeafCert) -> CertificateFiles:
    cert = directory / f"{name}-cert.pem"
    key = directory / f"{name}-key.pem"
    _write(cert, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    _write(key, leaf.private_key_pem.bytes(), 0o600)
    return CertificateFiles(cert=cert, key=key)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Create with the final mode so a key is never briefly world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
