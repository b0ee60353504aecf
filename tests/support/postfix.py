"""A private Postfix instance for tests: submission (STARTTLS) and smtps (implicit TLS) on loopback.

Both listeners require TLS before AUTH and authenticate against Dovecot's SASL socket; every
accepted message goes to Dovecot over LMTP, and nothing can leave the machine. The same ports also
listen on the TLS-fault addresses (127.0.0.2 wrong host, 127.0.0.3 expired) and on 127.0.0.4
without TLS (submission only; no smtps listener there). Every listener offers SMTPUTF8 except the
one on 127.0.0.4; besides the users' domain, Postfix takes mail for IDN_DOMAIN.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.ca import CertificateFiles, ServerTLSFiles
from tests.support.dovecot import EXPIRED_HOST, GOOD_HOST, PLAIN_HOST, WRONG_HOST
from tests.support.processes import (
    ServerStartError,
    pid_alive,
    read_pid_file,
    require_root,
    stop_servers,
    tail,
    wait_for_master,
)

POSTFIX = "/usr/sbin/postfix"
# A second mail domain with a non-ASCII name, delivered like the first (Dovecot ignores the
# domain of a recipient): the envelope must carry its A-label form.
IDN_DOMAIN = "exämple.test"
IDN_DOMAIN_ASCII = "xn--exmple-cua.test"
# Mail for this domain is kept as Postfix hands it over, one file per recipient (`sink`): the
# place to see mail to an address with a non-ASCII local part, which Dovecot 2.3 cannot take
# (its LMTP does not offer SMTPUTF8, and it refuses such an address).
SINK_DOMAIN = "bücher.test"
SINK_DOMAIN_ASCII = "xn--bcher-kva.test"
START_TIMEOUT = 30.0

# The services Postfix needs besides the listeners. No chroot, so absolute paths work.
_INTERNAL_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_AUTHENTICATED_ONLY = """\
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=$tuimail_recipient_checks
"""


@dataclass(frozen=True)
class PostfixPorts:
    """The TCP ports of the Postfix instance (the same on every address)."""

    submission: int
    smtps: int


class PostfixServer:
    """A Postfix instance living in ``directory`` (config, queue and data dirs kept apart)."""

    def __init__(
        self,
        directory: Path,
        tls: ServerTLSFiles,
        *,
        ports: PostfixPorts,
        lmtp_port: int,
        sasl_socket: Path,
        domain: str,
    ) -> None:
        self.directory = directory.resolve()
        self.tls = tls
        self.ports = ports
        self.lmtp_port = lmtp_port
        self.sasl_socket = sasl_socket
        self.domain = domain
        self.config_dir = self.directory / "postfix"
        self.queue_dir = self.directory / "postfix-queue"
        self.data_dir = self.directory / "postfix-data"
        self.log_file = self.directory / "log" / "postfix.log"
        self.start_log_file = self.directory / "log" / "postfix-start.log"
        self.recipient_access_file = self.config_dir / "recipient_access"
        self.sink_dir = self.directory / "sink"
        self.pid: int | None = None

    def start(self) -> None:
        """Write main.cf/master.cf, run ``postfix -c DIR start`` and wait for both listeners."""
        require_root("Postfix")
        if not Path(POSTFIX).exists():
            raise ServerStartError(f"{POSTFIX} not found: install postfix")
        # Config, queue and data dirs must be separate; the data dir belongs to postfix.
        for path in (self.config_dir, self.queue_dir, self.data_dir, self.directory / "log"):
            path.mkdir(parents=True, exist_ok=True)
        self.config_dir.chmod(0o755)
        self.queue_dir.chmod(0o755)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.data_dir, postfix_user.pw_uid, postfix_user.pw_gid)
        self.sink_dir.mkdir(exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.sink_dir, nobody.pw_uid, nobody.pw_gid)
        sink_script = self.config_dir / "sink.sh"
        sink_script.write_text(
            f'#!/bin/sh\nexec cat > "$(mktemp {self.sink_dir}/message.XXXXXXXX)"\n'
        )
        sink_script.chmod(0o755)
        (self.config_dir / "main.cf").write_text(self._main_cf())
        (self.config_dir / "master.cf").write_text(self._master_cf())
        self.recipient_access_file.write_text("")
        with open(self.start_log_file, "ab") as start_log:
            result = subprocess.run(
                [POSTFIX, "-c", str(self.config_dir), "start"],
                stdin=subprocess.DEVNULL,
                stdout=start_log,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=False,
            )
        if result.returncode != 0:
            raise ServerStartError(f"Postfix failed to start:\n{self._failure_details()}")
        self.pid = wait_for_master(
            self.queue_dir / "pid" / "master.pid",
            self._listeners(),
            timeout=START_TIMEOUT,
            what=f"Postfix in {self.directory}",
            failure_details=self._failure_details,
        )

    def set_recipient_access(self, replies: dict[str, str]) -> None:
        """Make RCPT TO refuse these addresses with these replies ("450 4.2.0 Try later"),
        and accept every other one again; then reload, so new connections see the table.

        Old smtpd processes may still serve a connection or two with the previous table: wait
        with `wait_for_rcpt_reply` until the change shows.
        """
        lines = "".join(f"{address} {reply}\n" for address, reply in replies.items())
        self.recipient_access_file.write_text(lines)
        self._postfix("reload")

    def sink(self) -> list[bytes]:
        """Every message delivered to SINK_DOMAIN so far, as Postfix handed it over (with
        Return-Path, Delivered-To and X-Original-To: the envelope), oldest first."""
        files = sorted(self.sink_dir.glob("message.*"), key=lambda path: path.stat().st_mtime_ns)
        return [path.read_bytes() for path in files]

    def queue_empty(self) -> bool:
        """True when Postfix holds no message (everything accepted was delivered or bounced)."""
        return "Mail queue is empty" in self._postfix_output("postqueue", "-p")

    def _postfix(self, command: str) -> None:
        subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=True,
        )

    def _postfix_output(self, program: str, *args: str) -> str:
        result = subprocess.run(
            [f"/usr/sbin/{program}", "-c", str(self.config_dir), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return result.stdout + result.stderr

    def stop(self) -> None:
        """Stop the master process by PID (TERM, then KILL after a bounded wait). Idempotent."""
        stop_servers([self])

    def master_pid(self) -> int | None:
        """The master's PID: known since start, or read from Postfix's pid file."""
        return self.pid or read_pid_file(self.queue_dir / "pid" / "master.pid")

    def running(self) -> bool:
        """True while the master process is alive."""
        return self.pid is not None and pid_alive(self.pid)

    def log(self) -> str:
        """Postfix's log so far (start-up output included)."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.start_log_file, self.log_file)
            if path.exists()
        )

    def _listeners(self) -> list[tuple[str, int]]:
        listeners = [(address, self.ports.submission) for address in _ALL_HOSTS]
        listeners += [(address, self.ports.smtps) for address in _TLS_HOSTS]
        return listeners

    def _failure_details(self) -> str:
        return f"{tail(self.start_log_file)}\n{tail(self.log_file)}"

    def _main_cf(self) -> str:
        good = self.tls.good
        return f"""\
# Generated by tests/support/postfix.py: a private instance, started as postfix -c {self.config_dir}
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {self.data_dir}
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
# no syslog here: Postfix writes its own log through the postlog service
maillog_file = {self.log_file}
maillog_file_prefixes = {self.directory}
myhostname = {self.domain}
mydomain = {self.domain}
myorigin = {self.domain}
mydestination = {self.domain}, {IDN_DOMAIN_ASCII}, {SINK_DOMAIN_ASCII}, localhost
transport_maps = inline:{{ {{{SINK_DOMAIN_ASCII} = sink:}} }}
sink_destination_recipient_limit = 1
inet_interfaces = {GOOD_HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
# SMTPUTF8 (RFC 6531) on every listener but the one without TLS (PLAIN_HOST), which is
# the server that does not offer it. Mail that needs it cannot go on to Dovecot's LMTP
# (which does not offer it): send it to SINK_DOMAIN.
smtputf8_enable = yes
# every local recipient goes to Dovecot over LMTP; nothing can leave the machine
local_transport = lmtp:inet:{GOOD_HOST}:{self.lmtp_port}
default_transport = error:outbound delivery is disabled in the test server
relay_transport = error:outbound delivery is disabled in the test server
relay_domains =
message_size_limit = 104857600
smtpd_tls_cert_file = {good.cert}
smtpd_tls_key_file = {good.key}
smtpd_tls_security_level = may
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.sasl_socket}
# recipients refused on demand (set_recipient_access), then the usual: authenticated only
tuimail_recipient_checks = check_recipient_access texthash:{self.recipient_access_file},
 permit_sasl_authenticated, reject
# tests send in bursts from one address
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_error_sleep_time = 0
"""

    def _master_cf(self) -> str:
        submission, smtps = self.ports.submission, self.ports.smtps
        certificates = {
            GOOD_HOST: self.tls.good,
            WRONG_HOST: self.tls.wrong_host,
            EXPIRED_HOST: self.tls.expired,
        }
        entries = ["# service type  private unpriv  chroot  wakeup  maxproc command + args"]
        for address, certificate in certificates.items():
            name = _syslog_suffix(address)
            entries.append(
                f"{address}:{submission} inet n - n - - smtpd\n"
                f"  -o syslog_name=postfix/submission{name}\n"
                "  -o smtpd_tls_security_level=encrypt\n"
                f"{_certificate_options(certificate)}{_AUTHENTICATED_ONLY}"
            )
            entries.append(
                f"{address}:{smtps} inet n - n - - smtpd\n"
                f"  -o syslog_name=postfix/smtps{name}\n"
                "  -o smtpd_tls_wrappermode=yes\n"
                "  -o smtpd_tls_security_level=encrypt\n"
                f"{_certificate_options(certificate)}{_AUTHENTICATED_ONLY}"
            )
        # No TLS at all on the plain address: no STARTTLS, AUTH allowed in the clear (loopback).
        entries.append(
            f"{PLAIN_HOST}:{submission} inet n - n - - smtpd\n"
            f"  -o syslog_name=postfix/submission{_syslog_suffix(PLAIN_HOST)}\n"
            "  -o smtpd_tls_security_level=none\n"
            "  -o smtpd_tls_auth_only=no\n"
            "  -o smtputf8_enable=no\n"
            f"{_AUTHENTICATED_ONLY}"
        )
        entries.append(
            f"sink unix - n n - - pipe\n  flags=DOR user=nobody argv={self.config_dir / 'sink.sh'}"
        )
        return "\n".join(entries) + "\n" + _INTERNAL_SERVICES


_ALL_HOSTS = (GOOD_HOST, WRONG_HOST, EXPIRED_HOST, PLAIN_HOST)
_TLS_HOSTS = (GOOD_HOST, WRONG_HOST, EXPIRED_HOST)


def _syslog_suffix(address: str) -> str:
    return "" if address == GOOD_HOST else "-" + address.rsplit(".", 1)[1]


def _certificate_options(certificate: CertificateFiles) -> str:
    return (
        f"  -o smtpd_tls_cert_file={certificate.cert}\n  -o smtpd_tls_key_file={certificate.key}\n"
    )
