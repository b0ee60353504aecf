"""Kill the sender at every named step, then flush again: each message reaches Dovecot exactly
once, except an item left 'unknown' (the final "." may have gone out), which is never resent by
itself and which the outbox shows; the Sent folder ends with exactly one copy of each message.

The crashing run is a real process (`python -m tuimail outbox flush`) that exits with
`os._exit` at the step, in the middle of a batch of three messages; the next runs are ordinary.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.smtp_send import imap_copies, items, message, settle, write_config
from tuimail.cli.main import main
from tuimail.cli.send import outbox_command
from tuimail.config.load import load_config
from tuimail.core.crashpoint import CRASH_EXIT_CODE, ENV_VAR, KNOWN_CRASHPOINTS
from tuimail.store.outbox import OutboxState

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 3

# step -> does the crashed item end 'unknown' (its final "." may have reached the server)?
STEPS = {
    "smtp.before_connect": False,
    "smtp.after_mail:2": False,
    "smtp.mid_data:2": False,
    "smtp.after_data_end:2": True,
    "smtp.after_reply:2": True,
    "smtp.sent_appended:2": False,
}


def run_flush(config: Path, data: Path, crash_at: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    env[ENV_VAR] = crash_at
    command = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    return subprocess.run(
        [*command, "outbox", "flush"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("step", list(STEPS))
def test_a_crash_at_any_step_neither_loses_nor_doubles_a_message(
    mail_servers: MailServers, tmp_path: Path, step: str
) -> None:
    assert step.partition(":")[0] in KNOWN_CRASHPOINTS
    sender, to = mail_servers.add_user("sender"), mail_servers.add_user("to")
    config = write_config(mail_servers, sender, tmp_path / "config.toml")
    data = tmp_path / "data"
    common = ["--config", str(config), "--data-dir", str(data)]
    files = []
    for index in range(MESSAGES):
        path = tmp_path / f"m{index}.eml"
        path.write_bytes(message([mail_servers.address(to)], subject=f"crash {index}"))
        files.append(str(path))
    assert main([*common, "send", "--queue-only", "--now", *files]) == 0

    crashed = run_flush(config, data, step)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr

    main([*common, "outbox", "flush"])
    queued = items(data)
    unknown = [item for item in queued if item.state is OutboxState.UNKNOWN]
    if STEPS[step]:
        assert [item.id for item in unknown] == [queued[1].id]
    else:
        assert unknown == []
    for item in queued:
        if item.state is not OutboxState.UNKNOWN:
            assert item.state is OutboxState.SENT, item
            mail_servers.wait_for_message(to, item.message_id)
    settle(mail_servers)
    for item in queued:
        copies = len(imap_copies(mail_servers, to, item.message_id, "INBOX"))
        assert copies == 1 or (item.state is OutboxState.UNKNOWN and copies <= 1), item

    # The outbox shows the unknown item; nothing resends it. The user checks and confirms.
    listing = io.StringIO()
    for item in unknown:
        assert main([*common, "outbox", "flush"]) == 0
        settle(mail_servers)
        assert len(imap_copies(mail_servers, to, item.message_id, "INBOX")) <= 1
        outbox_command(
            load_config(config, must_exist=True), data, "list", out=listing, err=io.StringIO()
        )
        assert f"#{item.id} home unknown" in listing.getvalue()
        assert main([*common, "outbox", "confirm", str(item.id)]) == 0
    assert main([*common, "outbox", "flush"]) == 0
    for item in items(data):
        assert item.state is OutboxState.SENT and item.sent_copy_done
        assert len(imap_copies(mail_servers, sender, item.message_id, "Sent")) == 1, item
