"""Account setup: fill in an account, check the connection, save it to the config file.

The screen collects the fields and shows results. The app checks the servers (in a worker),
appends the account to the config file and puts the password in the keyring. "Find settings"
(or enter in the address field) looks the address's servers up the way Thunderbird does
(`tuimail.sync.discovery.lookup`, in a thread worker, so the screen never waits) and fills
in the fields,
saying where they came from; the user can change them before saving. An unencrypted server is
filled in only after the user says so. Problems are shown in plain words, naming the field.

"Sign in with" chooses a password (kept in the keyring), a password command (a command that
prints it, `password_command` in the config: the way without a keyring, which the screen then
chooses and says so; a typed password is then refused rather than saved where it could never
log in) or OAuth2 (a provider preset or any
authorization server; the account gets `auth = "oauth2"` and its `[oauth2]` table). When the lookup
says a Google or Microsoft server signs in with OAuth2, that is preselected. After an OAuth2
account is saved the screen offers "Authorize now": the app runs the flow (the screen never
touches the network) and the screen shows the authorization address, or the device code, and the
outcome; "Later" says to run `tuimail accounts authorize NAME`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Select, Static

from tuimail.config.load import parse_config
from tuimail.config.schema import AccountConfig, ConfigError
from tuimail.config.write import account_toml
from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.host import app_host
from tuimail.ui.messages import SetupCheck, SetupSave
from tuimail.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from tuimail.config.discovered import Autoconfig, ServerSetting

# address, progress(line) -> what was found; runs in a worker thread.
# (address, progress, extra CA file or None) -> what was found; the app supplies it, since the
# screen never opens a connection itself.
Lookup = Callable[[str, Callable[[str], None], "Path | None"], "Autoconfig"]
# (account, show(text)) -> None once the refresh token is stored; raises (OAuthError) saying
# what went wrong. Runs in a worker thread; the app supplies it (it owns the network).
Authorize = Callable[[AccountConfig, Callable[[str], None]], None]

INCOMING = [("IMAP (mail stays on the server, synced)", "imap"),
            ("POP3 (mail is downloaded)", "pop3"),
            ("none (a local account)", "none")]  # fmt: skip
SECURITY = [("TLS (implicit, ports 993/995/465)", "tls"),
            ("STARTTLS (ports 143/110/587)", "starttls")]  # fmt: skip
# Offered only after the user chose an unencrypted server that the lookup found.
PLAINTEXT = ("none: UNENCRYPTED (password readable on the network)", "none")
SIGN_IN = [("password (kept in the system keyring)", "password"),
           ("password command (prints the password: pass, gpg, …)", "command"),
           ("OAuth2 (sign in at the provider's page)", "oauth2")]  # fmt: skip
PROVIDERS = [("Google (Gmail)", "google"),
             ("Microsoft (Outlook.com, Microsoft 365)", "microsoft"),
             ("other (name its endpoints)", "custom")]  # fmt: skip
FLOWS = [("browser (opens here, listens on 127.0.0.1)", "browser"),
         ("device (a code to enter on another device)", "device")]  # fmt: skip
# Mail hosts whose provider has an OAuth2 preset: a host equal to or under one of these.
OAUTH2_HOSTS = {
    "gmail.com": "google",
    "googlemail.com": "google",
    "office365.com": "microsoft",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "live.com": "microsoft",
}
# Which rows of the form each choice shows (a row's label and widget carry the class).
ROW_CLASSES = ("row-password", "row-command", "row-oauth", "row-microsoft", "row-custom")
# Where a field's problem is reported: config key suffix -> the label the user sees.
FIELD_LABELS = {
    "address": "Email address",
    "display_name": "Your name",
    "ca_file": "Extra CA file",
    "imap.host": "Incoming server",
    "pop3.host": "Incoming server",
    "imap.port": "Incoming port",
    "pop3.port": "Incoming port",
    "smtp.host": "Outgoing server",
    "smtp.port": "Outgoing port",
    "auth": "Sign in with",
    "password_command": "Password command",
    "oauth2": "Sign in with",
    "oauth2.provider": "Provider",
    "oauth2.client_id": "Client id",
    "oauth2.client_secret": "Client secret",
    "oauth2.tenant": "Tenant",
    "oauth2.auth_url": "Authorization URL",
    "oauth2.token_url": "Token URL",
    "oauth2.device_url": "Device URL",
    "oauth2.scopes": "Scopes",
    "oauth2.flow": "Authorization flow",
}


class AccountSetupScreen(Screen[None]):
    """The form; `Check` and `Save` ask the app, which answers with `show_report`."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Cancel")]
    DEFAULT_CSS = """
    AccountSetupScreen #form {
        grid-size: 2;
        grid-columns: 20 1fr;
        grid-rows: auto;
        grid-gutter: 1 1;
        height: auto;
        padding: 1 2;
    }
    AccountSetupScreen #form Label {
        text-style: bold;
    }
    AccountSetupScreen #form Input {
        border: none;
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    AccountSetupScreen #form Input:focus {
        background: $boost;
    }
    AccountSetupScreen #form Select > SelectCurrent {
        border: none;
        height: 1;
        padding: 0 1;
    }
    AccountSetupScreen #welcome, AccountSetupScreen #keyring_note {
        padding: 1 2 0 2;
    }
    AccountSetupScreen #buttons {
        height: auto;
        padding: 0 2;
    }
    AccountSetupScreen #buttons Button {
        margin-right: 2;
    }
    AccountSetupScreen #report {
        padding: 1 2;
    }
    AccountSetupScreen #found {
        padding: 0 2;
    }
    AccountSetupScreen #use_plaintext {
        display: none;
    }
    AccountSetupScreen #use_plaintext.offered {
        display: block;
    }
    AccountSetupScreen .unused-row {
        display: none;
    }
    AccountSetupScreen #authorize_bar {
        display: none;
        height: auto;
        padding: 1 2 0 2;
    }
    AccountSetupScreen #authorize_bar.offered {
        display: block;
    }
    AccountSetupScreen #authorize_bar Button {
        margin-right: 2;
    }
    AccountSetupScreen #flow {
        padding: 0 2;
    }
    """

    def __init__(
        self,
        existing: Iterable[str] = (),
        *,
        first_run: bool = False,
        lookup: Lookup | None = None,
        authorize: Authorize | None = None,
        keyring_problem: str | None = None,
    ) -> None:
        """`keyring_problem`: why no system keyring can keep a password here (the app asks
        tuimail.auth.secrets); then a password command is chosen and a typed password refused."""
        super().__init__()
        self.keyring_problem = keyring_problem
        self.existing = set(existing)
        self.first_run = first_run
        self._lookup = lookup  # None: the form is filled in by hand only
        self._authorize = authorize  # None: the user authorizes with the CLI command
        self.found: Autoconfig | None = None  # what the last lookup found
        self.saved: AccountConfig | None = None  # an OAuth2 account saved, to authorize
        self._flow_lines: list[str] = []  # what the authorization flow has shown so far

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            if self.first_run:
                yield Static(
                    Text(
                        "Welcome to tuimail. Set up your first account (or press escape and try "
                        "`tuimail demo`). The password goes to the system keyring (or comes from "
                        "a command you name), never to the config file."
                    ),
                    id="welcome",
                )
            if self.keyring_problem:
                yield Static(
                    Text(
                        "A typed password cannot be kept here: "
                        f"{sanitize_line(self.keyring_problem)}. "
                        "Sign in with a password command: a command that prints the password, "
                        "such as `pass show mail/work` or `cat ~/.config/tuimail/work.pass` "
                        "(a file only you can read).",
                        style="bold",
                    ),
                    id="keyring_note",
                )
            with Grid(id="form"):
                for label, widget, row in self._fields():
                    yield Label(label, classes=row)
                    if row:
                        widget.add_class(row)
                    yield widget
            with Horizontal(id="buttons"):
                yield Button("Find settings", id="find")
                yield Button("Check the connection", id="check", variant="primary")
                yield Button("Save", id="save", variant="success")
                yield Button("Use the unencrypted server", id="use_plaintext", variant="error")
            yield Static(id="found")
            yield Static(id="report")
            with Horizontal(id="authorize_bar"):
                yield Button("Authorize now", id="authorize", variant="primary")
                yield Button("Later", id="later")
            yield Static(id="flow")
        yield Footer()

    def _fields(self) -> list[tuple[str, Any, str]]:
        """(label, widget, row class: which sign-in choice shows the row; "" for always)."""
        return [
            ("Account name", Input(placeholder="work (letters, digits, - and _)", id="name"), ""),
            ("Email address", Input(placeholder="alice@example.org", id="address"), ""),
            ("Your name", Input(placeholder="Alice Example", id="display_name"), ""),
            ("Incoming mail", Select(INCOMING, value="imap", allow_blank=False, id="incoming"), ""),
            ("Incoming server", Input(placeholder="imap.example.org", id="in_host"), ""),
            ("Incoming port", Input(placeholder="default", id="in_port", type="integer"), ""),
            (
                "Incoming security",
                Select(SECURITY, value="tls", allow_blank=False, id="in_sec"),
                "",
            ),
            (
                "Outgoing server",
                Input(placeholder="smtp.example.org (empty: none)", id="out_host"),
                "",
            ),
            ("Outgoing port", Input(placeholder="default", id="out_port", type="integer"), ""),
            (
                "Outgoing security",
                Select(SECURITY, value="tls", allow_blank=False, id="out_sec"),
                "",
            ),
            ("User name", Input(placeholder="default: the email address", id="username"), ""),
            ("Sign in with", Select(SIGN_IN, value="password", allow_blank=False, id="auth"), ""),
            ("Password", Input(password=True, id="password"), "row-password"),
            (
                "Password command",
                Input(placeholder="pass show mail/work", id="password_command"),
                "row-command",
            ),
            (
                "Provider",
                Select(PROVIDERS, value="google", allow_blank=False, id="oauth_provider"),
                "row-oauth",
            ),
            (
                "Client id",
                Input(placeholder="registered with the provider (see the README)", id="client_id"),
                "row-oauth",
            ),
            (
                "Client secret",
                Input(placeholder="optional: if the provider issued one", id="client_secret"),
                "row-oauth",
            ),
            ("Tenant", Input(value="common", id="tenant"), "row-microsoft"),
            (
                "Authorization URL",
                Input(placeholder="https://…/authorize", id="auth_url"),
                "row-custom",
            ),
            ("Token URL", Input(placeholder="https://…/token", id="token_url"), "row-custom"),
            (
                "Device URL",
                Input(placeholder="optional: https://…/device", id="device_url"),
                "row-custom",
            ),
            ("Scopes", Input(placeholder="separated by spaces", id="scopes"), "row-custom"),
            (
                "Authorization flow",
                Select(FLOWS, value="browser", allow_blank=False, id="oauth_flow"),
                "row-oauth",
            ),
            (
                "Extra CA file",
                Input(placeholder="optional: a self-signed server", id="ca_file"),
                "",
            ),
        ]

    def on_mount(self) -> None:
        self.sub_title = "Add an account"
        if self.keyring_problem:  # a typed password could not be kept
            self.query_one("#auth", Select).value = "command"
        self._show_sign_in_rows()
        self.query_one("#name", Input).focus()

    # --- password or OAuth2 ----------------------------------------------------------------------

    def _choice(self, field: str) -> str:
        return str(self.query_one(f"#{field}", Select).value)

    @property
    def uses_oauth2(self) -> bool:
        """Whether the form describes an OAuth2 account."""
        return self._choice("auth") == "oauth2"

    @on(Select.Changed, "#auth")
    @on(Select.Changed, "#oauth_provider")
    def _show_sign_in_rows(self) -> None:
        """Show the rows of the sign-in choice; the password field is disabled with OAuth2."""
        oauth2 = self.uses_oauth2
        provider = self._choice("oauth_provider")
        shown = {
            "row-password": self._choice("auth") == "password",
            "row-command": self._choice("auth") == "command",
            "row-oauth": oauth2,
            "row-microsoft": oauth2 and provider == "microsoft",
            "row-custom": oauth2 and provider == "custom",
        }
        for row in ROW_CLASSES:
            for widget in self.query(f".{row}"):
                widget.set_class(not shown[row], "unused-row")
        self.query_one("#password", Input).disabled = self._choice("auth") != "password"

    def choose_sign_in(self, auth: str, provider: str | None = None) -> None:
        """Select password or OAuth2 (and its provider) as if the user had."""
        self.query_one("#auth", Select).value = auth
        if provider is not None:
            self.query_one("#oauth_provider", Select).value = provider
        self._show_sign_in_rows()

    def _oauth2_table(self) -> dict[str, Any]:
        provider = self._choice("oauth_provider")
        table: dict[str, Any] = {"provider": provider, "client_id": self._value("client_id")}
        if self._value("client_secret"):
            table["client_secret"] = self._value("client_secret")
        if provider == "microsoft" and self._value("tenant"):
            table["tenant"] = self._value("tenant")
        if provider == "custom":
            for field in ("auth_url", "token_url", "device_url"):
                if self._value(field):
                    table[field] = self._value(field)
            table["scopes"] = self._value("scopes").replace(",", " ").split()
        if self._choice("oauth_flow") != "browser":
            table["flow"] = self._choice("oauth_flow")
        return table

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def account_text(self) -> tuple[str, str]:
        """(account name, the account's TOML) from the form, not yet validated."""
        name = self._value("name") or self._value("address").partition("@")[0] or "mail"
        settings: dict[str, str | int | bool] = {"address": self._value("address")}
        if self._value("display_name"):
            settings["display_name"] = self._value("display_name")
        if self._value("ca_file"):
            settings["ca_file"] = self._value("ca_file")
        tables: dict[str, dict[str, Any]] = {}
        if self.uses_oauth2:
            settings["auth"] = "oauth2"
            tables["oauth2"] = self._oauth2_table()
        elif self._choice("auth") == "command":
            settings["password_command"] = self._value("password_command")
        username = self._value("username")
        incoming = self.query_one("#incoming", Select).value
        if incoming in ("imap", "pop3"):
            tables[str(incoming)] = self._server("in", username)
        if self._value("out_host"):
            tables["smtp"] = self._server("out", username)
        return name, account_toml(name, settings, tables)

    def _server(self, prefix: str, username: str) -> dict[str, str | int | bool]:
        table: dict[str, str | int | bool] = {"host": self._value(f"{prefix}_host")}
        if self._value(f"{prefix}_port"):
            table["port"] = int(self._value(f"{prefix}_port"))
        table["security"] = str(self.query_one(f"#{prefix}_sec", Select).value)
        if username:
            table["username"] = username
        return table

    def validated(self) -> tuple[AccountConfig, str] | None:
        """The account the form describes, or None after showing what is wrong."""
        name, text = self.account_text()
        if name in self.existing:
            self.show_report(f"An account named {name!r} exists already; choose another name.")
            return None
        try:
            account = parse_config(text).accounts[name]
        except ConfigError as exc:
            if exc.key and exc.key.endswith(".password_command"):  # empty
                self.show_report(
                    "Password command: type a command that prints the password "
                    "(e.g. pass show mail/work)."
                )
            else:
                self.show_report(self._in_words(exc))
            return None
        return account, text

    @staticmethod
    def _in_words(exc: ConfigError) -> str:
        key = (exc.key or "").split(".", 2)[-1]
        label = FIELD_LABELS.get(key)
        if label is None and exc.key and exc.key.count(".") == 1:
            label = "Account name"
        return f"{label or 'The account'}: {exc.problem}"

    def show_report(self, text: str, *, ok: bool = False) -> None:
        """Show the result of a check or a save (text from servers is sanitized here)."""
        style = "green" if ok else "bold red"
        self.query_one("#report", Static).update(Text(sanitize_line(text), style=style))

    @on(Button.Pressed, "#check")
    def _check(self) -> None:
        found = self.validated()
        if found is not None:
            self.show_report("Checking…", ok=True)
            self.app.post_message(SetupCheck(found[0], self._password()))

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        found = self.validated()
        if found is None:
            return
        account, text = found
        if self._choice("auth") == "password" and self.keyring_problem and account.servers():
            # Saved, it could never log in: say so and keep the form, nothing written.
            self.show_report(
                "Not saved: there is no keyring here to keep the password "
                f"({sanitize_line(self.keyring_problem)}). Sign in with: choose password "
                "command, and name a command that prints the password."
            )
            return
        self.app.post_message(SetupSave(account, text, self._password()))

    def _password(self) -> str:
        if self._choice("auth") != "password":
            # OAuth2 has a refresh token (it comes later); a password command runs when needed.
            return ""
        # Not stripped: spaces at either end can be part of a password.
        return self.query_one("#password", Input).value

    # --- authorizing an OAuth2 account after it was saved --------------------------------------

    def offer_authorization(self, account: AccountConfig) -> None:
        """The app saved `account` (OAuth2): offer to authorize it now, or later with the CLI."""
        self.saved = account
        self.existing.add(account.name)
        for button in ("find", "check", "save"):
            self.query_one(f"#{button}", Button).disabled = True
        self.query_one("#authorize_bar").add_class("offered")
        self.query_one("#authorize", Button).focus()
        self.show_report(
            f"Account {account.name!r} saved. Authorize now: tuimail opens the provider's "
            "sign-in page, and the refresh token it gets goes to the system keyring.",
            ok=True,
        )

    def _run_later(self, name: str) -> str:
        return f"run `tuimail accounts authorize {name}` to authorize it"

    @on(Button.Pressed, "#later")
    def authorize_later(self) -> None:
        """The user skips the authorization: say how to do it later."""
        if self.saved is None:
            return
        self.query_one("#authorize_bar").remove_class("offered")
        self.show_report(
            f"Not authorized yet: {self._run_later(self.saved.name)}; press escape to close.",
            ok=True,
        )

    @on(Button.Pressed, "#authorize")
    def authorize_now(self) -> None:
        """Run the app's authorization flow for the saved account in a worker thread."""
        if self.saved is None:
            return
        if self._authorize is None:
            self.show_report(
                f"Authorizing is not available here: {self._run_later(self.saved.name)}."
            )
            return
        self.query_one("#authorize", Button).disabled = True
        self._flow_lines = []
        self._show_flow("Authorizing…")
        self.run_worker(
            partial(self._authorize_in_thread, self.saved),
            thread=True,
            exclusive=True,
            group="oauth2",
            exit_on_error=False,
            description="authorize the account",
        )

    def _from_worker(self, callback: Callable[..., object], *args: object) -> None:
        """From this screen's worker threads: run `callback` on the app's thread without waiting
        for it, so a lookup or check that ends while the app quits never holds up its exit."""
        app_host(self.app).call_from_worker(callback, *args)

    def _authorize_in_thread(self, account: AccountConfig) -> None:
        assert self._authorize is not None  # authorize_now checked
        try:
            self._authorize(account, partial(self._from_worker, self._show_flow))
        except Exception as exc:  # OAuthError, the keyring refused, or a bug: say it, stay usable
            self._from_worker(self._authorize_failed, account, str(exc) or repr(exc))
        else:
            self._from_worker(self._authorized, account)

    def _show_flow(self, text: str) -> None:
        """Add what the flow shows (addresses, a device code: from the config and the server)."""
        if not self.is_mounted:
            return
        self._flow_lines += [sanitize_line(line) for line in text.split("\n")]
        self.query_one("#flow", Static).update(Text("\n".join(self._flow_lines)))

    def _authorized(self, account: AccountConfig) -> None:
        if not self.is_mounted:
            return
        self.query_one("#authorize_bar").remove_class("offered")
        self.show_report(
            f"Authorized: the refresh token is in the keyring (entry {account.name}/oauth). "
            "Press escape to close.",
            ok=True,
        )

    def _authorize_failed(self, account: AccountConfig, problem: str) -> None:
        if not self.is_mounted:
            return
        self.query_one("#authorize", Button).disabled = False
        self.show_report(
            f"Not authorized: {problem}. Try again, or {self._run_later(account.name)}."
        )

    # --- finding the settings from the address -----------------------------------------------

    @on(Button.Pressed, "#find")
    @on(Input.Submitted, "#address")
    def find_settings(self) -> None:
        """Look up the address's servers in a worker; the result fills in the form."""
        address = self._value("address")
        if "@" not in address:
            self.show_report("Email address: type it first, then find its settings.")
            return
        if self._lookup is None:
            self.show_report("Finding settings is not available here; fill in the servers.")
            return
        ca_file = None
        if self._value("ca_file"):
            try:
                ca_file = Path(self._value("ca_file")).expanduser()
            except RuntimeError as exc:  # "~someone/ca.pem" with no such user
                self.show_report(f"{FIELD_LABELS['ca_file']}: {exc}")
                return
        self.query_one("#use_plaintext", Button).remove_class("offered")
        self._show_found(Text(f"Looking up the settings for {sanitize_line(address)}…"))
        self.run_worker(
            partial(self._find_in_thread, address, ca_file),
            thread=True,
            exclusive=True,
            group="autoconfig",
            exit_on_error=False,
            description="find the account's settings",
        )

    def _find_in_thread(self, address: str, ca_file: Path | None) -> None:
        assert self._lookup is not None  # find_settings checked
        try:
            found = self._lookup(address, partial(self._from_worker, self._progress), ca_file)
        except Exception as exc:  # a bad address, offline, or a bug: say it, keep the form usable
            self._from_worker(self.show_report, f"Find settings: {exc}")
            self._from_worker(self._show_found, Text(""))
            return
        self._from_worker(self._apply_found, found)

    def _progress(self, line: str) -> None:
        if self.is_mounted:
            self._show_found(Text(sanitize_line(line)))

    def _show_found(self, text: Text) -> None:
        if self.is_mounted:
            self.query_one("#found", Static).update(text)

    def _apply_found(self, found: Autoconfig) -> None:
        """Fill the form with the best settings found and say where they came from."""
        if not self.is_mounted:
            return
        self.found = found
        if not found.found:
            tried = "\n".join(f"  {line}" for line in found.tried[-8:])
            self._show_found(Text(f"No settings were found; fill in the servers.\n{tried}"))
            return
        choice = found.choose()
        self._fill(choice.incoming, choice.smtp)
        self._describe(found, choice.warnings)
        self._suggest_oauth2(choice.incoming, choice.smtp)
        if choice.plaintext_withheld:
            self.query_one("#use_plaintext", Button).add_class("offered")

    @on(Button.Pressed, "#use_plaintext")
    def use_plaintext(self) -> None:
        """The user chose the unencrypted server the lookup found (shown with its warning)."""
        if self.found is None:
            return
        choice = self.found.choose(allow_plaintext=True)
        for field in ("in_sec", "out_sec"):
            self.query_one(f"#{field}", Select).set_options([*SECURITY, PLAINTEXT])
        self._fill(choice.incoming, choice.smtp)
        self._describe(self.found, choice.warnings)
        self.query_one("#use_plaintext", Button).remove_class("offered")

    def _fill(self, incoming: ServerSetting | None, smtp: ServerSetting | None) -> None:
        address = self._value("address")
        if incoming is not None:
            self.query_one("#incoming", Select).value = incoming.protocol.value
            self._fill_server("in", incoming)
        if smtp is not None:
            self._fill_server("out", smtp)
        given = incoming or smtp
        username = given.username if given is not None else ""
        self.query_one("#username", Input).value = username if username != address else ""

    def _fill_server(self, prefix: str, setting: ServerSetting) -> None:
        self.query_one(f"#{prefix}_host", Input).value = setting.host
        self.query_one(f"#{prefix}_port", Input).value = str(setting.port)
        self.query_one(f"#{prefix}_sec", Select).value = setting.security.value

    def _describe(self, found: Autoconfig, warnings: Iterable[str]) -> None:
        text = Text("\n".join(sanitize_line(line) for line in found.describe()))
        text.append("\nCheck the fields (you can change them), then save.")
        for warning in warnings:
            text.append(f"\nWarning: {sanitize_line(warning)}", style="bold")
        self._show_found(text)

    def _suggest_oauth2(self, incoming: ServerSetting | None, smtp: ServerSetting | None) -> None:
        """A Google or Microsoft server that signs in with OAuth2: preselect it, and say so."""
        servers = [s for s in (incoming, smtp) if s is not None]
        if not any(s.oauth2 for s in servers):
            return
        provider = next((p for s in servers if (p := oauth2_provider_for(s.host))), None)
        if provider is None:
            return
        self.choose_sign_in("oauth2", provider)
        name = dict((value, label) for label, value in PROVIDERS)[provider]
        text = self.query_one("#found", Static).render()
        shown = text.copy() if isinstance(text, Text) else Text(str(text))
        shown.append(
            f"\nSign in with: OAuth2 ({name}) is chosen, as the provider asks; fill in your "
            "client id (the README says how to register one), or choose password.",
            style="bold",
        )
        self._show_found(shown)


def oauth2_provider_for(host: str) -> str | None:
    """The OAuth2 preset ("google", "microsoft") for a mail host, or None."""
    host = host.lower().rstrip(".")
    for domain, provider in OAUTH2_HOSTS.items():
        if host == domain or host.endswith("." + domain):
            return provider
    return None
