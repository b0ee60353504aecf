"""Real mail servers for the test suite: Dovecot (IMAP, POP3, LMTP) and Postfix (submission, smtps).

``MailServers(directory).start()`` writes every configuration into ``directory`` and starts both
servers as root on loopback, on freshly picked free ports, with certificates from a test CA.
See docs/testing.md. By hand::

    python -m tests.support.mailservers up DIR      # prints ports, users and the CA file
    python -m tests.support.mailservers down DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from tests.support.ca import CertificateAuthority, CertificateFiles, ServerTLSFiles
from tests.support.dovecot import (
    EXPIRED_HOST,
    GOOD_HOST,
    PLAIN_HOST,
    WRONG_HOST,
    DovecotPorts,
    DovecotServer,
    start_dovecot,
    validate_without,
)
from tests.support.postfix import PostfixPorts, PostfixServer
from tests.support.processes import (
    LOOPBACK_ADDRESSES,
    ServerStartError,
    pick_free_ports,
    require_root,
    stop_servers,
    tail,
)

STATE_FILE = "servers.json"
START_ATTEMPTS = 3
# Set to 1 to keep the server directories (configs, logs, maildirs) after a test run.
KEEP_ENV_VAR = "TUIMAIL_KEEP_TEST_SERVERS"


def new_server_directory(prefix: str = "tuimail-mailservers-") -> Path:
    """A fresh 0755 directory under /tmp that the servers' service users can traverse.

    pytest's own temporary directories are 0700, which Dovecot's and Postfix's users cannot enter.
    """
    parent = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    directory.chmod(0o755)
    return directory


def discard_server_directory(directory: Path) -> None:
    """Remove a stopped server's directory unless TUIMAIL_KEEP_TEST_SERVERS=1 asks to keep it."""
    if os.environ.get(KEEP_ENV_VAR) == "1":
        print(f"kept test server directory {directory}", file=sys.stderr)
        return
    shutil.rmtree(directory, ignore_errors=True)


class ReducedDovecots:
    """Reduced-capability Dovecot instances, one per set of hidden capabilities, started on demand.

    Shared by a whole test session (each start takes well under a second); ``stop_all`` at the end.
    """

    def __init__(self, ca: CertificateAuthority | None = None) -> None:
        self._ca = ca or CertificateAuthority()
        self._servers: dict[frozenset[str], DovecotServer] = {}

    def get(self, without: Iterable[str]) -> DovecotServer:
        """The running instance that hides ``without`` (started the first time it is asked for)."""
        key = validate_without(without)
        if key not in self._servers:
            name = "-".join(sorted(key)).lower() or "full"
            directory = new_server_directory(f"tuimail-dovecot-without-{name}-")
            self._servers[key] = start_dovecot(directory, without=key, ca=self._ca)
        return self._servers[key]

    def stop_all(self) -> None:
        """Stop every instance and discard its directory."""
        stop_servers(self._servers.values())
        for server in self._servers.values():
            discard_server_directory(server.directory)
        self._servers.clear()


class MailServers:
    """Dovecot and Postfix for one test run, in one directory.

    Attributes once started: ``host`` (127.0.0.1: valid certificate), ``wrong_host`` (127.0.0.2:
    certificate for another name), ``expired_host`` (127.0.0.3: expired certificate),
    ``plain_host`` (127.0.0.4: no TLS), the ports ``imap_port`` (STARTTLS), ``imaps_port``,
    ``pop3_port`` (STLS), ``pop3s_port``, ``lmtp_port``, ``submission_port`` (STARTTLS) and
    ``smtps_port`` (implicit TLS), ``ca_file``, ``domain`` and ``users`` (name -> password).
    """

    host = GOOD_HOST
    wrong_host = WRONG_HOST
    expired_host = EXPIRED_HOST
    plain_host = PLAIN_HOST

    def __init__(
        self,
        directory: Path,
        *,
        ca: CertificateAuthority | None = None,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self._ca = ca
        # Opt-in (the OAuth2 tests): Dovecot also accepts tokens this URL vouches for.
        self._oauth2_introspection_url = oauth2_introspection_url
        self.dovecot: DovecotServer | None = None
        self.postfix: PostfixServer | None = None

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> MailServers:
        """Start Dovecot, then Postfix; bounded, and stops whatever started if anything fails."""
        require_root("The test mail servers")
        try:
            self.dovecot = start_dovecot(
                self.directory,
                ca=self._ca,
                variants=True,
                oauth2_introspection_url=self._oauth2_introspection_url,
            )
            self._start_postfix(self.dovecot)
            self._save_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_postfix(self, dovecot: DovecotServer) -> None:
        for attempt in range(START_ATTEMPTS):
            self.postfix = PostfixServer(
                self.directory,
                dovecot.tls,
                ports=PostfixPorts(*pick_free_ports(2, LOOPBACK_ADDRESSES)),
                lmtp_port=dovecot.lmtp_port,
                sasl_socket=dovecot.sasl_socket,
                domain=dovecot.domain,
            )
            try:
                self.postfix.start()
                return
            except ServerStartError as error:
                self.postfix.stop()
                # A port picked a moment ago can be taken by another process before Postfix binds.
                if "Address already in use" not in str(error) or attempt == START_ATTEMPTS - 1:
                    raise

    def stop(self) -> None:
        """Stop Postfix and Dovecot by PID (TERM, then KILL after a bounded wait). Idempotent."""
        stop_servers(server for server in (self.postfix, self.dovecot) if server is not None)

    def __enter__(self) -> MailServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests read ------------------------------------------------------------------------
    @property
    def imap_port(self) -> int:
        """IMAP with STARTTLS."""
        return self._dovecot().imap_port

    @property
    def imaps_port(self) -> int:
        """IMAP over implicit TLS."""
        return self._dovecot().imaps_port

    @property
    def pop3_port(self) -> int:
        """POP3 with STLS."""
        return self._dovecot().pop3_port

    @property
    def pop3s_port(self) -> int:
        """POP3 over implicit TLS."""
        return self._dovecot().pop3s_port

    @property
    def lmtp_port(self) -> int:
        """Dovecot's LMTP (127.0.0.1 only, no TLS)."""
        return self._dovecot().lmtp_port

    @property
    def submission_port(self) -> int:
        """SMTP submission: STARTTLS required, then AUTH."""
        return self._postfix().ports.submission

    @property
    def smtps_port(self) -> int:
        """SMTP submission over implicit TLS."""
        return self._postfix().ports.smtps

    @property
    def ca_file(self) -> Path:
        """The test CA certificate (PEM): what clients pass as ``ca_file``."""
        return self._dovecot().ca_file

    @property
    def domain(self) -> str:
        """The mail domain: every user's address is ``user@domain``."""
        return self._dovecot().domain

    @property
    def users(self) -> dict[str, str]:
        """User name -> password (``alice``, ``bob`` and any made by ``add_user``)."""
        return self._dovecot().users

    def address(self, user: str) -> str:
        """The e-mail address of ``user``."""
        return f"{user}@{self.domain}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying stdlib client context that trusts only the test CA."""
        return self._dovecot().client_ssl_context()

    # --- helpers --------------------------------------------------------------------------------
    def deliver(self, to_user: str, raw: bytes) -> None:
        """Put a message straight into ``to_user``'s INBOX over LMTP (no SMTP, no queue)."""
        self._dovecot().deliver(to_user, raw)

    def deliver_many(self, to_user: str, raws: Iterable[bytes]) -> None:
        """Deliver each of ``raws`` to ``to_user``'s INBOX in order, over one LMTP connection."""
        self._dovecot().deliver_many(to_user, raws)

    def add_user(self, prefix: str = "user", *, password: str | None = None) -> str:
        """Create a user with an empty mailbox; returns the name, the password is in ``users``."""
        return self._dovecot().add_user(prefix, password=password)

    def make_unreadable(self, user: str, marker: bytes, *, readable: bool = False) -> None:
        """Make ``user``'s message containing ``marker`` unreadable to Dovecot, or readable
        again (see `DovecotServer.make_unreadable`)."""
        self._dovecot().make_unreadable(user, marker, readable=readable)

    def wait_for_message(
        self, user: str, message_id: str, *, mailbox: str = "INBOX", timeout: float = 30.0
    ) -> int:
        """Poll (bounded) until ``message_id`` is in ``user``'s ``mailbox``; return its UID.

        Postfix hands mail to Dovecot asynchronously; on timeout, raises with both logs' tails.
        """
        try:
            return self._dovecot().wait_for_message(
                user, message_id, mailbox=mailbox, timeout=timeout
            )
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{tail(self._postfix().log_file, 3000)}") from None

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c <dovecot.conf> ARGS...`` and return its output."""
        return self._dovecot().doveadm(*args)

    def dovecot_log(self) -> str:
        """Everything Dovecot logged so far."""
        return self._dovecot().log()

    def postfix_log(self) -> str:
        """Everything Postfix logged so far."""
        return self._postfix().log()

    def _dovecot(self) -> DovecotServer:
        if self.dovecot is None:
            raise RuntimeError("the mail servers have not been started")
        return self.dovecot

    def _postfix(self) -> PostfixServer:
        if self.postfix is None:
            raise RuntimeError("the mail servers have not been started")
        return self.postfix

    # --- state for the command line -------------------------------------------------------------
    def _save_state(self) -> None:
        dovecot, postfix = self._dovecot(), self._postfix()
        state = {
            "host": self.host,
            "wrong_host": self.wrong_host,
            "expired_host": self.expired_host,
            "plain_host": self.plain_host,
            "imap_port": self.imap_port,
            "imaps_port": self.imaps_port,
            "pop3_port": self.pop3_port,
            "pop3s_port": self.pop3s_port,
            "lmtp_port": self.lmtp_port,
            "submission_port": self.submission_port,
            "smtps_port": self.smtps_port,
            "ca_file": str(self.ca_file),
            "domain": self.domain,
            "users": self.users,
            "dovecot_pid": dovecot.pid,
            "postfix_pid": postfix.pid,
            "dovecot_config": str(dovecot.config_file),
            "logs": [str(dovecot.log_file), str(postfix.log_file)],
        }
        (self.directory / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> MailServers:
        """Rebuild the handle of servers that ``up`` started in ``directory`` (to stop them)."""
        directory = Path(directory).resolve()
        state = json.loads((directory / STATE_FILE).read_text())
        servers = cls(directory)
        tls_dir = directory / "tls"
        tls = _tls_files(tls_dir)
        dovecot = DovecotServer(directory, tls, variants=True, users=state["users"])
        dovecot.ports = DovecotPorts(
            imap=state["imap_port"],
            imaps=state["imaps_port"],
            pop3=state["pop3_port"],
            pop3s=state["pop3s_port"],
            lmtp=state["lmtp_port"],
        )
        dovecot.pid = state["dovecot_pid"]
        postfix = PostfixServer(
            directory,
            tls,
            ports=PostfixPorts(submission=state["submission_port"], smtps=state["smtps_port"]),
            lmtp_port=state["lmtp_port"],
            sasl_socket=dovecot.sasl_socket,
            domain=state["domain"],
        )
        postfix.pid = state["postfix_pid"]
        servers.dovecot, servers.postfix = dovecot, postfix
        return servers


def _tls_files(tls_dir: Path) -> ServerTLSFiles:
    def pair(name: str) -> CertificateFiles:
        return CertificateFiles(cert=tls_dir / f"{name}-cert.pem", key=tls_dir / f"{name}-key.pem")

    return ServerTLSFiles(
        ca_file=tls_dir / "ca.pem",
        good=pair("good"),
        wrong_host=pair("wrong-host"),
        expired=pair("expired"),
    )


def main(argv: list[str] | None = None) -> int:
    """``up DIR`` starts the servers and leaves them running; ``down DIR`` stops them."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.mailservers",
        description="Start or stop the test Dovecot and Postfix by hand (as root).",
    )
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("directory", type=Path, help="server directory (every parent o+x)")
    args = parser.parse_args(argv)
    if args.action == "up":
        if (args.directory / STATE_FILE).exists():
            print(f"{args.directory} holds running servers: run down first", file=sys.stderr)
            return 1
        try:
            servers = MailServers(args.directory).start()
        except ServerStartError as error:
            print(error, file=sys.stderr)
            return 1
        print((servers.directory / STATE_FILE).read_text(), end="")
        return 0
    if not (args.directory / STATE_FILE).exists():
        print(f"no {STATE_FILE} in {args.directory}: nothing to stop", file=sys.stderr)
        return 1
    MailServers.load(args.directory).stop()
    (args.directory / STATE_FILE).unlink()
    print(f"stopped the servers in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
