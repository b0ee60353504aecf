"""Account setup: fill in an account, check the connection, save it to the config file.

The screen collects the fields and shows results. The app checks the servers (in a worker),
appends the account to the config file and puts the password in the keyring. "Find settings"
(or enter in the address field) looks the address's servers up the way Thunderbird does
(`tuimail.autoconfig`, in a thread worker, so the screen never waits) and fills in the fields,
saying where they came from; the user can change them before saving. An unencrypted server is
filled in only after the user says so. Problems are shown in plain words, naming the field.
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
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from tuimail.config import AccountConfig, ConfigError, account_toml, parse_config
from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.messages import SetupCheck, SetupSave

if TYPE_CHECKING:
    from tuimail.autoconfig import Autoconfig, ServerSetting

# address, progress(line) -> what was found; runs in a worker thread.
# (address, progress, extra CA file or None) -> what was found; the app supplies it, since the
# screen never opens a connection itself.
Lookup = Callable[[str, Callable[[str], None], "Path | None"], "Autoconfig"]

INCOMING = [("IMAP (mail stays on the server, synced)", "imap"),
            ("POP3 (mail is downloaded)", "pop3"),
            ("none (a local account)", "none")]  # fmt: skip
SECURITY = [("TLS (implicit, ports 993/995/465)", "tls"),
            ("STARTTLS (ports 143/110/587)", "starttls")]  # fmt: skip
# Offered only after the user chose an unencrypted server that the lookup found.
PLAINTEXT = ("none: UNENCRYPTED (password readable on the network)", "none")
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
    AccountSetupScreen #welcome {
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
    """

    def __init__(
        self,
        existing: Iterable[str] = (),
        *,
        first_run: bool = False,
        lookup: Lookup | None = None,
    ) -> None:
        super().__init__()
        self.existing = set(existing)
        self.first_run = first_run
        self._lookup = lookup  # None: the form is filled in by hand only
        self.found: Autoconfig | None = None  # what the last lookup found

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            if self.first_run:
                yield Static(
                    Text(
                        "Welcome to tuimail. Set up your first account (or press escape and try "
                        "`tuimail demo`). The password goes to the system keyring, never to the "
                        "config file."
                    ),
                    id="welcome",
                )
            with Grid(id="form"):
                for label, widget in self._fields():
                    yield Label(label)
                    yield widget
            with Horizontal(id="buttons"):
                yield Button("Find settings", id="find")
                yield Button("Check the connection", id="check", variant="primary")
                yield Button("Save", id="save", variant="success")
                yield Button("Use the unencrypted server", id="use_plaintext", variant="error")
            yield Static(id="found")
            yield Static(id="report")
        yield Footer()

    def _fields(self) -> list[tuple[str, Any]]:
        return [
            ("Account name", Input(placeholder="work (letters, digits, - and _)", id="name")),
            ("Email address", Input(placeholder="alice@example.org", id="address")),
            ("Your name", Input(placeholder="Alice Example", id="display_name")),
            ("Incoming mail", Select(INCOMING, value="imap", allow_blank=False, id="incoming")),
            ("Incoming server", Input(placeholder="imap.example.org", id="in_host")),
            ("Incoming port", Input(placeholder="default", id="in_port", type="integer")),
            ("Incoming security", Select(SECURITY, value="tls", allow_blank=False, id="in_sec")),
            ("Outgoing server", Input(placeholder="smtp.example.org (empty: none)", id="out_host")),
            ("Outgoing port", Input(placeholder="default", id="out_port", type="integer")),
            ("Outgoing security", Select(SECURITY, value="tls", allow_blank=False, id="out_sec")),
            ("User name", Input(placeholder="default: the email address", id="username")),
            ("Password", Input(password=True, id="password")),
            ("Extra CA file", Input(placeholder="optional: a self-signed server", id="ca_file")),
        ]

    def on_mount(self) -> None:
        self.sub_title = "Add an account"
        self.query_one("#name", Input).focus()

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
        servers: dict[str, dict[str, str | int | bool]] = {}
        username = self._value("username")
        incoming = self.query_one("#incoming", Select).value
        if incoming in ("imap", "pop3"):
            servers[str(incoming)] = self._server("in", username)
        if self._value("out_host"):
            servers["smtp"] = self._server("out", username)
        return name, account_toml(name, settings, servers)

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
        if found is not None:
            account, text = found
            self.app.post_message(SetupSave(account, text, self._password()))

    def _password(self) -> str:
        # Not stripped: spaces at either end can be part of a password.
        return self.query_one("#password", Input).value

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
        ca_file = Path(self._value("ca_file")).expanduser() if self._value("ca_file") else None
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
            found = self._lookup(
                address, partial(self.app.call_from_thread, self._progress), ca_file
            )
        except Exception as exc:  # a bad address, offline, or a bug: say it, keep the form usable
            self.app.call_from_thread(self.show_report, f"Find settings: {exc}")
            self.app.call_from_thread(self._show_found, Text(""))
            return
        self.app.call_from_thread(self._apply_found, found)

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
        username = (incoming or smtp).username if (incoming or smtp) else ""
        self.query_one("#username", Input).value = username if username != address else ""

    def _fill_server(self, prefix: str, setting: ServerSetting) -> None:
        self.query_one(f"#{prefix}_host", Input).value = setting.host
        self.query_one(f"#{prefix}_port", Input).value = str(setting.port)
        self.query_one(f"#{prefix}_sec", Select).value = setting.security.value

    def _describe(self, found: Autoconfig, warnings: Iterable[str]) -> None:
        text = Text("\n".join(found.describe()))
        text.append("\nCheck the fields (you can change them), then save.")
        for warning in warnings:
            text.append(f"\nWarning: {sanitize_line(warning)}", style="bold")
        self._show_found(text)
