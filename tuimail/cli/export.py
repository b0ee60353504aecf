"""`tuimail export ACCOUNT/FOLDER --mbox FILE | --maildir DIR`: a folder's exact message bytes.

Messages go out oldest first, one at a time (never the whole folder in memory). A message whose
exact bytes are not in the store (only its headers, or only its text without the attachments)
is named on standard error and skipped, and the command then exits 1; a message is never
written in part, nor rebuilt. File formats: `tuimail.mail.formats.export`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import BinaryIO, TextIO

from tuimail.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from tuimail.cli.locate import open_existing_store, resolve
from tuimail.config.schema import Config
from tuimail.core import paths
from tuimail.mail.formats.export import ExportError, Maildir, MboxFile, MboxStream
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.store.db import StoreConnection

_CHUNK = 200


def export_command(
    conn: StoreConnection,
    spec: str,
    *,
    mbox: str | None,
    maildir: str | None,
    out: TextIO,
    err: TextIO,
    binary_out: BinaryIO,
) -> int:
    """Export the folder `spec` names to an mbox file (``-``: standard output) or a Maildir."""
    target = resolve(conn, spec, need_folder=True)
    assert target.folder is not None
    where = sanitize_line(f"{target.account.name}/{target.folder.display_name}")
    ids = read.message_ids(conn, target.folder.id, descending=False)
    to_stdout = mbox == "-"
    if to_stdout and out.isatty():
        raise CommandError(
            "refusing to write an mbox to a terminal: redirect the output to a file or program",
            EXIT_USAGE,
        )
    try:
        if mbox is not None:
            sink: MboxFile | MboxStream | Maildir = (
                MboxStream(binary_out) if to_stdout else MboxFile(Path(mbox))
            )
        else:
            assert maildir is not None
            sink = Maildir(Path(maildir))
    except ExportError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    if to_stdout:
        out.flush()
    destination = "standard output" if to_stdout else str(mbox or maildir)
    exported = skipped = 0
    try:
        for row, body in _messages(conn, ids):
            if body is None:
                skipped += 1
                err.write(f"tuimail: message {row.id} skipped: {_why_missing(conn, row.id)}\n")
                continue
            if isinstance(sink, Maildir):
                sink.add(body, row.flags, row.internaldate or row.sort_date)
            else:
                sender = row.envelope.from_[0].email if row.envelope.from_ else None
                sink.add(body, sender, row.internaldate or row.sort_date)
            exported += 1
        sink.commit()
    except ExportError as exc:
        sink.abort()
        raise CommandError(str(exc), EXIT_FAILED) from None
    except BrokenPipeError:
        sink.abort()
        raise  # the reader stopped early: `main` ends quietly
    except OSError as exc:
        sink.abort()
        raise CommandError(f"writing {destination} failed: {exc.strerror or exc}") from None
    except BaseException:
        sink.abort()
        raise
    summary = f"{where}: {exported} message{'s' if exported != 1 else ''} exported to {destination}"
    if skipped:
        summary += (
            f"; {skipped} skipped because their exact bytes are not stored (only their headers, "
            "or their text without attachments): `tuimail sync --bodies` downloads them"
        )
    # With the mbox on standard output, the summary goes to standard error.
    (err if to_stdout else out).write(summary + "\n")
    return EXIT_FAILED if skipped else EXIT_OK


def _why_missing(conn: StoreConnection, message_id: int) -> str:
    if read.partial_body(conn, message_id) is not None:
        # The rebuilt text is not the message the server holds: it is never exported.
        return "only its text is in the store, not the exact message with its attachments"
    return "its body is not in the store"


def _messages(
    conn: StoreConnection, ids: Sequence[int]
) -> Iterator[tuple[read.MessageRow, bytes | None]]:
    """Rows in order with their bodies, one body in memory at a time."""
    for start in range(0, len(ids), _CHUNK):
        for row in read.rows(conn, ids[start : start + _CHUNK]):
            yield row, (read.body(conn, row.id) if row.body_local else None)


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """Export a folder of the local store to mbox or Maildir."""
    with closing(open_existing_store(paths.data_dir(args.data_dir))) as conn:
        return export_command(
            conn,
            args.target,
            mbox=args.mbox,
            maildir=args.maildir,
            out=sys.stdout,
            err=sys.stderr,
            binary_out=sys.stdout.buffer,
        )
