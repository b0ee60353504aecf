"""A throw-away Dovecot 2.3 for tests: IMAP, IMAPS, POP3, POP3S and LMTP on loopback.

Everything lives in one directory (config, TLS files, maildirs, logs, sockets); the master process
is started as root and stopped by its PID. Two flavours:

- the full server (``variants=True``) also listens on 127.0.0.2 (certificate for another name),
  127.0.0.3 (expired certificate) and 127.0.0.4 (no TLS at all), same ports;
- a reduced server (``without={...}``) hides chosen IMAP capabilities, so fallback paths of the
  client can be exercised against a real server.

Both compress IMAP connections on request (COMPRESS=DEFLATE, RFC 4978, the imap_zlib plugin),
so the engine's tests run compressed (they ask for it: the default leaves loopback
uncompressed); ``without={"COMPRESS=DEFLATE"}`` leaves the plugin out.
``announce={...}`` adds capabilities the server announces but does not have (its command is
then refused with BAD), for a client's handling of a refusal.

Either can lay out its folders as another server does: ``namespace=CYRUS_NAMESPACE`` puts every
folder under ``INBOX.`` with ``.`` between levels (Cyrus's default, Courier), and
``special_mailboxes`` names the folders every user gets with their special-use flag.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.support.ca import CertificateAuthority, ServerTLSFiles
from tests.support.processes import (
    ServerStartError,
    pick_free_ports,
    pid_alive,
    read_pid_file,
    require_root,
    require_traversable,
    stop_servers,
    tail,
    wait_for_master,
)

DOMAIN = "tuimail.test"
MAIL_OWNER = "nobody"  # owner of every maildir; Dovecot switches to it for mail access
DEFAULT_USERS = {"alice": "alice-Pa55-word", "bob": "bob-Pa55-word"}

GOOD_HOST = "127.0.0.1"
WRONG_HOST = "127.0.0.2"  # certificate for another name
EXPIRED_HOST = "127.0.0.3"  # certificate that expired a year ago
PLAIN_HOST = "127.0.0.4"  # no TLS: no STARTTLS/STLS, implicit-TLS ports not listening
TLS_HOSTS = (GOOD_HOST, WRONG_HOST, EXPIRED_HOST)
VARIANT_HOSTS = (*TLS_HOSTS, PLAIN_HOST)

# Mailboxes every user gets, with their RFC 6154 special-use flag.
SPECIAL_MAILBOXES = {
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}


@dataclass(frozen=True)
class Namespace:
    """The personal namespace: the prefix every folder name but INBOX starts with, and the
    hierarchy separator."""

    prefix: str = ""
    separator: str = "/"


DOVECOT_NAMESPACE = Namespace()
CYRUS_NAMESPACE = Namespace(prefix="INBOX.", separator=".")

# Capabilities a reduced server may hide (each has a fallback path in the client).
HIDEABLE_CAPABILITIES = frozenset(
    {"QRESYNC", "CONDSTORE", "MOVE", "UIDPLUS", "SPECIAL-USE", "COMPRESS=DEFLATE", "NOTIFY"}
)
# Hidden by leaving the imap_zlib plugin out, which is all it takes.
PLUGIN_CAPABILITIES = frozenset({"COMPRESS=DEFLATE"})

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
IMAP_BINARY = "/usr/lib/dovecot/imap"
DH_PARAMS = Path("/usr/share/dovecot/dh.pem")
START_TIMEOUT = 20.0
START_ATTEMPTS = 3  # a freshly picked port can be taken by someone else before Dovecot binds it


@dataclass(frozen=True)
class DovecotPorts:
    """The TCP ports of one Dovecot instance (the same on every address it listens on)."""

    imap: int
    imaps: int
    pop3: int
    pop3s: int
    lmtp: int


class DovecotServer:
    """One Dovecot instance in its own directory. Use :func:`start_dovecot` to make one."""

    host = GOOD_HOST

    def __init__(
        self,
        directory: Path,
        tls: ServerTLSFiles,
        *,
        variants: bool = False,
        without: Iterable[str] = (),
        users: dict[str, str] | None = None,
        domain: str = DOMAIN,
        oauth2_introspection_url: str | None = None,
        namespace: Namespace = DOVECOT_NAMESPACE,
        special_mailboxes: dict[str, str] | None = None,
        announce: Iterable[str] = (),
    ) -> None:
        self.directory = directory.resolve()
        self.namespace = namespace
        self.special_mailboxes = dict(
            SPECIAL_MAILBOXES if special_mailboxes is None else special_mailboxes
        )
        # Opt-in: an extra oauth2 passdb asking this URL about XOAUTH2/OAUTHBEARER tokens.
        self.oauth2_introspection_url = oauth2_introspection_url
        self.tls = tls
        self.variants = variants
        self.without = validate_without(without)
        self.announce = tuple(name.upper() for name in announce)
        self.domain = domain
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self.ports: DovecotPorts | None = None
        self.pid: int | None = None
        self.config_file = self.directory / "dovecot.conf"
        self.log_file = self.directory / "log" / "dovecot.log"
        self.start_log_file = self.directory / "log" / "dovecot-start.log"
        self.base_dir = self.directory / "run" / "dovecot"
        # One passwd-file per user: Dovecot stats a passwd-file at most once a second, so a user
        # added to a shared file could stay unknown for a second; a new file is read at once.
        self.passwd_dir = self.directory / "passwd"
        self.sasl_socket = self.base_dir / "auth-smtp"
        owner = pwd.getpwnam(MAIL_OWNER)
        self._mail_uid, self._mail_gid = owner.pw_uid, owner.pw_gid

    # --- ports, as attributes -------------------------------------------------------------------
    @property
    def imap_port(self) -> int:
        """IMAP with STARTTLS."""
        return self._ports().imap

    @property
    def imaps_port(self) -> int:
        """IMAP over implicit TLS."""
        return self._ports().imaps

    @property
    def pop3_port(self) -> int:
        """POP3 with STLS."""
        return self._ports().pop3

    @property
    def pop3s_port(self) -> int:
        """POP3 over implicit TLS."""
        return self._ports().pop3s

    @property
    def lmtp_port(self) -> int:
        """LMTP (plain, 127.0.0.1 only), for fast delivery by tests and by Postfix."""
        return self._ports().lmtp

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust."""
        return self.tls.ca_file

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying stdlib client context that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _ports(self) -> DovecotPorts:
        if self.ports is None:
            raise RuntimeError("Dovecot has not been started")
        return self.ports

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Write the configuration, start Dovecot and wait (bounded) until every listener answers.

        Raises ServerStartError with Dovecot's own log when it does not come up.
        """
        require_root("Dovecot")
        check_dovecot_version()
        self._prepare_directory()
        last_error: ServerStartError | None = None
        for _attempt in range(START_ATTEMPTS):
            self.ports = DovecotPorts(*pick_free_ports(5, self._addresses()))
            self._write_config(self._capability_setting())
            try:
                self._start_master()
                return
            except ServerStartError as error:
                last_error = error
                self.stop()
                if "Address already in use" not in str(error):
                    raise
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the master process by PID (TERM, then KILL after a bounded wait). Idempotent."""
        stop_servers([self])

    def master_pid(self) -> int | None:
        """The master's PID: known since start, or read from Dovecot's pid file."""
        return self.pid or read_pid_file(self.base_dir / "master.pid")

    def running(self) -> bool:
        """True while the master process is alive."""
        return self.pid is not None and pid_alive(self.pid)

    # --- helpers for tests ----------------------------------------------------------------------
    def deliver(self, to_user: str, raw: bytes, *, sender: str = "") -> None:
        """Put ``raw`` into ``to_user``'s INBOX over LMTP; returns once Dovecot has stored it."""
        with smtplib.LMTP(GOOD_HOST, self.lmtp_port, timeout=30) as lmtp:
            refused = lmtp.sendmail(sender, [f"{to_user}@{self.domain}"], raw)
        if refused:
            raise RuntimeError(f"LMTP refused delivery to {to_user}: {refused}")

    def deliver_many(self, to_user: str, raws: Iterable[bytes]) -> None:
        """Deliver each of ``raws`` in order over one LMTP connection (a big mailbox quickly)."""
        with smtplib.LMTP(GOOD_HOST, self.lmtp_port, timeout=30) as lmtp:
            for raw in raws:
                refused = lmtp.sendmail("", [f"{to_user}@{self.domain}"], raw)
                if refused:
                    raise RuntimeError(f"LMTP refused delivery to {to_user}: {refused}")

    def make_unreadable(self, user: str, marker: bytes, *, readable: bool = False) -> None:
        """Make the one message file of ``user`` that contains ``marker`` unreadable to Dovecot
        (mode 000; Dovecot reads mail as MAIL_OWNER): IMAP FETCH of it then answers BYE, POP3
        RETR -ERR. ``readable=True`` gives it its mode back. (Dovecot renames the file when it
        moves from new/ to cur/, so it is found by its contents each time.)"""
        maildir = self.directory / "home" / user / "Maildir"
        found = [
            path
            for path in maildir.rglob("*")
            if path.is_file() and path.parent.name in ("cur", "new") and marker in path.read_bytes()
        ]
        if len(found) != 1:
            raise RuntimeError(f"{len(found)} message files of {user} contain {marker!r}")
        found[0].chmod(0o600 if readable else 0)

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c <this config> ARGS...`` and return its standard output."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config_file), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def find_message(self, user: str, message_id: str, mailbox: str = "INBOX") -> list[int]:
        """UIDs of the messages in ``user``'s ``mailbox`` whose Message-ID header contains
        ``message_id`` (asked through doveadm, so no IMAP session is disturbed)."""
        output = self.doveadm(
            "search", "-u", user, "mailbox", mailbox, "header", "Message-ID", message_id
        )
        return [int(line.split()[1]) for line in output.splitlines() if line.strip()]

    def wait_for_message(
        self, user: str, message_id: str, *, mailbox: str = "INBOX", timeout: float = 30.0
    ) -> int:
        """Poll until a message with ``message_id`` is in ``user``'s ``mailbox``; return its UID.

        Delivery through Postfix is asynchronous; raises TimeoutError with Dovecot's log tail.
        """
        deadline = time.monotonic() + timeout
        while True:
            uids = self.find_message(user, message_id, mailbox)
            if uids:
                return uids[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{message_id} not in {user}/{mailbox} after {timeout:.0f} s\n"
                    f"{tail(self.log_file, 3000)}"
                )
            time.sleep(0.05)

    def log(self) -> str:
        """Dovecot's log so far (start-up output included)."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.start_log_file, self.log_file)
            if path.exists()
        )

    def add_user(self, prefix: str = "user", *, password: str | None = None) -> str:
        """Create a fresh user with an empty mailbox and return its name (password in ``users``:
        `password`, or one made from the name).

        Each user has its own passwd-file, read on first use, so this works while Dovecot runs.
        A test that must not see other tests' mail (POP3 deletes, counts) takes its own user.
        """
        name = f"{prefix}-{secrets.token_hex(4)}"
        self.users[name] = password or f"{name}-Pa55-word"
        self._make_home(name)
        self._write_passwd_entry(name)
        return name

    def imap_capabilities(self) -> list[str]:
        """The capabilities this Dovecot announces after login (``without`` already removed)."""
        return self._probe_capabilities()

    # --- internals ------------------------------------------------------------------------------
    def _addresses(self) -> tuple[str, ...]:
        return VARIANT_HOSTS if self.variants else (GOOD_HOST,)

    def _prepare_directory(self) -> None:
        require_traversable(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for sub in ("log", "run", "state", "home"):
            (self.directory / sub).mkdir(exist_ok=True)
        # The service users and the mail owner must traverse these.
        for path in (self.directory, self.directory / "run", self.directory / "home"):
            path.chmod(0o755)
        # Read by Dovecot's auth process as user dovecot.
        self.passwd_dir.mkdir(exist_ok=True)
        os.chown(self.passwd_dir, 0, grp.getgrnam("dovecot").gr_gid)
        self.passwd_dir.chmod(0o750)
        for user in self.users:
            self._make_home(user)
            self._write_passwd_entry(user)

    def _make_home(self, user: str) -> None:
        home = self.directory / "home" / user
        home.mkdir(exist_ok=True)
        os.chown(home, self._mail_uid, self._mail_gid)
        home.chmod(0o700)

    def _write_passwd_entry(self, user: str) -> None:
        entry = (
            f"{user}:{{PLAIN}}{self.users[user]}:{self._mail_uid}:{self._mail_gid}::"
            f"{self.directory / 'home' / user}::\n"
        )
        # Written whole under a temporary name, then renamed: Dovecot never reads half a file.
        path = self.passwd_dir / user
        new = self.passwd_dir / f".{user}.new"
        new.write_text(entry)
        os.chown(new, 0, grp.getgrnam("dovecot").gr_gid)
        new.chmod(0o640)
        new.replace(path)

    def _capability_setting(self) -> str | None:
        if not self.without - PLUGIN_CAPABILITIES and not self.announce:
            return None
        self._write_config(None)  # probe what this Dovecot announces by default
        default = self._probe_capabilities()
        missing = {name for name in self.without - PLUGIN_CAPABILITIES if name not in default}
        # SPECIAL-USE disappears on its own once no mailbox declares special_use.
        missing.discard("SPECIAL-USE")
        if missing:
            raise ServerStartError(
                f"Dovecot does not announce {sorted(missing)} by default; cannot hide it "
                f"(default capabilities: {' '.join(default)})"
            )
        kept = [name for name in default if name not in self.without]
        return " ".join([*kept, *(name for name in self.announce if name not in kept)])

    def _probe_capabilities(self) -> list[str]:
        # The imap binary run pre-authenticated on a pipe prints its post-login capabilities in
        # the greeting ("* PREAUTH [CAPABILITY ...] Logged in as ..."), with no running server:
        # without -u it takes the user from the environment and needs no userdb lookup.
        probe_home = self.directory / "probe-home"
        probe_home.mkdir(exist_ok=True)
        os.chown(probe_home, self._mail_uid, self._mail_gid)
        result = subprocess.run(
            [IMAP_BINARY, "-c", str(self.config_file)],
            input=b"x LOGOUT\r\n",
            capture_output=True,
            env={"USER": "capability-probe", "HOME": str(probe_home), "PATH": "/usr/bin:/bin"},
            user=self._mail_uid,
            group=self._mail_gid,
            extra_groups=[],
            timeout=30,
            check=False,
        )
        match = re.search(rb"^\* PREAUTH \[CAPABILITY ([^\]]*)\]", result.stdout, re.MULTILINE)
        if not match:
            raise ServerStartError(
                "could not read Dovecot's IMAP capabilities: "
                f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
            )
        return match.group(1).decode().split()

    def _start_master(self) -> None:
        # Dovecot keeps the starting process's stdout open: never a pipe, always a file.
        with open(self.start_log_file, "ab") as start_log:
            result = subprocess.run(
                [DOVECOT, "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=start_log,
                stderr=subprocess.STDOUT,
                timeout=30,
                check=False,
            )
        if result.returncode != 0:
            raise ServerStartError(f"Dovecot failed to start:\n{self._failure_details()}")
        self.pid = wait_for_master(
            self.base_dir / "master.pid",
            self._listeners(),
            timeout=START_TIMEOUT,
            what=f"Dovecot in {self.directory}",
            failure_details=self._failure_details,
        )

    def _listeners(self) -> list[tuple[str, int]]:
        ports = self._ports()
        listeners = [(GOOD_HOST, ports.lmtp)]
        for address in self._addresses():
            listeners += [(address, ports.imap), (address, ports.pop3)]
            if address != PLAIN_HOST:
                listeners += [(address, ports.imaps), (address, ports.pop3s)]
        return listeners

    def _failure_details(self) -> str:
        return f"{tail(self.start_log_file)}\n{tail(self.log_file)}"

    def _write_config(self, imap_capability: str | None) -> None:
        self.config_file.write_text(
            render_config(
                directory=self.directory,
                tls=self.tls,
                ports=self._ports(),
                domain=self.domain,
                variants=self.variants,
                special_use="SPECIAL-USE" not in self.without,
                compress="COMPRESS=DEFLATE" not in self.without,
                imap_capability=imap_capability,
                mail_uid=self._mail_uid,
                mail_gid=self._mail_gid,
                oauth2_conf=self._write_oauth2_conf(),
                namespace=self.namespace,
                special_mailboxes=self.special_mailboxes,
            )
        )

    def _write_oauth2_conf(self) -> Path | None:
        """Dovecot's oauth2 passdb settings (token introspection by POST), when asked for."""
        if self.oauth2_introspection_url is None:
            return None
        conf = self.directory / "dovecot-oauth2.conf.ext"
        conf.write_text(
            f"introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "username_format = %Ln\n"
        )
        return conf


def validate_without(without: Iterable[str]) -> frozenset[str]:
    """Normalise and check the capabilities a reduced server should hide."""
    names = frozenset(name.upper() for name in without)
    unknown = names - HIDEABLE_CAPABILITIES
    if unknown:
        raise ValueError(
            f"cannot hide {sorted(unknown)}; choose from {sorted(HIDEABLE_CAPABILITIES)}"
        )
    if "CONDSTORE" in names and "QRESYNC" not in names:
        # RFC 7162: QRESYNC implies CONDSTORE, and ENABLE QRESYNC turns CONDSTORE on.
        raise ValueError("hiding CONDSTORE needs QRESYNC hidden too (QRESYNC implies CONDSTORE)")
    return names


def check_dovecot_version() -> None:
    """Fail clearly on anything but Dovecot 2.3 (2.4 changed the configuration syntax)."""
    if not Path(DOVECOT).exists():
        raise ServerStartError(
            f"{DOVECOT} not found: install dovecot-imapd dovecot-pop3d dovecot-lmtpd"
        )
    version = subprocess.run(
        [DOVECOT, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    if not version.startswith("2.3."):
        raise ServerStartError(f"the test servers need Dovecot 2.3, found {version!r}")


def render_config(
    *,
    directory: Path,
    tls: ServerTLSFiles,
    ports: DovecotPorts,
    domain: str,
    variants: bool,
    special_use: bool,
    imap_capability: str | None,
    compress: bool = True,
    mail_uid: int,
    mail_gid: int,
    oauth2_conf: Path | None = None,
    namespace: Namespace = DOVECOT_NAMESPACE,
    special_mailboxes: dict[str, str] | None = None,
) -> str:
    """The text of dovecot.conf for one instance (`oauth2_conf`: add XOAUTH2/OAUTHBEARER;
    `namespace` and `special_mailboxes`: see the module docstring; `compress`: the imap_zlib
    plugin, for COMPRESS=DEFLATE)."""
    mechanisms = "plain login" + (" xoauth2 oauthbearer" if oauth2_conf else "")
    oauth2_passdb = (
        f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
        f"  args = {oauth2_conf}\n}}\n"
        if oauth2_conf
        else ""
    )
    tls_addresses = ", ".join(TLS_HOSTS if variants else (GOOD_HOST,))
    all_addresses = ", ".join(VARIANT_HOSTS if variants else (GOOD_HOST,))
    special = SPECIAL_MAILBOXES if special_mailboxes is None else special_mailboxes
    mailboxes = "\n".join(
        f'  mailbox "{name}" {{\n    auto = subscribe\n'
        + (f"    special_use = {flag}\n" if special_use else "")
        + "  }"
        for name, flag in special.items()
    )
    prefix = f"  prefix = {namespace.prefix}\n" if namespace.prefix else ""
    dh = f"ssl_dh = <{DH_PARAMS}\n" if DH_PARAMS.exists() else ""
    capability = f"  imap_capability = {imap_capability}\n" if imap_capability else ""
    if compress:
        capability += "  mail_plugins = $mail_plugins imap_zlib\n"
    local_blocks = ""
    if variants:
        local_blocks = f"""
# Same ports, one fault each. Every certificate is signed by the test CA.
local {WRONG_HOST} {{
  ssl_cert = <{tls.wrong_host.cert}
  ssl_key = <{tls.wrong_host.key}
}}
local {EXPIRED_HOST} {{
  ssl_cert = <{tls.expired.cert}
  ssl_key = <{tls.expired.key}
}}
local {PLAIN_HOST} {{
  # No TLS at all: no STARTTLS/STLS offered; plaintext login allowed (loopback only).
  ssl = no
  disable_plaintext_auth = no
}}
"""
    return f"""# Generated by tests/support/dovecot.py for one test run.
instance_name = tuimail-test-{directory.name}
base_dir = {directory}/run/dovecot
state_dir = {directory}/state
protocols = imap pop3 lmtp
listen = {GOOD_HOST}
log_path = {directory}/log/dovecot.log
auth_verbose = yes
ssl = yes
ssl_cert = <{tls.good.cert}
ssl_key = <{tls.good.key}
{dh}ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {mechanisms}
auth_username_format = %Ln
# Any character in a user name: the tests log in and deliver to non-ASCII names too.
auth_username_chars =
# Tests try wrong passwords on purpose: answer at once, with no growing penalty per address.
auth_failure_delay = 0
first_valid_uid = {min(mail_uid, 500)}
first_valid_gid = {min(mail_gid, 1)}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {directory}/passwd/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {directory}/passwd/%n
}}
namespace inbox {{
  inbox = yes
  separator = {namespace.separator}
{prefix}{mailboxes}
}}
protocol imap {{
{capability}}}
service imap-login {{
  inet_listener imap {{
    address = {all_addresses}
    port = {ports.imap}
  }}
  inet_listener imaps {{
    address = {tls_addresses}
    port = {ports.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {all_addresses}
    port = {ports.pop3}
  }}
  inet_listener pop3s {{
    address = {tls_addresses}
    port = {ports.pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {GOOD_HOST}
    port = {ports.lmtp}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  # SASL for Postfix's smtpd (runs as postfix, outside any chroot).
  unix_listener auth-smtp {{
    mode = 0666
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{domain}
}}
{local_blocks}"""


def start_dovecot(
    directory: Path,
    *,
    without: Iterable[str] = (),
    ca: CertificateAuthority | None = None,
    variants: bool = False,
    oauth2_introspection_url: str | None = None,
    namespace: Namespace = DOVECOT_NAMESPACE,
    special_mailboxes: dict[str, str] | None = None,
    announce: Iterable[str] = (),
) -> DovecotServer:
    """Start a Dovecot in ``directory`` (empty or new; its parents must be o+x) and return it.

    ``without`` names IMAP capabilities to hide (any of QRESYNC, CONDSTORE, MOVE, UIDPLUS,
    SPECIAL-USE, COMPRESS=DEFLATE, NOTIFY); ``announce`` names capabilities to announce without
    having them; ``ca`` is the test CA to sign its certificates (a new one by default);
    ``namespace`` and ``special_mailboxes`` lay out the folders (see the module docstring).
    The caller stops it with ``stop()``.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    tls_dir = directory / "tls"
    tls = (ca or CertificateAuthority()).write_server_files(tls_dir)
    tls_dir.chmod(0o755)
    server = DovecotServer(
        directory,
        tls,
        variants=variants,
        without=without,
        oauth2_introspection_url=oauth2_introspection_url,
        namespace=namespace,
        special_mailboxes=special_mailboxes,
        announce=announce,
    )
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
