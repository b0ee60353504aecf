"""The composer's From: which of the account's identities a message is written as, and its
signature.

A new message, a reply and a forward start from an identity (for an answer, the one the
original was sent to: `mail.identity.pick_identity`) with its signature at the end of the body;
the composer's From picker (ctrl+f) switches identity, and with it the signature while the body
still ends with the old one unchanged. A signature file that cannot be read leaves the message
without a signature and says so: nothing written is lost for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tuimail.config.schema import Identity
from tuimail.core.model import Address, Draft
from tuimail.mail.identity import (
    SignatureError,
    pick_identity,
    read_signature,
    received_addresses,
    signature_block,
    swap_signature,
    with_signature,
)
from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.host import Sender
from tuimail.ui.screens.link_picker import LinkPicker


def identity_address(identity: Identity) -> Address:
    """The From address of `identity`."""
    return Address(identity.name, identity.address)


def _identities(sender: Sender) -> tuple[Identity, ...]:
    own = Identity(sender.address.email, sender.address.name)
    return sender.identities or (own,)


def identity_of(sender: Sender, address: Address) -> Identity | None:
    """The identity of `sender`'s account with `address` (any case), or None."""
    email = address.email.lower()
    return next((i for i in _identities(sender) if i.address.lower() == email), None)


def block_of(identity: Identity | None, warn: Callable[[str], object] | None = None) -> str:
    """The signature block of `identity` ("" for none, or when its file cannot be read: then
    `warn` is told why)."""
    if identity is None:
        return ""
    try:
        return signature_block(read_signature(identity.signature, identity.signature_file))
    except SignatureError as exc:
        if warn is not None:
            warn(f"{exc}. The message has no signature.")
        return ""


def begin(
    screen: Screen[None], sender: Sender, draft: Draft, *, answering: bytes | None = None
) -> Draft:
    """`draft` from the identity it starts with (for an answer to the message `answering`,
    the one that message was sent to; else the account's own), its signature at the end."""
    identities = _identities(sender)
    chosen = identities[0]
    if answering is not None:
        index = pick_identity(received_addresses(answering), [i.address for i in identities])
        if index is not None:
            chosen = identities[index]

    def warn(words: str) -> None:
        screen.notify(words, severity="warning", markup=False)

    body = with_signature(draft.body, block_of(chosen, warn))
    return replace(draft, from_=identity_address(chosen), body=body)


def kept_identity(sender: Sender, address: Address) -> Address:
    """A reopened draft's From: its own when that is still one of the account's identities,
    else the account's."""
    identity = identity_of(sender, address)
    return identity_address(identity) if identity is not None else sender.address


class IdentityPicker(LinkPicker):
    """The From picker: dismisses with the chosen identity's line, or None on escape; the
    cursor starts on the identity written as (`current`, an index of `links`)."""

    def __init__(self, lines: list[str], current: int = 0) -> None:
        super().__init__(lines)
        self.current = current

    def on_mount(self) -> None:
        # Textual runs the LinkPicker's on_mount too (it puts the cursor on the first line):
        # this runs after both.
        self.call_later(self._on_current)

    def _on_current(self) -> None:
        self.query_one(OptionList).highlighted = self.current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Write as? (enter chooses, escape cancels)", markup=False)
            yield OptionList(
                *(
                    Option(Text(f"{number:>2}  {line}", no_wrap=True, overflow="ellipsis"))
                    for number, line in enumerate(self.links, 1)
                ),
                id="picker-identities",
            )


def choose(
    screen: Screen[None], sender: Sender, current: Address, body: str, done: Callable[..., None]
) -> None:
    """Offer the account's identities; `done(address, body)` gets the chosen From and the
    body with its signature switched (left as it is when the old one was changed)."""
    identities = _identities(sender)
    if len(identities) < 2:
        screen.notify(
            f"{sanitize_line(current.email)} is the account's only address: add others as "
            "[[accounts.NAME.identities]] in the config.",
            markup=False,
        )
        return
    lines = [sanitize_line(str(identity_address(i))) for i in identities]
    mine = identity_of(sender, current)
    at = identities.index(mine) if mine in identities else 0

    def chosen(line: str | None) -> None:
        if line is None:
            return
        identity = identities[lines.index(line)]
        old = block_of(identity_of(sender, current))
        new = block_of(identity, lambda words: screen.notify(words, markup=False))
        swapped = swap_signature(body, old, new)
        if swapped is None:
            screen.notify("The signature was changed, so it is left as it is.", markup=False)
        done(identity_address(identity), body if swapped is None else swapped)

    screen.app.push_screen(IdentityPicker(lines, at), chosen)
