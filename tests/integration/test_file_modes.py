"""Every file tuimail writes is 0600 in 0700 directories, under any umask, after crashes too.

The real commands run as processes with the umask users commonly have (0022, and 0002 where each
user has a group of their own), in a home directory of their own, with the store and the log at
their default places: a sync and a fetch that crash at a crash point while the store's -wal and
-shm exist, the runs that recover, a send, and a later crash that makes SQLite create -wal and
-shm anew. After each, everything under the store directory is checked: the database, -wal,
-shm, lock files and their directories, and the log file with the directories made for it.

Directories that existed with looser modes are tightened when they are tuimail's own (the data
directory and its locks/), and left alone when they are the user's: the home directory, the
parents of the data directory, the directory the user chose for the log file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.mailservers import MailServers
from tests.support.sandbox import Sandbox, incoming_message, outgoing_message, sandbox_config

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def loose_modes(sandbox: Sandbox) -> dict[str, str]:
    """Whatever tuimail owns that is not 0600 (files) or 0700 (directories): path -> mode."""
    owned = [sandbox.data_dir, *sandbox.data_dir.rglob("*"), sandbox.log_file]
    # The directories tuimail made for its data and its log (none existed before the first run).
    owned += [
        sandbox.home / ".local",
        sandbox.home / ".local" / "share",
        sandbox.home / ".local" / "state",
        sandbox.state_dir,
    ]
    loose = {}
    for path in owned:
        wanted = 0o700 if path.is_dir() else 0o600
        if mode(path) != wanted:
            loose[str(path.relative_to(sandbox.home))] = oct(mode(path))
    return loose


def store_files(sandbox: Sandbox) -> set[str]:
    return {path.name for path in sandbox.data_dir.iterdir()}


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_files_stay_private_through_crashes_and_recovery(
    mail_servers: MailServers, tmp_path: Path, umask: int
) -> None:
    users = {
        "home": mail_servers.add_user("modeimap"),
        "pop": mail_servers.add_user("modepop"),
        "wrong": mail_servers.add_user("modewrong"),
    }
    for number in (1, 2):
        mail_servers.deliver(users["home"], incoming_message(number, users["home"], mail_servers))
        mail_servers.deliver(users["pop"], incoming_message(number, users["pop"], mail_servers))
    sandbox = Sandbox(tmp_path)
    sandbox.write_config(sandbox_config(sandbox, mail_servers, users, names=("home", "pop")))
    home_mode = mode(sandbox.home)
    outgoing = sandbox.vault / "outgoing.eml"
    outgoing.write_bytes(outgoing_message(mail_servers.address(users["pop"]), "modes"))

    # A first sync dies after committing its headers: the -wal holds them, -shm is there too.
    sandbox.run("sync", "home", umask=umask, crash_at="imap.headers_committed")
    assert {"tuimail.db", "tuimail.db-wal", "tuimail.db-shm", "locks"} <= store_files(sandbox)
    assert loose_modes(sandbox) == {}
    # A download dies after its commit, before DELE, on the store the crash left.
    sandbox.run("fetch", "pop", umask=umask, crash_at="pop3.after_commit")
    assert loose_modes(sandbox) == {}

    # The next runs recover, and end cleanly (SQLite removes -wal and -shm at the last close).
    for args in (("sync", "--bodies", "home"), ("fetch", "pop")):
        result = sandbox.run(*args, umask=umask)
        assert result.returncode == 0, result.stderr
        assert loose_modes(sandbox) == {}
    sent = sandbox.run("send", "--now", "--account", "home", str(outgoing), umask=umask)
    assert sent.returncode == 0, sent.stderr
    assert "tuimail.db-wal" not in store_files(sandbox)
    assert loose_modes(sandbox) == {}

    # SQLite makes -wal and -shm anew for the next run, which dies with them in place.
    mail_servers.deliver(users["home"], incoming_message(3, users["home"], mail_servers))
    sandbox.run("sync", "--bodies", "home", umask=umask, crash_at="imap.bodies_committed")
    assert {"tuimail.db-wal", "tuimail.db-shm"} <= store_files(sandbox)
    assert {"home.imap.lock", "pop.pop3.lock", "home.smtp.lock"} <= {
        path.name for path in (sandbox.data_dir / "locks").iterdir()
    }
    assert loose_modes(sandbox) == {}
    assert mode(sandbox.home) == home_mode  # never tuimail's to change


def test_loose_directories_of_tuimail_are_tightened_and_the_users_are_not(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    users = {"home": mail_servers.add_user("modeold"), "wrong": mail_servers.add_user("modew")}
    mail_servers.deliver(users["home"], incoming_message(1, users["home"], mail_servers))
    sandbox = Sandbox(tmp_path)
    sandbox.write_config(sandbox_config(sandbox, mail_servers, users, names=("home",)))
    # As an older tuimail (or a careless copy) might have left things:
    users_dirs = [sandbox.home, sandbox.home / ".local", sandbox.home / ".local" / "share"]
    for directory in users_dirs:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
    sandbox.data_dir.mkdir(mode=0o775)
    (sandbox.data_dir / "locks").mkdir(mode=0o775)
    old_lock = sandbox.data_dir / "locks" / "home.imap.lock"
    old_lock.write_text("1\n0\nold\n")
    old_lock.chmod(0o664)
    # The user chose this log file's place; it and its directory existed with looser modes.
    log_dir = sandbox.state_dir
    log_dir.mkdir(parents=True)
    log_dir.chmod(0o755)
    sandbox.log_file.write_text("an older line\n")
    sandbox.log_file.chmod(0o644)

    result = sandbox.run("sync", "--bodies", "home", umask=0o002)
    assert result.returncode == 0, result.stderr

    assert mode(sandbox.data_dir) == 0o700
    assert mode(sandbox.data_dir / "locks") == 0o700
    for path in sandbox.data_dir.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert mode(sandbox.log_file) == 0o600
    assert sandbox.log_file.read_text().startswith("an older line\n")
    for directory in [*users_dirs, log_dir]:
        assert mode(directory) == 0o755, directory
