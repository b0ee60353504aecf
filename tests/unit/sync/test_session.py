"""The engines' one error map (`tuimail.sync.session.failure_of`) and the exit statuses the
headless commands give for its kinds."""

from __future__ import annotations

import io
import poplib
import socket
import sqlite3
from pathlib import Path

import imapclient.exceptions
import pytest

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, exit_status
from tuimail.cli.progress import TerminalProgress
from tuimail.core.failure import FailureKind
from tuimail.core.model import Protocol
from tuimail.store.db import StoreFullError
from tuimail.store.lock import LockBusyError
from tuimail.sync.connection import ConnectError
from tuimail.sync.deadline import CommandTimeout, ConnectionAborted
from tuimail.sync.events import AuthNeeded, SyncFailed
from tuimail.sync.imap import engine as imap
from tuimail.sync.imap.extensions import ImapProtocolError
from tuimail.sync.session import EngineFailed, Failure, failure_of


def _wrapped(inner: BaseException, outer: BaseException) -> BaseException:
    """`outer` as raised while handling `inner` (as imaplib wraps a socket's error)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


def _locked() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (
            ConnectError(Protocol.IMAP, "h", 993, FailureKind.TLS_UNTRUSTED, "not trusted"),
            "tls_untrusted",
            "not trusted",
        ),
        (LockBusyError("another sync runs", None), "busy", "another sync runs"),
        (_locked(), "store_locked", "locked by another program"),
        (StoreFullError("the disk is full"), "store_full", "the disk is full"),
        (imap.SyncCancelled("stop"), "cancelled", "cancelled; kept"),
        (imap.FolderNotFoundError("no folder 'X'"), "folder", "no folder 'X'"),
        (ImapProtocolError("a bad line"), "protocol", "sent something unexpected"),
        (CommandTimeout("FETCH did not finish within 2 s"), "timeout", "within 2 s; kept"),
        (TimeoutError("timed out"), "timeout", "timed out after 30 s waiting for the server"),
        (ConnectionResetError("reset by peer"), "network", "failed during the sync: reset"),
        (
            imapclient.exceptions.IMAPClientAbortError("socket error: EOF"),
            "network",
            "the connection failed during the sync: socket error: EOF",
        ),
        (
            imapclient.exceptions.IMAPClientAbortError("command: X => unexpected response: b'?'"),
            "protocol",
            "sent something unexpected (a protocol error of the server)",
        ),
        (
            imapclient.exceptions.IMAPClientError("fetch failed: Fetch refused"),
            "protocol",
            "refused or garbled a command: fetch failed: Fetch refused",
        ),
        (poplib.error_proto(b"-ERR no"), "protocol", "refused or garbled a command: -ERR no"),
        (EngineFailed(Failure("protocol", "in its own words")), "protocol", "in its own words"),
    ],
)
def test_each_failure_has_one_kind_and_its_words(exc: BaseException, kind: str, words: str) -> None:
    failure = failure_of(
        exc, store=Path("/nowhere/tuimail.db"), during="the sync", timeout=30, kept="kept"
    )
    assert failure is not None and failure.kind == kind and words in failure.message, failure
    assert exit_status(kind) == (EXIT_OK if kind == "busy" else EXIT_FAILED)


def test_a_refused_password_is_for_the_user_to_act_on() -> None:
    failure = failure_of(ConnectError(Protocol.IMAP, "h", 993, FailureKind.AUTH_FAILED, "no"))
    assert failure is not None and failure.auth and failure.kind == "auth_failed"


def test_a_deadline_and_a_quit_are_found_inside_the_library_s_error() -> None:
    abort = imapclient.exceptions.IMAPClientAbortError
    timed_out = _wrapped(CommandTimeout("FETCH did not finish within 2 s"), abort("socket error"))
    failure = failure_of(timed_out)
    assert failure is not None and failure.kind == "timeout" and "within 2 s" in failure.message
    quit_ = _wrapped(ConnectionAborted("tuimail is quitting"), abort("socket error"))
    failure = failure_of(quit_)
    assert failure is not None and failure.kind == "cancelled"


def test_an_exception_the_map_does_not_know_is_a_bug() -> None:
    assert failure_of(KeyError("bug")) is None
    assert failure_of(AttributeError("bug")) is None


def test_headless_exit_status_follows_the_kinds() -> None:
    progress = TerminalProgress(io.StringIO(), io.StringIO(), live=False)
    progress(SyncFailed("a", Protocol.IMAP, "busy", "another sync runs"))
    assert progress.exit_status() == EXIT_OK
    progress(SyncFailed("b", Protocol.IMAP, "store_full", "the disk is full"))
    assert progress.exit_status() == EXIT_FAILED
    progress = TerminalProgress(io.StringIO(), io.StringIO(), live=False)
    progress(AuthNeeded("c", Protocol.IMAP, "no password"))
    assert progress.exit_status() == EXIT_FAILED


@pytest.mark.parametrize(("command", "section"), [("sync", "imap"), ("fetch", "pop3")])
def test_a_failed_headless_pass_is_said_once_on_the_terminal(
    command: str, section: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The failure event is what the command prints; the session's log line of it is marked as
    shown, so the terminal does not get it a second time as a log line."""
    from tuimail.cli.main import main

    with socket.socket() as sock:  # bound, not listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = tmp_path / "config.toml"
        config.write_text(
            "[accounts.acct]\n"
            'address = "someone@example.org"\n'
            'password_command = "printf secret"\n'
            f"[accounts.acct.{section}]\n"
            f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\nusername = "someone"\n'
        )
        status = main([command, "acct", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == EXIT_FAILED, err
    assert err.count("connection refused by 127.0.0.1") == 1, err
    assert f"acct: {section.upper()} failed: connection refused" in err, err
