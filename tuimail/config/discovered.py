"""What an account-settings lookup finds: the servers, where they came from, and the choice.

Plain data about server settings (no network): `tuimail.sync.discovery` fills it in, and the
setup screen and `tuimail accounts add` show it and write the chosen servers into an account.

Ranking: a setting tuimail can log in to (a password) comes first, then implicit TLS before
STARTTLS before plaintext, IMAP before POP3, then the file's order. A plaintext setting is never
chosen silently: `choose(allow_plaintext=False)` leaves it out with a warning, and the caller
asks for an explicit choice. OAuth2 is recorded as a hint (tuimail signs in with passwords).

Host names are validated when a setting is made, but the other text here (user names,
authentication methods, addresses) comes from a server's file: `describe`, `summary` and the
warnings go through `tuimail.mail.sanitize.sanitize_line` before they are shown.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tuimail.core.model import Protocol, Security

# Authentication values (clientConfig v1.1) that mean "log in with the password", which is
# what tuimail does (over TLS). "plain" is an old synonym still found in some files.
PASSWORD_AUTH = frozenset({"password-cleartext", "plain"})
OAUTH2 = "OAuth2"
_SECURITY_RANK = {Security.TLS: 0, Security.STARTTLS: 1, Security.NONE: 2}
_PROTOCOL_RANK = {Protocol.IMAP: 0, Protocol.POP3: 1, Protocol.SMTP: 0}


class AutoconfigError(Exception):
    """The address cannot be looked up (it is not an address), or a file is unusable."""


class SourceKind(enum.StrEnum):
    """Where settings came from."""

    ISP = "the provider's autoconfig server"
    WELL_KNOWN = "the domain's well-known autoconfig address"
    ISPDB = "the Thunderbird ISPDB"
    MX = "the Thunderbird ISPDB, for the domain of the mail (MX) server"
    GUESS = "guessed and probed"


@dataclass(frozen=True, slots=True)
class ServerSetting:
    """One server a source offers, placeholders already replaced."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    authentication: tuple[str, ...] = ("password-cleartext",)

    @property
    def password_login(self) -> bool:
        """Whether tuimail can log in here (with a password)."""
        return any(a in PASSWORD_AUTH for a in self.authentication)

    @property
    def oauth2(self) -> bool:
        """Whether the provider offers OAuth2 sign-in here."""
        return OAUTH2 in self.authentication

    def summary(self) -> str:
        """One line: protocol, host:port, security, user name (raw: sanitize before showing)."""
        security = {
            Security.TLS: "TLS",
            Security.STARTTLS: "STARTTLS",
            Security.NONE: "UNENCRYPTED",
        }[self.security]
        return (
            f"{self.protocol.value.upper():<4} {self.host}:{self.port} {security}, "
            f"user {self.username}"
        )


@dataclass(frozen=True, slots=True)
class Autoconfig:
    """What a lookup found for an address: ranked servers, where from, and what was tried."""

    address: str
    source: SourceKind | None = None
    source_url: str = ""
    insecure_source: bool = False  # fetched over plain http
    provider: str = ""  # the file's displayName, sanitized
    incoming: tuple[ServerSetting, ...] = ()
    outgoing: tuple[ServerSetting, ...] = ()
    tried: tuple[str, ...] = ()  # one line per source, what it gave

    @property
    def found(self) -> bool:
        """Whether any server was found."""
        return bool(self.incoming or self.outgoing)

    def choose(self, *, allow_plaintext: bool = False) -> Choice:
        """The settings to use, with the warnings to show the user."""
        warnings: list[str] = []
        if self.insecure_source:
            warnings.append(
                f"These settings were fetched over unencrypted HTTP ({self.source_url}): anyone "
                "on the network could have changed them. Check the server names before saving."
            )
        incoming, needs_in = _pick(self.incoming, "incoming", allow_plaintext, warnings)
        smtp, needs_out = _pick(self.outgoing, "outgoing", allow_plaintext, warnings)
        if any(s.oauth2 for s in (incoming, smtp) if s is not None):
            warnings.append(
                'The provider also offers OAuth2 sign-in (auth = "oauth2"); for the password '
                "login it may want an app password."
            )
        return Choice(incoming, smtp, tuple(warnings), needs_in or needs_out)

    def describe(self) -> list[str]:
        """Lines saying where the settings came from and every server found, ranked (raw: each
        line goes through `sanitize_line` before it is shown)."""
        if not self.found:
            return ["No settings were found."]
        origin = self.source.value if self.source else "unknown"
        if self.source_url:
            origin += f" ({self.source_url})"
        lines = [f"Found in {origin}" + (f": {self.provider}" if self.provider else "")]
        for setting in (*self.incoming, *self.outgoing):
            notes = []
            if setting.security is Security.NONE:
                notes.append("password and mail unencrypted")
            if not setting.password_login:
                notes.append("no password login (" + ", ".join(setting.authentication) + ")")
            lines.append(f"  {setting.summary()}" + (f"  [{'; '.join(notes)}]" if notes else ""))
        return lines


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen incoming and outgoing servers (either may be None) and the warnings."""

    incoming: ServerSetting | None
    smtp: ServerSetting | None
    warnings: tuple[str, ...] = ()
    plaintext_withheld: bool = False  # a plaintext setting exists and was not chosen


def _pick(
    ranked: Sequence[ServerSetting], kind: str, allow_plaintext: bool, warnings: list[str]
) -> tuple[ServerSetting | None, bool]:
    usable = [s for s in ranked if s.password_login]
    encrypted = [s for s in usable if s.security is not Security.NONE]
    if encrypted:
        return encrypted[0], False
    if usable:
        plain = usable[0]
        where = f"{plain.host}:{plain.port}"
        if allow_plaintext:
            warnings.append(
                f"The {kind} server {where} is UNENCRYPTED: your password and mail cross the "
                "network readable by anyone on the way."
            )
            return plain, False
        warnings.append(
            f"Only an unencrypted {kind} server was found ({where}): it was not chosen, since "
            "your password and mail would cross the network readable. Choose it explicitly "
            "only if you trust every network in between."
        )
        return None, True
    if ranked:
        methods = ", ".join(sorted({a for s in ranked for a in s.authentication}))
        warnings.append(
            f"The {kind} servers found accept only {methods} sign-in, which tuimail does not do "
            "yet."
        )
    return None, False


def rank(settings: Iterable[ServerSetting]) -> tuple[ServerSetting, ...]:
    """Password login first, then implicit TLS, STARTTLS, plaintext; IMAP before POP3; then the
    given order."""
    indexed = list(enumerate(settings))
    indexed.sort(
        key=lambda item: (
            not item[1].password_login,
            _SECURITY_RANK[item[1].security],
            _PROTOCOL_RANK[item[1].protocol],
            item[0],
        )
    )
    return tuple(setting for _, setting in indexed)
