"""Passwords: the only module that touches them, and the only one that imports keyring.

Order for an account's server (see docs/config.md):
1. the protocol table's `password_command`,
2. the account's `password_command`,
3. the keyring entry `ACCOUNT/PROTOCOL` (service "tuimail"),
4. the keyring entry `ACCOUNT`.

A password never goes into the config, the store, a log or an error message: every password handed
out is registered with `tuimail.core.log` for redaction. keyring is imported lazily, since
importing it and finding its backend costs a headless command about 0.2 s. There is no
plaintext fallback. Logins ask `tuimail.auth.credentials`, which also hands out OAuth tokens.
"""

from __future__ import annotations

import logging
import subprocess
from typing import TYPE_CHECKING

from tuimail.config.schema import AccountConfig
from tuimail.core.log import register_secret
from tuimail.core.model import Protocol

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

KEYRING_SERVICE = "tuimail"
PASSWORD_COMMAND_TIMEOUT = 120.0  # seconds; a command may ask for a passphrase (gpg, pass)
log = logging.getLogger(__name__)


class SecretError(Exception):
    """A password could not be had; the message says why and how to fix it (never the secret)."""


def keyring_username(account: str, protocol: Protocol | None = None) -> str:
    """The keyring entry name: `ACCOUNT/PROTOCOL`, or `ACCOUNT` for the account-wide entry."""
    return f"{account}/{protocol.value}" if protocol else account


def stored_password(account: AccountConfig, protocol: Protocol) -> str:
    """The password for `account`'s `protocol` server, by the documented order.

    Logins ask `tuimail.auth.credentials.get_password`, which hands out an OAuth access token
    instead for an account with auth = "oauth2". Raises SecretError with an actionable message
    when none can be had.
    """
    server = account.server(protocol)
    if server is not None and server.password_command:
        where = f"accounts.{account.name}.{protocol.value}.password_command"
        return _remember(run_password_command(server.password_command, where), where)
    if account.password_command:
        where = f"accounts.{account.name}.password_command"
        return _remember(run_password_command(account.password_command, where), where)
    backend = _keyring_backend(account.name)
    for entry in (keyring_username(account.name, protocol), keyring_username(account.name)):
        try:
            password = backend.get_password(KEYRING_SERVICE, entry)
        except Exception as exc:  # keyring backends raise many kinds
            raise SecretError(
                f"account {account.name!r}: the system keyring could not be read "
                f"({type(exc).__name__}: {exc}). Unlock it, or set password_command "
                f"in [accounts.{account.name}]."
            ) from None
        if password:
            log.debug("password for %s/%s from keyring entry %r", account.name, protocol, entry)
            return _remember(password, f"account {account.name!r}: keyring entry {entry!r}")
    raise SecretError(
        f"account {account.name!r}: no password for {protocol.value.upper()}: the keyring "
        f"(service {KEYRING_SERVICE!r}) has no entry {keyring_username(account.name, protocol)!r} "
        f"or {account.name!r}, and no password_command is set. Store one with "
        f"`tuimail accounts set-password {account.name}`, or set password_command "
        f"in [accounts.{account.name}]."
    )


def set_password(account: str, password: str, protocol: Protocol | None = None) -> str:
    """Store `password` in the keyring for `account` (and `protocol`); returns the entry name."""
    if not password:
        raise SecretError("refusing to store an empty password")
    register_secret(password)
    if cannot_be_sent(password):
        raise SecretError(
            "refusing to store a password with a line break or NUL character: it could not be "
            "sent to a server"
        )
    backend = _keyring_backend(account)
    entry = keyring_username(account, protocol)
    try:
        backend.set_password(KEYRING_SERVICE, entry, password)
    except Exception as exc:  # keyring backends raise many kinds
        raise SecretError(
            f"could not store the password in the system keyring ({type(exc).__name__}: {exc})"
        ) from None
    return entry


def delete_password(account: str, protocol: Protocol | None = None) -> bool:
    """Remove a keyring entry; False when there was none."""
    import keyring.errors

    backend = _keyring_backend(account)
    try:
        backend.delete_password(KEYRING_SERVICE, keyring_username(account, protocol))
    except keyring.errors.PasswordDeleteError:
        return False
    return True


# --- OAuth2: the refresh token of an account with auth = "oauth2" (see tuimail.auth.oauth)

OAUTH_ENTRY = "oauth"


def oauth_keyring_username(account: str) -> str:
    """The keyring entry of an account's OAuth refresh token: `ACCOUNT/oauth`."""
    return f"{account}/{OAUTH_ENTRY}"


def get_refresh_token(account: str) -> str | None:
    """The stored refresh token of `account`, or None. Raises SecretError if the keyring fails."""
    backend = _keyring_backend(account)
    try:
        token = backend.get_password(KEYRING_SERVICE, oauth_keyring_username(account))
    except Exception as exc:  # keyring backends raise many kinds
        raise SecretError(
            f"account {account!r}: the system keyring could not be read "
            f"({type(exc).__name__}: {exc}). Unlock it and try again."
        ) from None
    if token:
        register_secret(token)
    return token or None


def set_refresh_token(account: str, token: str) -> str:
    """Store `account`'s refresh token in the keyring; returns the entry name."""
    if not token or cannot_be_sent(token):
        raise SecretError("refusing to store an empty or multi-line refresh token")
    register_secret(token)
    backend = _keyring_backend(account)
    entry = oauth_keyring_username(account)
    try:
        backend.set_password(KEYRING_SERVICE, entry, token)
    except Exception as exc:  # keyring backends raise many kinds
        raise SecretError(
            f"could not store the refresh token in the system keyring ({type(exc).__name__}: {exc})"
        ) from None
    return entry


def delete_refresh_token(account: str) -> bool:
    """Remove `account`'s refresh token from the keyring; False when there was none."""
    import keyring.errors

    backend = _keyring_backend(account)
    try:
        backend.delete_password(KEYRING_SERVICE, oauth_keyring_username(account))
    except keyring.errors.PasswordDeleteError:
        return False
    return True


def run_password_command(command: str, where: str) -> str:
    """Run a password command with /bin/sh and return the first line of its output.

    `where` names the config key, for error messages. The command's output is never shown.
    """
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            capture_output=True,
            timeout=PASSWORD_COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SecretError(
            f"{where}: the command did not finish within {PASSWORD_COMMAND_TIMEOUT:.0f} s"
        ) from None
    except OSError as exc:
        raise SecretError(f"{where}: the command could not be started: {exc.strerror}") from None
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    password = lines[0] if lines else ""
    if result.returncode != 0:
        # stderr is the command's own complaint (e.g. "gpg: decryption failed"); stdout may hold
        # the secret, so it is never shown. Register the first line in case stderr echoes it.
        if password:
            register_secret(password)
        detail = _last_line(result.stderr.decode("utf-8", "replace"))
        raise SecretError(
            f"{where}: the command failed with exit status {result.returncode}"
            + (f": {detail}" if detail else "")
        )
    if not password:
        raise SecretError(f"{where}: the command printed nothing (the password is its first line)")
    return password


def _last_line(text: str) -> str:
    from tuimail.core.log import redact

    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = redact(lines[-1]) if lines else ""
    # stderr is not trusted terminal text: keep it printable and short.
    line = "".join(ch for ch in line if ch.isprintable())
    return line[:200]


def _remember(password: str, where: str) -> str:
    """Register `password` for redaction; refuse one that could not be sent to a server (a CR,
    LF or NUL would end the login command early and start another one)."""
    register_secret(password)
    if cannot_be_sent(password):
        raise SecretError(
            f"{where}: the password contains a line break or NUL character, which cannot be "
            "sent to a server"
        )
    return password


def cannot_be_sent(password: str) -> bool:
    """Whether `password` holds a CR, LF or NUL, which would end a protocol command line."""
    return "\r" in password or "\n" in password or "\0" in password


def keyring_problem() -> str | None:
    """Why no system keyring can keep passwords here, in words; None when one can. (The
    account setup screen offers a password command instead.)"""
    try:
        _usable_backend()
    except _NoKeyring as exc:
        return str(exc)
    return None


class _NoKeyring(Exception):
    pass


def _usable_backend() -> KeyringBackend:
    """The system keyring, or _NoKeyring saying why there is none we may use."""
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    # A chainer with no usable members behaves like the fail backend.
    members = getattr(backend, "backends", None)
    usable = [backend] if members is None else list(members)
    module_names = [type(b).__module__ for b in usable]
    if not usable or all(isinstance(b, fail.Keyring) for b in usable):
        raise _NoKeyring(
            "no system keyring is available (no Secret Service such as gnome-keyring or "
            "KeePassXC is running on the session bus)"
        )
    if any(name.startswith("keyrings.alt") for name in module_names):
        raise _NoKeyring(
            f"the configured keyring backend ({', '.join(module_names)}) stores passwords in a "
            "file; tuimail does not use it"
        )
    return backend


def _keyring_backend(account: str) -> KeyringBackend:
    """The system keyring, or SecretError if there is none we may use."""
    try:
        return _usable_backend()
    except _NoKeyring as exc:
        if str(exc).startswith("no system keyring"):
            raise SecretError(
                f"account {account!r}: {exc}, and no password_command is set. Either start a "
                f"keyring service and run `tuimail accounts set-password {account}`, or set "
                f"password_command in [accounts.{account}] (for example "
                f'password_command = "pass show mail/{account}").'
            ) from None
        raise SecretError(
            f"account {account!r}: {exc}. Use a Secret Service (gnome-keyring, KeePassXC) or "
            "password_command."
        ) from None
