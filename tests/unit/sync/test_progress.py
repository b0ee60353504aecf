"""Headless progress: a live line only on a terminal, one summary line per account."""

from __future__ import annotations

import io

from tuimail.cli.progress import TerminalProgress
from tuimail.core.model import Protocol
from tuimail.sync.events import (
    GIVEN_UP_FOLDER_CHANGED,
    GIVEN_UP_REFUSED,
    ActionsGivenUp,
    GivenUp,
    SyncFailed,
    SyncFinished,
    SyncProgress,
)


def test_not_a_terminal_prints_only_summaries() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = TerminalProgress(out, err, live=False)
    progress(SyncProgress("home", Protocol.POP3, "INBOX", 5, 10))
    progress(SyncFinished("home", Protocol.POP3, "10 new messages"))
    progress(SyncFailed("work", Protocol.IMAP, "refused", "connection refused \x1b[31mby x"))
    assert out.getvalue() == "home: 10 new messages\n"
    assert err.getvalue() == "work: IMAP failed: connection refused by x\n"
    assert progress.exit_status() == 1


def test_terminal_gets_a_rewritten_line_then_the_summary() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = TerminalProgress(out, err, live=True)
    progress(SyncProgress("home", Protocol.POP3, "INBOX", 10, 10))
    assert err.getvalue() == "\rhome/INBOX: 10/10"
    progress(SyncFinished("home", Protocol.POP3, "done"))
    assert err.getvalue().endswith("\r" + " " * len("home/INBOX: 10/10") + "\r")
    assert out.getvalue() == "home: done\n"
    assert progress.exit_status() == 0


def test_an_account_another_process_is_syncing_is_skipped_not_failed() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = TerminalProgress(out, err, live=False)
    progress(SyncFailed("home", Protocol.POP3, "busy", "home (pop3) is being synced by process 7"))
    assert out.getvalue() == "home: busy, skipped: home (pop3) is being synced by process 7\n"
    assert err.getvalue() == ""
    assert progress.exit_status() == 0


def test_actions_given_up_are_said_one_line_each_with_server_text_sanitized() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = TerminalProgress(out, err, live=False)
    swapped = GivenUp("move", 2, "Work\x1b[31m", "Trash", GIVEN_UP_FOLDER_CHANGED)
    refused = GivenUp("flag", 1, "INBOX", None, GIVEN_UP_REFUSED, "NO no\x1b]0;x\x07", "\\Flagged")
    progress(ActionsGivenUp("home", (swapped, refused)))
    progress(SyncFinished("home", Protocol.IMAP, "4 folders synced"))
    assert err.getvalue().splitlines() == [
        "home: Moving 2 messages from Work to Trash was not carried out: the name Work now"
        " stands for another folder on the server (renamed or swapped by another client);"
        " nothing was changed on the server, and Work is fetched again. The messages are shown"
        " where the server has them.",
        "home: Flagging 1 message in INBOX was not carried out: the server refused it: NO no."
        " The messages are shown where the server has them.",
    ]
    assert out.getvalue() == "home: 4 folders synced\n"
    assert progress.exit_status() == 0
