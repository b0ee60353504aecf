"""`tuimail show ID`: one stored message, rendered and sanitized, or its exact bytes with --raw.

A message of which only the text is local (a partial body: opened in the app, attachments not
downloaded) is shown with its attachments marked "not downloaded"; `--raw` refuses it, since
the local bytes were rebuilt and are not the server's.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from email.utils import format_datetime
from typing import BinaryIO, TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from tuimail.cli.locate import open_existing_store
from tuimail.config.schema import Config
from tuimail.core import paths
from tuimail.core.model import Address
from tuimail.mail.attachments import render_partial
from tuimail.mail.parse import parse_message
from tuimail.mail.render import render_message
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import StoreConnection


def show_command(
    conn: StoreConnection,
    message_id: int,
    *,
    raw: bool,
    force: bool,
    out: TextIO,
    binary_out: BinaryIO,
) -> int:
    """Print message `message_id`; with `raw`, write its stored bytes to `binary_out`.

    Raw bytes go to a terminal only with `force`: a message can hold escape sequences.
    """
    if raw and not force and (out.isatty() or binary_out.isatty()):
        raise CommandError(
            "refusing to write a raw message to a terminal: it may hold escape sequences that "
            "the terminal would obey; redirect the output to a file or a program, or add --force",
            EXIT_USAGE,
        )
    row = read.row(conn, message_id)
    if row is None:
        raise CommandError(f"there is no message {message_id} in the local store", EXIT_FAILED)
    body = read.body(conn, message_id)
    partial = read.partial_body(conn, message_id) if body is None else None
    if body is None and partial is None:
        raise CommandError(
            f"message {message_id} has only its headers in the local store: its body has not "
            "been downloaded yet",
            EXIT_FAILED,
        )
    if raw:
        if body is None:
            # The local text was rebuilt without the attachments: never pass it off as the
            # server's bytes.
            raise CommandError(
                f"message {message_id}: only its text is in the local store, not the exact "
                "message (its attachments were not downloaded); get it with `tuimail sync "
                "--bodies`, or by saving an attachment in the app",
                EXIT_FAILED,
            )
        out.flush()
        binary_out.write(body)
        binary_out.flush()
        return EXIT_OK
    folder = read.folder(conn, row.folder_id)
    place = "?" if folder is None else f"{folder.account}/{folder.name}"
    out.write(_headers(row, place))
    out.write("\n")
    if partial is not None:
        text = render_partial(partial.raw, partial.omitted)
        text += (
            '\n\n[Only the text of this message is local; the attachments marked "not '
            'downloaded" come with `tuimail sync --bodies` or when saved in the app.]'
        )
    else:
        assert body is not None
        text = render_message(parse_message(body), body)
    out.write(text + "\n" if text else "")
    return EXIT_OK


def _headers(row: read.MessageRow, place: str) -> str:
    env = row.envelope
    lines = [("From", _addresses(env.from_)), ("To", _addresses(env.to))]
    if env.cc:
        lines.append(("Cc", _addresses(env.cc)))
    lines.append(("Date", format_datetime(env.date) if env.date else "(none)"))
    lines.append(("Subject", env.subject or "(no subject)"))
    lines.append(("Folder", place))
    return "".join(f"{name}: {sanitize_line(value)}\n" for name, value in lines)


def _addresses(addresses: tuple[Address, ...]) -> str:
    return ", ".join(str(a) for a in addresses) if addresses else "(none)"


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    """Show one message from the local store."""
    with closing(open_existing_store(paths.data_dir(args.data_dir))) as conn:
        return show_command(
            conn,
            args.id,
            raw=args.raw,
            force=args.force,
            out=sys.stdout,
            binary_out=sys.stdout.buffer,
        )
