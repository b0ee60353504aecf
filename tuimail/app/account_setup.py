"""Account setup's work for the setup screen: looking up an address's servers, authorizing an
OAuth2 account, checking a new account's servers, and whether its password can be kept.

The setup screen (tuimail/ui/screens/setup.py) never connects and never touches a secret; the
app hands it these, run in a worker thread, each after asking the network gate (`closed`: why
nothing may connect now, or None). The app saves the account (tuimail.app.application).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tuimail.config.schema import AccountConfig

if TYPE_CHECKING:
    from tuimail.config.discovered import Autoconfig


def keyring_problem() -> str | None:
    """Why no system keyring can keep a password here (the setup screen then offers a
    password command first), or None."""
    from tuimail.auth.secrets import keyring_problem

    try:
        return keyring_problem()
    except Exception as exc:  # a broken keyring install: say it, the screen still works
        return f"the keyring could not be loaded ({type(exc).__name__}: {exc})"


def cannot_log_in(account: AccountConfig) -> bool:
    """A password account about to be saved without a password, a command or a keyring
    entry: it could not log in."""
    if not account.servers() or account.auth == "oauth2" or account.password_command:
        return False
    if any(server.password_command for server in account.servers()):
        return False
    from tuimail.auth.credentials import get_password
    from tuimail.auth.secrets import SecretError

    try:
        for server in account.servers():
            get_password(account, server.protocol)
    except SecretError:
        return True
    return False


def find_settings(
    address: str, progress: Callable[[str], None], ca_file: Path | None, closed: str | None
) -> Autoconfig:
    """Worker thread: the servers of `address` (autoconfig, MX, probes); with the gate
    `closed`, nothing is looked up (AutoconfigError says why)."""
    from tuimail.config.discovered import AutoconfigError
    from tuimail.sync.discovery.lookup import lookup
    from tuimail.sync.discovery.network import Network

    if closed is not None:
        raise AutoconfigError(f"{closed} Fill in the servers.")
    return lookup(address, Network(ca_file=ca_file), progress)


def authorize_oauth2(
    account: AccountConfig,
    show: Callable[[str], None],
    closed: str | None,
    browser_opener: Callable[[str], bool] | None,
) -> None:
    """Worker thread: `account`'s OAuth2 authorization (the refresh token goes to the keyring).

    The browser flow opens the system browser (or `browser_opener`) and listens on loopback;
    `show` gets the authorization address (to copy, if no browser opened) or the device flow's
    code. With the gate `closed`, nothing is contacted. Raises OAuthError.
    """
    from tuimail.auth.oauth import FlowUi, OAuthError, authorize  # only when asked

    if closed is not None:
        raise OAuthError(
            f"{closed.rstrip('.')}; when online, run `tuimail accounts authorize {account.name}`"
        )

    def open_browser(url: str) -> bool:
        show(f"The authorization address (open it in a browser if none opened):\n{url}")
        if browser_opener is not None:
            return browser_opener(url)
        import webbrowser

        try:
            browser = webbrowser.get()
            # A GenericBrowser is a terminal browser (or $BROWSER): it would take over this
            # screen, or block until it exits; the address is shown to copy instead.
            return not isinstance(browser, webbrowser.GenericBrowser) and browser.open(url)
        except webbrowser.Error:
            return False

    def ask(prompt: str) -> str:
        raise OAuthError("this flow reads an address from a terminal")

    authorize(account, FlowUi(open_browser, show, ask))


def check_servers(account: AccountConfig, password: str) -> tuple[str, bool]:
    """Worker thread: connect and log in to each server of a new account; the report in words
    and whether every server answered ok."""
    from tuimail.sync.check import check_server

    lines = []
    # No typed password: the account's own source (its password command, or the keyring).
    typed = (lambda: password) if password else None
    for server in account.servers():
        problem = check_server(account, server, timeout=20, password=typed)
        lines.append(f"{server.protocol.value.upper()}: {problem or 'ok'}")
    ok = bool(lines) and all(line.endswith(": ok") for line in lines)
    text = "; ".join(lines) or "A local account has no servers to check."
    if password and lines and (problem := keyring_problem()) is not None:
        # It logged in now, but saved it never could: the password would have nowhere to go.
        ok = False
        text += (
            f". But there is no keyring here to keep the password ({problem}): before "
            "saving, choose password command under Sign in with."
        )
    return text, ok
