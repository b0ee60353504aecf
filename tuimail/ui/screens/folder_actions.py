"""The folder pane's folder actions: create (a name with the delimiter makes a subfolder),
rename and delete a folder, each asked for with a prompt (a delete with a yes/no question that
says how many messages go with it), and subscribe to a folder or unsubscribe from it.

Each is an intent written to the store (`store/folder_ops.py`): the pane shows it at once,
offline too, and the app replays it to the server (`IntentQueued`). What the store refuses
(INBOX and the special folders, invalid names, a name taken) is said in a notice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from textual.screen import Screen
from textual.widgets import OptionList

from tuimail.core.model import FolderRole
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import folder_ops, read
from tuimail.store.db import failure
from tuimail.ui.messages import IntentQueued, StoreUpdated
from tuimail.ui.screens.prompt import Confirm, LinePrompt


class FolderActions:
    """Create, rename and delete folders of `screen`'s folder pane (an OptionList whose options
    are folder ids, "#folders"), on the store connection `conn`."""

    def __init__(self, screen: Screen[None], conn: sqlite3.Connection) -> None:
        self.screen = screen
        self.conn = conn

    def run(self, action: str) -> None:
        """Do one of the pane's folder actions: "create", "rename", "delete" or "subscribe"."""
        {
            "create": self.create,
            "rename": self.rename,
            "delete": self.delete,
            "subscribe": self.subscribe,
        }[action]()

    @property
    def pane(self) -> OptionList:
        """The folder pane."""
        return self.screen.query_one("#folders", OptionList)

    def _highlighted(self) -> read.FolderInfo | None:
        """The folder highlighted in the pane (None: an entry that is no folder)."""
        index = self.pane.highlighted
        if index is None:
            return None
        option = self.pane.get_option_at_index(index).id
        if option is None or not option.isdigit():
            return None
        return read.folder(self.conn, int(option))

    def create(self) -> None:
        """Ask for a name and create the folder in the account of the highlighted folder (the
        only account, when there is one)."""
        here = self._highlighted()
        accounts = read.accounts(self.conn)
        if here is not None:
            account_id, account = here.account_id, here.account
        elif len(accounts) == 1:
            account_id, account = accounts[0].id, accounts[0].name
        else:
            self._tell("Highlight a folder of the account to create the folder in.")
            return
        delimiter = folder_ops.delimiter_of(self.conn, account_id)
        title = (
            f"New folder in {sanitize_line(account)} (a name with {delimiter} makes a"
            f" subfolder: Lists{delimiter}dev)"
        )

        def done(typed: str | None) -> None:
            if typed is None:
                return
            made = self._write(lambda: folder_ops.create(self.conn, account_id, typed))
            if isinstance(made, int):
                self._follow(account_id, f"Created the folder {typed}.", made)

        self._screen().app.push_screen(LinePrompt(title), done)

    def rename(self) -> None:
        """Ask for the highlighted folder's new name (its subfolders move with it)."""
        here = self._highlighted()
        if here is None:
            self._tell("Highlight the folder to rename.")
            return
        shown = sanitize_line(here.display_name)
        try:  # refused before asking: INBOX and the special folders keep their names
            folder_ops.check_rename(self.conn, here.id)
        except folder_ops.FolderOpError as exc:
            self._tell(str(exc))
            return

        def done(typed: str | None) -> None:
            if typed is None or typed == here.display_name:
                return
            renamed = self._write(lambda: folder_ops.rename(self.conn, here.id, typed))
            if renamed is not None:
                self._follow(here.account_id, f"Renamed the folder {shown} to {typed}.", here.id)

        title = f"Rename the folder {shown} to (its subfolders move with it):"
        self._screen().app.push_screen(LinePrompt(title, value=here.display_name), done)

    def delete(self) -> None:
        """Delete the highlighted folder after asking (how many messages go with it)."""
        here = self._highlighted()
        if here is None:
            self._tell("Highlight the folder to delete.")
            return
        try:
            count = folder_ops.check_delete(self.conn, here.id)
        except folder_ops.FolderOpError as exc:
            self._tell(str(exc))
            return
        shown = sanitize_line(here.display_name)
        if count:
            many = f"{count} message{'s' if count != 1 else ''}"
            question = (
                f"Delete the folder {shown} and the {many} in it? They are deleted with it,"
                " on the server too; this cannot be undone."
            )
        else:
            question = f"Delete the empty folder {shown}?"

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            screen = self._screen()
            if getattr(screen, "current_place", None) == (here.id,):
                # The folder shown goes: the screen shows another place.
                screen.current_place = None  # type: ignore[attr-defined]
            gone = self._write(lambda: folder_ops.delete(self.conn, here.id))
            if gone is not None:
                self._follow(here.account_id, f"Deleted the folder {shown}.")

        self._screen().app.push_screen(Confirm(question, default=False), answered)

    def subscribe(self) -> None:
        """Subscribe to the highlighted folder, or unsubscribe from it (no question: the
        same key takes it back). An account that shows only subscribed folders hides it once
        the subscriptions view (T) is left."""
        here = self._highlighted()
        if here is None:
            self._tell("Highlight the folder to subscribe to or unsubscribe from.")
            return
        wanted = here.subscribed is False
        shown = sanitize_line(here.display_name)
        done = self._write(lambda: folder_ops.subscribe(self.conn, here.id, wanted))
        if done is None:
            return
        hidden: frozenset[str] = getattr(self.pane, "subscribed_only", frozenset())
        if wanted:
            text = f"Subscribed to the folder {shown}."
        elif (
            here.account in hidden
            and here.role is FolderRole.NONE
            and not getattr(self.pane, "showing_subscriptions", True)
        ):
            text = (
                f"Unsubscribed from the folder {shown}: it is no longer shown or synced"
                " (T shows every folder)."
            )
            screen = self._screen()
            if getattr(screen, "current_place", None) == (here.id,):
                # The folder shown leaves the list: the screen shows another place.
                screen.current_place = None  # type: ignore[attr-defined]
        else:
            text = f"Unsubscribed from the folder {shown}."
        self._follow(here.account_id, text, here.id)

    def _write(self, change: Callable[[], object]) -> object | None:
        """Run a store change; a refusal or a failure of the store is said, and None returned."""
        try:
            return change()
        except folder_ops.FolderOpError as exc:
            self._tell(str(exc))
        except Exception as exc:
            problem = failure(exc, self.conn)
            if problem is None:
                raise
            self._tell(f"The folder was not changed: {problem}")
        return None

    def _follow(self, account_id: int, text: str, folder_id: int | None = None) -> None:
        """The pane and the screen show the change (the folder's new name in the title); the
        app replays it to the server."""
        screen = self._screen()
        # No revision: what is shown is read again.
        screen.post_message(StoreUpdated(() if folder_id is None else (folder_id,)))
        screen.post_message(IntentQueued(account_id))
        self.pane.app.notify(sanitize_line(text), markup=False)

    def _tell(self, text: str) -> None:
        self.pane.app.notify(sanitize_line(text), severity="warning", markup=False)

    def _screen(self) -> Screen[None]:
        return self.screen
