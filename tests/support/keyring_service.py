"""A real Secret Service for keyring tests: a private D-Bus session bus and gnome-keyring-daemon.

Both run as children of the test process, in a throw-away HOME, and are stopped by PID. Nothing
here is a fake: keyring talks to gnome-keyring over D-Bus exactly as on a desktop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 20.0
KEYRING_UNLOCK_PASSWORD = b"test-keyring-unlock"


class SecretServiceError(RuntimeError):
    """The Secret Service could not be started (the message carries the daemons' output)."""


@dataclass(frozen=True)
class SecretService:
    """A running session bus with gnome-keyring on it; `env` is what a client process needs."""

    env: dict[str, str]
    home: Path


def _require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise SecretServiceError(
            f"{program} is not installed (Debian package {package}); the test command "
            f"installs it: see README.md"
        )
    return path


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def running_secret_service() -> Iterator[SecretService]:
    """Start dbus-daemon and gnome-keyring-daemon; yield their environment; stop both."""
    dbus_daemon = _require("dbus-daemon", "dbus-daemon")
    keyring_daemon = _require("gnome-keyring-daemon", "gnome-keyring")
    root = Path(tempfile.mkdtemp(prefix="tuimail-secret-service-"))
    home = root / "home"
    runtime = root / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBUS_", "GNOME_KEYRING", "XDG_"))
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_RUNTIME_DIR=str(runtime),
    )
    bus = subprocess.Popen(
        [
            dbus_daemon,
            "--session",
            "--nofork",
            "--nopidfile",
            "--print-address=1",
            f"--address=unix:path={runtime / 'bus'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    keyring: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise SecretServiceError("dbus-daemon printed no bus address")
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        keyring_log = root / "gnome-keyring.log"
        with keyring_log.open("wb") as log_file:
            keyring = subprocess.Popen(
                [keyring_daemon, "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
        assert keyring.stdin is not None
        keyring.stdin.write(KEYRING_UNLOCK_PASSWORD)
        keyring.stdin.close()
        _wait_for_secrets_name(env, keyring, keyring_log)
        yield SecretService(env=env, home=home)
    finally:
        if keyring is not None:
            _stop(keyring)
        _stop(bus)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_secrets_name(
    env: dict[str, str], keyring: subprocess.Popen[bytes], keyring_log: Path
) -> None:
    """Poll (bounded) until org.freedesktop.secrets is owned on the bus."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus_api = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with open_dbus_connection(bus=env["DBUS_SESSION_BUS_ADDRESS"]) as connection:
        while time.monotonic() < deadline:
            if keyring.poll() is not None:
                break
            reply = connection.send_and_get_reply(
                new_method_call(bus_api, "NameHasOwner", "s", ("org.freedesktop.secrets",))
            )
            if reply.body[0]:
                return
            time.sleep(0.05)
    output = keyring_log.read_text(errors="replace")
    raise SecretServiceError(
        f"gnome-keyring-daemon did not provide org.freedesktop.secrets within "
        f"{STARTUP_TIMEOUT:.0f} s (exit status {keyring.poll()}); its output:\n{output}"
    )


@contextmanager
def keyring_in_this_process(
    service: SecretService, forget: tuple[str, ...] = ()
) -> Iterator[SecretService]:
    """Point this process's keyring at `service` for the block, then put everything back.

    keyring caches what it detected for the life of a process, so the backend is set explicitly;
    subprocesses started with `service.env` exercise keyring's own detection. The entries named
    in `forget` (of tuimail's keyring service) are deleted at the end, if they exist.
    """
    import keyring
    import keyring.errors
    from keyring.backends.SecretService import Keyring as SecretServiceKeyring

    from tuimail.auth import secrets

    saved = dict(os.environ)
    previous = keyring.get_keyring()
    os.environ.update({k: v for k, v in service.env.items() if k.startswith(("DBUS_", "XDG_"))})
    keyring.set_keyring(SecretServiceKeyring())
    try:
        yield service
    finally:
        for name in forget:
            with suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(secrets.KEYRING_SERVICE, name)
        os.environ.clear()
        os.environ.update(saved)
        keyring.set_keyring(previous)
