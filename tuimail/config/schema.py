"""The configuration's shape: the typed settings, and the checks of every key's value.

Every error names the file, the key and what is wrong (`ConfigError`). `docs/config.md` documents
every key; a test checks that the two agree (`KNOWN_KEYS`). Reading a file is `config.load`,
adding an account to one is `config.write`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuimail.core.model import Protocol, Security

ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Ports when the table names none: implicit TLS ports, or the STARTTLS / plain ones.
DEFAULT_PORTS: dict[Protocol, dict[Security, int]] = {
    Protocol.IMAP: {Security.TLS: 993, Security.STARTTLS: 143, Security.NONE: 143},
    Protocol.POP3: {Security.TLS: 995, Security.STARTTLS: 110, Security.NONE: 110},
    Protocol.SMTP: {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 587},
}
INCOMING = (Protocol.IMAP, Protocol.POP3)
DEFAULT_READ_TIMEOUT = 20.0  # seconds
DEFAULT_COMMAND_TIMEOUT = 300.0  # seconds: a large message on a slow link still arrives


class ConfigError(Exception):
    """A configuration problem, phrased for the user: file, key, and what is wrong."""

    def __init__(self, path: Path | None, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = str(path) if path else "configuration"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {problem}")


BODIES_CHOICES = ("all", "recent", "none")


@dataclass(frozen=True, slots=True)
class BodyPolicy:
    """Which message bodies an IMAP account keeps for offline reading (`imap.bodies`): every
    one ("all"), those of messages dated within `days` days ("recent"), or none ("none": a body
    comes when its message is opened). `max_kib` (0: no limit) leaves larger messages to be
    fetched when opened. The sync downloads them after the headers, newest first."""

    keep: str = "all"  # one of BODIES_CHOICES
    days: int = 30  # "recent": messages whose date is within this many days
    max_kib: int = 0  # messages larger than this many KiB are not downloaded ahead; 0: no limit

    def wants_any(self) -> bool:
        """Whether the policy asks for any body at all."""
        return self.keep != "none"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server of an account (IMAP, POP3 or SMTP)."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    password_command: str | None = None
    # POP3 only: what happens on the server after a message is downloaded.
    leave_on_server: bool = True
    delete_after_days: int = 0
    # POP3 only: seconds between automatic fetches in the app (0: only on demand).
    interval: int = 300
    # IMAP only: which bodies each sync downloads for offline reading (`bodies`, `bodies_days`,
    # `bodies_max_kib`); the rest come when their message is opened.
    bodies: BodyPolicy = BodyPolicy()
    # IMAP only: COMPRESS=DEFLATE (RFC 4978) after login where the server offers it: True
    # always, False never, "auto" unless the connection is over loopback, where no byte crosses
    # a network and compressing would only cost both ends' time.
    compress: bool | str = "auto"
    # IMAP only, for servers without UIDPLUS: what happens to the messages a delete or move
    # leaves marked \Deleted ("ask": shown, expunged by the user's key; "always": the folder
    # is expunged at once; "never": left marked). See EXPUNGE_CHOICES.
    expunge: str = "ask"
    # IMAP only: show and sync only the folders the user subscribed to (the inbox and the
    # special folders always); False: every folder the server lists.
    subscribed_only: bool = False
    # SMTP only: keep a copy of each sent message in the Sent folder (IMAP APPEND, or locally).
    sent_copy: bool = True
    # SMTP only: seconds a queued message waits before it is sent (undo send).
    undo_send_seconds: int = 10
    # SMTP only: the name given in EHLO; None: the machine's (see connect.smtp_client_name).
    helo_name: str | None = None
    # The account's `auth` ("password" or "oauth2"), copied here so logins know what to send.
    auth: str = "password"
    # IMAP and POP3: seconds one read may wait for the server (`timeout`), and seconds the server
    # has for its greeting or for the whole answer to one command (`command_timeout`): a server
    # that trickles bytes never trips the first.
    timeout: float = DEFAULT_READ_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT


OAUTH2_PROVIDERS = ("google", "microsoft", "custom")
OAUTH2_FLOWS = ("browser", "paste", "device")
AUTH_CHOICES = ("password", "oauth2")
EXPUNGE_CHOICES = ("ask", "always", "never")


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    """An account's [oauth2] table: which authorization server, which client, which flow."""

    provider: str
    client_id: str
    client_secret: str | None = None
    client_secret_command: str | None = None
    tenant: str = "common"  # Microsoft only: "common", "organizations", "consumers" or an id
    auth_url: str | None = None
    token_url: str | None = None
    device_url: str | None = None
    scopes: tuple[str, ...] = ()
    flow: str = "browser"


@dataclass(frozen=True, slots=True)
class Identity:
    """One address an account writes as: the address, the name shown with it, and its
    signature (`signature` text, or the file `signature_file`, read when a message is begun)."""

    address: str
    name: str = ""
    signature: str = ""
    signature_file: Path | None = None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account: an identity, one incoming server (or none: a local account), optional SMTP."""

    name: str
    address: str
    display_name: str = ""
    password_command: str | None = None
    ca_file: Path | None = None
    # Folders whose new mail is announced (fnmatch patterns; INBOX in any case). () for none.
    notify_folders: tuple[str, ...] = ("INBOX",)
    incoming: ServerConfig | None = None
    smtp: ServerConfig | None = None
    auth: str = "password"  # one of AUTH_CHOICES
    oauth2: OAuth2Config | None = None  # set when auth = "oauth2"
    signature: str = ""
    signature_file: Path | None = None
    # The other addresses the account writes as ([[accounts.NAME.identities]]); the account's
    # own address comes first in `all_identities`.
    identities: tuple[Identity, ...] = ()

    def all_identities(self) -> tuple[Identity, ...]:
        """The account's own identity (its address, name and signature), then the others."""
        own = Identity(self.address, self.display_name, self.signature, self.signature_file)
        return (own, *self.identities)

    # The authserv-id of the account's own receiving server: its Authentication-Results
    # verdicts (SPF, DKIM, DMARC) are shown; None: none is trusted, none shown.
    authserv_id: str | None = None

    def servers(self) -> tuple[ServerConfig, ...]:
        """The configured servers, incoming first."""
        return tuple(s for s in (self.incoming, self.smtp) if s is not None)

    def server(self, protocol: Protocol) -> ServerConfig | None:
        """The server for `protocol`, or None when the account has none."""
        return next((s for s in self.servers() if s.protocol == protocol), None)


@dataclass(frozen=True, slots=True)
class UiConfig:
    """Settings of the terminal app."""

    theme: str | None = None
    opener: str | None = None  # the command that opens an attachment; None: the platform's
    browser: str | None = None  # the command that opens a message's HTML; None: $BROWSER, opener
    # The main screen's initial pane sizes (keys change them while the app runs).
    folder_width: int | None = None  # columns; None: a quarter of the terminal, 16 to 28
    list_percent: int = 45  # the message list's share of the height beside the folders
    # The message view wraps text at this many columns, or at the pane's width when narrower.
    wrap_width: int = 90


@dataclass(frozen=True, slots=True)
class ComposeConfig:
    """Settings of the composer: where address completion looks besides the store."""

    # vCard files, or directories searched for *.vcf (khard / vdirsyncer layout); ~ expanded.
    address_books: tuple[Path, ...] = ()
    # A shell command printing `address<TAB>name` lines for the typed text (aerc's contract).
    address_book_command: str | None = None
    # The command's first line is a status line to skip (mutt's query_command format).
    address_book_skip_first_line: bool = False


NOTIFY_DESKTOP_CHOICES = ("auto", "notify-send", "terminal", "off")


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """New-mail notifications beyond the app's own (which follow `notify_folders`)."""

    desktop: str = "auto"  # one of NOTIFY_DESKTOP_CHOICES
    min_interval: int = 60  # seconds between two notifications for one folder


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. `path` is the file it came from (None: built-in defaults)."""

    path: Path | None = None
    ui: UiConfig = field(default_factory=UiConfig)
    accounts: Mapping[str, AccountConfig] = field(default_factory=dict)
    # [keys]: action id -> key string ("j,down"), replacing the app's default keys.
    keys: Mapping[str, str] = field(default_factory=dict)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)


# --- the schema: key -> checker. Each checker takes (value, key path) and returns the typed value.

Checker = Callable[[Any, str], Any]


# A host name for EHLO: dot-separated labels of letters, digits and inner hyphens.
_HELO_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class _Checks:
    """Value checkers; they raise Invalid with a user-facing description."""

    @staticmethod
    def string(value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, not {toml_type(value)}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise Invalid("must be a single line (no line breaks or NUL characters)")
        return value

    @staticmethod
    def nonempty(value: Any, key: str) -> str:
        text = _Checks.string(value, key).strip()
        if not text:
            raise Invalid("must not be empty")
        return text

    @staticmethod
    def address(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key)
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain or any(c.isspace() or c in "<>," for c in text):
            raise Invalid(f"{text!r} is not an email address like alice@example.org")
        return text

    @staticmethod
    def host(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key)
        if any(c.isspace() or c in "/@" for c in text):
            raise Invalid(f"{text!r} is not a host name or address")
        return text

    @staticmethod
    def helo_name(value: Any, key: str) -> str:
        text = _Checks.nonempty(value, key).strip()
        literal = text.startswith("[") and text.endswith("]")
        if not literal and not _HELO_NAME.fullmatch(text):
            raise Invalid(
                f"{text!r} is not a host name (letters, digits, '-' and '.', like "
                "mail.example.org) or an address literal like [192.0.2.1]"
            )
        if literal and (any(c.isspace() for c in text) or not text.isascii()):
            raise Invalid(f"{text!r} is not an address literal like [192.0.2.1]")
        return text

    @staticmethod
    def port(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, not {toml_type(value)}")
        if not 1 <= value <= 65535:
            raise Invalid(f"{value} is not a port number (1 to 65535)")
        return value

    @staticmethod
    def security(value: Any, key: str) -> Security:
        text = _Checks.string(value, key)
        try:
            return Security(text)
        except ValueError:
            hint = did_you_mean(text, [s.value for s in Security])
            raise Invalid(f'{text!r} is not one of "tls", "starttls", "none"{hint}') from None

    @staticmethod
    def boolean(value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, not {toml_type(value)}")
        return value

    @staticmethod
    def compress(value: Any, key: str) -> bool | str:
        if isinstance(value, bool) or value == "auto":
            return value
        shown = repr(value) if isinstance(value, str) else toml_type(value)
        raise Invalid(f'must be true, false or "auto", not {shown}')

    @staticmethod
    def days(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of days, not {toml_type(value)}")
        if value < 0:
            raise Invalid("must be 0 (never) or more")
        return value

    @staticmethod
    def bodies(value: Any, key: str) -> str:
        if isinstance(value, bool):  # the setting's first form: true is "all", false "none"
            return "all" if value else "none"
        if not isinstance(value, str):
            raise Invalid(f'must be "all", "recent" or "none", not {toml_type(value)}')
        if value not in BODIES_CHOICES:
            hint = did_you_mean(value, list(BODIES_CHOICES))
            raise Invalid(f'{value!r} is not one of "all", "recent", "none"{hint}')
        return value

    @staticmethod
    def bodies_days(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of days, not {toml_type(value)}")
        if not 1 <= value <= 36500:
            raise Invalid("must be between 1 and 36500 days")
        return value

    @staticmethod
    def kib(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of KiB, not {toml_type(value)}")
        if value < 0:
            raise Invalid("must be 0 (no limit) or more")
        return value

    @staticmethod
    def seconds(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of seconds, not {toml_type(value)}")
        if value < 0:
            raise Invalid("must be 0 (only on demand) or more")
        return value

    @staticmethod
    def timeout(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"must be a number of seconds, not {toml_type(value)}")
        if not 0 < value <= 3600:
            raise Invalid("must be more than 0 and at most 3600 seconds")
        return float(value)

    @staticmethod
    def grace_seconds(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of seconds, not {toml_type(value)}")
        if not 0 <= value <= 3600:
            raise Invalid("must be between 0 (send at once) and 3600 seconds")
        return value

    @staticmethod
    def folder_width(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of columns, not {toml_type(value)}")
        if not 12 <= value <= 120:
            raise Invalid("must be between 12 and 120 columns")
        return value

    @staticmethod
    def list_percent(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number (percent), not {toml_type(value)}")
        if not 15 <= value <= 85:
            raise Invalid("must be between 15 and 85 (percent)")
        return value

    @staticmethod
    def wrap_width(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of columns, not {toml_type(value)}")
        if not 20 <= value <= 1000:
            raise Invalid("must be between 20 and 1000 columns")
        return value

    @staticmethod
    def signature(value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, not {toml_type(value)}")
        if found := re.search("[\x00-\x08\x0b-\x1f\x7f]", value.replace("\r\n", "\n")):
            raise Invalid(f"contains a control character (U+{ord(found.group()):04X})")
        return value.replace("\r\n", "\n")

    @staticmethod
    def file(value: Any, key: str) -> Path:
        text = _Checks.nonempty(value, key)
        try:
            path = Path(text).expanduser()
            if not path.is_file():
                raise Invalid(f"{str(path)!r} does not exist or is not a file")
        except (OSError, RuntimeError) as exc:  # no such user's home, a name too long, no access
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise Invalid(f"{text!r} cannot be used: {why}") from None
        if not os.access(path, os.R_OK):
            raise Invalid(f"{str(path)!r} cannot be read (no permission)")
        return path


class Invalid(Exception):
    """Raised by a checker; turned into a ConfigError with file and key."""


class _ListChecks:
    """Checkers of the address book and notification keys (arrays and choices)."""

    @staticmethod
    def strings(value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Invalid(f"must be an array of strings, not {toml_type(value)}")
        return tuple(_Checks.nonempty(item, key) for item in value)

    @staticmethod
    def paths(value: Any, key: str) -> tuple[Path, ...]:
        # Not required to exist yet (a vdirsyncer directory may appear later): the composer
        # says what it could not read.
        return tuple(Path(item).expanduser() for item in _ListChecks.strings(value, key))

    @staticmethod
    def folder_patterns(value: Any, key: str) -> tuple[str, ...]:
        return _ListChecks.strings(value, key)

    @staticmethod
    def desktop(value: Any, key: str) -> str:
        text = _Checks.string(value, key)
        if text not in NOTIFY_DESKTOP_CHOICES:
            choices = ", ".join(f'"{c}"' for c in NOTIFY_DESKTOP_CHOICES)
            hint = did_you_mean(text, list(NOTIFY_DESKTOP_CHOICES))
            raise Invalid(f"{text!r} is not one of {choices}{hint}")
        return text

    @staticmethod
    def interval(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number of seconds, not {toml_type(value)}")
        if not 0 <= value <= 86400:
            raise Invalid("must be between 0 (no limit) and 86400 seconds")
        return value


class _OAuth2Checks:
    """Checkers of the [accounts.NAME.oauth2] keys."""

    @staticmethod
    def choice(value: Any, choices: tuple[str, ...]) -> str:
        text = _Checks.string(value, "")
        if text not in choices:
            names = ", ".join(f'"{c}"' for c in choices)
            raise Invalid(f"{text!r} is not one of {names}{did_you_mean(text, list(choices))}")
        return text

    @staticmethod
    def url(value: Any, key: str) -> str:
        from urllib.parse import urlsplit

        text = _Checks.nonempty(value, key)
        parts = urlsplit(text)
        if parts.scheme == "https" and parts.hostname:
            return text
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return text  # a local authorization server (RFC 8252 loopback)
        raise Invalid(f"{text!r} is not an https:// URL (http:// is only allowed for loopback)")

    @staticmethod
    def scopes(value: Any, key: str) -> tuple[str, ...]:
        scopes = _ListChecks.strings(value, key)
        if any(" " in scope for scope in scopes):
            raise Invalid("a scope must not contain spaces (list each scope separately)")
        return scopes


OAUTH2_KEYS: dict[str, Checker] = {
    "provider": lambda value, key: _OAuth2Checks.choice(value, OAUTH2_PROVIDERS),
    "client_id": _Checks.nonempty,
    "client_secret": _Checks.nonempty,
    "client_secret_command": _Checks.nonempty,
    "tenant": _Checks.nonempty,
    "auth_url": _OAuth2Checks.url,
    "token_url": _OAuth2Checks.url,
    "device_url": _OAuth2Checks.url,
    "scopes": _OAuth2Checks.scopes,
    "flow": lambda value, key: _OAuth2Checks.choice(value, OAUTH2_FLOWS),
}


COMPOSE_KEYS: dict[str, Checker] = {
    "address_books": _ListChecks.paths,
    "address_book_command": _Checks.nonempty,
    "address_book_skip_first_line": _Checks.boolean,
}
NOTIFY_KEYS: dict[str, Checker] = {
    "desktop": _ListChecks.desktop,
    "min_interval": _ListChecks.interval,
}


UI_KEYS: dict[str, Checker] = {
    "theme": _Checks.nonempty,
    "opener": _Checks.nonempty,
    "browser": _Checks.nonempty,
    "folder_width": _Checks.folder_width,
    "list_percent": _Checks.list_percent,
    "wrap_width": _Checks.wrap_width,
}
ACCOUNT_KEYS: dict[str, Checker] = {
    "address": _Checks.address,
    "display_name": _Checks.string,
    "password_command": _Checks.nonempty,
    "ca_file": _Checks.file,
    "notify_folders": _ListChecks.folder_patterns,
    "authserv_id": _Checks.nonempty,
    "auth": lambda value, key: _OAuth2Checks.choice(value, AUTH_CHOICES),
    "signature": _Checks.signature,
    "signature_file": _Checks.file,
}
# [[accounts.NAME.identities]]: the other addresses of an account.
IDENTITY_KEYS: dict[str, Checker] = {
    "address": _Checks.address,
    "name": _Checks.string,
    "signature": _Checks.signature,
    "signature_file": _Checks.file,
}
SERVER_KEYS: dict[str, Checker] = {
    "host": _Checks.host,
    "port": _Checks.port,
    "security": _Checks.security,
    "username": _Checks.nonempty,
    "password_command": _Checks.nonempty,
}
INCOMING_KEYS: dict[str, Checker] = {
    **SERVER_KEYS,
    "timeout": _Checks.timeout,
    "command_timeout": _Checks.timeout,
}
POP3_KEYS: dict[str, Checker] = {
    **INCOMING_KEYS,
    "leave_on_server": _Checks.boolean,
    "delete_after_days": _Checks.days,
    "interval": _Checks.seconds,
}
IMAP_KEYS: dict[str, Checker] = {
    **INCOMING_KEYS,
    "bodies": _Checks.bodies,
    "bodies_days": _Checks.bodies_days,
    "bodies_max_kib": _Checks.kib,
    "compress": _Checks.compress,
    "expunge": lambda value, key: _OAuth2Checks.choice(value, EXPUNGE_CHOICES),
    "subscribed_only": _Checks.boolean,
}
SMTP_KEYS: dict[str, Checker] = {
    **SERVER_KEYS,
    "sent_copy": _Checks.boolean,
    "undo_send_seconds": _Checks.grace_seconds,
    "helo_name": _Checks.helo_name,
}
PROTOCOL_KEYS: dict[Protocol, dict[str, Checker]] = {
    Protocol.IMAP: IMAP_KEYS,
    Protocol.POP3: POP3_KEYS,
    Protocol.SMTP: SMTP_KEYS,
}
TOP_KEYS = ("ui", "accounts", "keys", "compose", "notify")
# The actions whose keys [keys] may change: the ids of the app's key bindings (a test checks
# that the app defines exactly these).
KEY_ACTIONS: tuple[str, ...] = (
    # main screen
    "quit", "next-pane", "back", "search", "search-all", "help", "toggle-read", "toggle-flag",
    "delete", "undo", "move", "copy", "compose", "reply", "reply-all", "forward", "outbox", "sort",
    "health", "get-mail", "save-attachments", "open-attachment", "add-account", "expunge",
    "next-unread",
    "open-html", "open-html-remote", "pipe",
    # main screen: panes
    "folders-pane", "view-pane", "folders-narrower", "folders-wider", "view-smaller",
    "view-larger",
    # message list
    "up", "down", "page-up", "page-down", "first", "last", "open", "threads", "thread-fold",
    "conversation", "sort-reverse",
    # message list: marking messages to act on together; the main screen's whole-folder read
    "mark", "mark-range", "mark-all", "unmark-all", "mark-all-read",
    # message view (the pager)
    "view-line-down", "view-line-up", "view-page-down", "view-page-up", "view-top",
    "view-bottom", "view-next", "view-previous", "view-headers", "view-quotes", "view-links",
    "view-close",
    # composer
    "send", "send-later", "edit-externally", "attach", "drop-attachment", "discard",
    "choose-from", "show-copies",
    # outbox
    "outbox-take-back", "outbox-retry", "outbox-remove", "outbox-confirm-sent",
    # drafts: main screen, composer
    "forward-attached", "edit-draft", "save-draft",
    # folder pane: the folder actions; subscriptions
    "folder-create", "folder-rename", "folder-delete", "folder-subscribe", "folder-subscriptions",
    # mailing lists: reply to the list, to the sender only; unsubscribe
    "reply-list", "reply-private", "unsubscribe",
)  # fmt: skip
KEY_STRING_RE = re.compile(r"^[^\s,]+(,[^\s,]+)*$")

# Every documented key, as written in docs/config.md (a test compares the two).
KNOWN_KEYS: tuple[str, ...] = (
    *(f"ui.{k}" for k in UI_KEYS),
    *(f"compose.{k}" for k in COMPOSE_KEYS),
    *(f"notify.{k}" for k in NOTIFY_KEYS),
    "keys.ACTION",
    *(f"accounts.NAME.{k}" for k in ACCOUNT_KEYS),
    *(f"accounts.NAME.{p.value}.{k}" for p, keys in PROTOCOL_KEYS.items() for k in keys),
    *(f"accounts.NAME.oauth2.{k}" for k in OAUTH2_KEYS),
    *(f"accounts.NAME.identities.{k}" for k in IDENTITY_KEYS),
)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def did_you_mean(word: str, choices: list[str]) -> str:
    """' (did you mean ...?)' with the closest of `choices`, or ''."""
    import difflib  # only for a config with a mistake

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def toml_type(value: Any) -> str:
    """What a TOML value is, in words ('a string', 'a table')."""
    match value:
        case bool():
            return "a boolean"
        case int():
            return "a number"
        case float():
            return "a decimal number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "a table"
    return type(value).__name__
