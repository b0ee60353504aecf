"""The one way a login gets its secret: a password, or an OAuth access token.

`get_password(account, protocol)` dispatches on the account's `auth`: with "oauth2" it hands out
the current access token (`tuimail.auth.oauth`, refreshed when due), else the password from the
password commands or the keyring (`tuimail.auth.secrets`, in the documented order). Connections
take a `PasswordSource`, a callable that returns it, and read it through `checked()` once the
connection is protected; a token the server refused is dropped with `refused()`, so the next
call refreshes it. Every failure is a `SecretError` whose message says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable

from tuimail.auth.secrets import SecretError, cannot_be_sent, stored_password
from tuimail.config.schema import AccountConfig
from tuimail.core.log import register_secret
from tuimail.core.model import Protocol

PasswordSource = Callable[[], str]


def get_password(account: AccountConfig, protocol: Protocol) -> str:
    """The secret `account` logs in to its `protocol` server with: the current OAuth access
    token for auth = "oauth2", else the password. Raises SecretError with an actionable message
    when none can be had."""
    if account.auth == "oauth2":
        # Loaded only for OAuth accounts: it brings the HTTP client and server modules.
        from tuimail.auth.oauth import access_token

        return access_token(account)
    return stored_password(account, protocol)


def checked(source: PasswordSource) -> str:
    """The secret from `source`, registered for redaction; SecretError when there is none or it
    could not be sent to a server (a CR, LF or NUL would end the login command early)."""
    secret = source()
    if not secret:
        raise SecretError("the password is empty")
    register_secret(secret)
    if cannot_be_sent(secret):
        raise SecretError(
            "the password contains a line break or NUL character, which cannot be sent to a server"
        )
    return secret


def refused(token: str) -> None:
    """A server refused the OAuth access `token`: drop it, so the next one is refreshed."""
    from tuimail.auth.oauth import forget_access_token  # only OAuth logins get here

    forget_access_token(token)
