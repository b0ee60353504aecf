"""`tuimail accounts check`: connect and log in to every configured server, and say how it went.

One line per account and protocol, in config order:

    work   IMAP  imap.example.org:993   tls       ok
    work   SMTP  smtp.example.org:587   starttls  failed: wrong user name or password (...)
    notes  local account (no servers to check)

Accounts are checked concurrently (one thread each); the servers of one account are checked one
after the other, so a password command is never asked twice at once. Each session is ended
cleanly (LOGOUT / QUIT) after a successful login.

`check_command` says whether every server answered and accepted the login; it says no, too, when
no account is configured at all: the command exists to confirm that mail can flow, and with no
accounts nothing was confirmed. The command line turns that into the exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tuimail.auth.credentials import get_password
from tuimail.config.schema import AccountConfig, Config, ServerConfig
from tuimail.core.model import Protocol
from tuimail.core.tls import printable_line
from tuimail.sync.connection import DEFAULT_TIMEOUT, ConnectError
from tuimail.sync.imap.connect import connect_imap
from tuimail.sync.pop3.connect import connect_pop3
from tuimail.sync.smtp.connect import connect_smtp

log = logging.getLogger(__name__)

MAX_PARALLEL_ACCOUNTS = 8


@dataclass(frozen=True, slots=True)
class ServerCheck:
    """The outcome for one server of one account; `problem` is None when all went well."""

    account: str
    server: ServerConfig
    problem: str | None

    @property
    def ok(self) -> bool:
        """Whether connecting and logging in worked."""
        return self.problem is None


def check_command(
    config: Config,
    out: TextIO,
    *,
    timeout: float | None = None,
    config_path: Path | None = None,
) -> bool:
    """Check every server of every account, print one line each to `out`; True when every server
    answered and accepted the login (False too when no account is configured).

    `config_path` names the file the config was expected in, for the message shown when there are
    no accounts (`config.path` is None when the file does not exist).
    """
    accounts = list(config.accounts.values())
    if not accounts:
        where = config.path or config_path
        place = f" in {where}" if where else ""
        missing = " (the file does not exist)" if where and not Path(where).exists() else ""
        out.write(
            f"No accounts are configured{place}{missing}. Add an [accounts.NAME] table "
            "(see docs/config.md) and run this again.\n"
        )
        return False
    name_width = max(len(account.name) for account in accounts)
    where_width = max(
        (len(_where(server)) for account in accounts for server in account.servers()), default=0
    )
    all_ok = True
    workers = min(MAX_PARALLEL_ACCOUNTS, len(accounts))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check")
    try:
        futures = [pool.submit(check_account, account, timeout=timeout) for account in accounts]
        # Print in config order, each account as soon as it and those before it are done.
        for account, future in zip(accounts, futures, strict=True):
            results = future.result()
            if not results:
                out.write(f"{account.name:<{name_width}}  local account (no servers to check)\n")
            for result in results:
                all_ok &= result.ok
                out.write(_line(result, name_width, where_width) + "\n")
            out.flush()
    finally:
        # On Ctrl-C, don't start the accounts still waiting (running ones end within timeout).
        pool.shutdown(wait=True, cancel_futures=True)
    return all_ok


def check_account(account: AccountConfig, *, timeout: float | None = None) -> list[ServerCheck]:
    """Check the account's servers one after the other (incoming first)."""
    return [
        ServerCheck(account.name, server, check_server(account, server, timeout=timeout))
        for server in account.servers()
    ]


def check_server(
    account: AccountConfig,
    server: ServerConfig,
    *,
    timeout: float | None = None,
    password: Callable[[], str] | None = None,
) -> str | None:
    """Connect, log in and log out; None when that worked, else what went wrong, in words.

    `password` defaults to the configured source (keyring or password command); the account
    setup screen passes the password just typed, before anything is saved.
    """
    label = f"{account.name} {server.protocol.value.upper()} {_where(server)}"
    if password is None:

        def password() -> str:
            return get_password(account, server.protocol)

    checker = _CHECKERS[server.protocol]
    try:
        checker(server, account.ca_file, password, timeout)
    except ConnectError as exc:
        log.info("check %s: failed (%s): %s", label, exc.kind, exc.message)
        return exc.message
    except Exception as exc:
        # A bug, not a server problem: keep checking the other accounts, keep the traceback.
        log.exception("check %s: unexpected error", label)
        return f"unexpected error: {printable_line(str(exc)) or type(exc).__name__}"
    log.info("check %s: ok", label)
    return None


def _check_imap(
    server: ServerConfig, ca_file: Path | None, password: Callable[[], str], timeout: float | None
) -> None:
    client = connect_imap(server, ca_file=ca_file, password=password, timeout=timeout)
    try:
        client.logout()
    except Exception as exc:  # logged in already: that is what was checked
        log.debug("IMAP logout from %s failed: %r", _where(server), exc)
        with contextlib.suppress(Exception):
            client.shutdown()


def _check_pop3(
    server: ServerConfig, ca_file: Path | None, password: Callable[[], str], timeout: float | None
) -> None:
    pop = connect_pop3(server, ca_file=ca_file, password=password, timeout=timeout)
    try:
        pop.quit()
    except Exception as exc:  # logged in already: that is what was checked
        log.debug("POP3 QUIT to %s failed: %r", _where(server), exc)
        pop.close()


def _check_smtp(
    server: ServerConfig, ca_file: Path | None, password: Callable[[], str], timeout: float | None
) -> None:
    async def run() -> None:
        seconds = DEFAULT_TIMEOUT if timeout is None else timeout
        smtp = await connect_smtp(server, ca_file=ca_file, password=password, timeout=seconds)
        try:
            await smtp.quit()
        except Exception as exc:  # logged in already: that is what was checked
            log.debug("SMTP QUIT to %s failed: %r", _where(server), exc)
            smtp.close()

    asyncio.run(run())


_CHECKERS: dict[
    Protocol, Callable[[ServerConfig, Path | None, Callable[[], str], float | None], None]
] = {
    Protocol.IMAP: _check_imap,
    Protocol.POP3: _check_pop3,
    Protocol.SMTP: _check_smtp,
}


def _where(server: ServerConfig) -> str:
    host = f"[{server.host}]" if ":" in server.host else server.host
    return printable_line(f"{host}:{server.port}")


def _line(result: ServerCheck, name_width: int, where_width: int) -> str:
    server = result.server
    status = "ok" if result.problem is None else f"failed: {result.problem}"
    return (
        f"{result.account:<{name_width}}  {server.protocol.value.upper():<4}  "
        f"{_where(server):<{where_width}}  {server.security.value:<8}  {status}"
    )
