"""Named durable steps, and a test-only switch that kills the process at one of them.

Engines call ``crashpoint("pop3.after_commit")`` at every step that must survive a crash. Normally
that costs one comparison. When the environment variable ``TUIMAIL_CRASH_AT`` names the step, the
process ends right there with ``os._exit(CRASH_EXIT_CODE)``: no cleanup, no ``finally``, no
flushing of buffers, no closing of connections, as if the machine lost power (except that what
reached the kernel stays). ``TUIMAIL_CRASH_AT=name:3`` crashes the third time the step is reached
(in the middle of a batch). The variable is read once, at import.

Every step used in the code is listed in ``KNOWN_CRASHPOINTS`` and in docs/crashpoints.md; a test
keeps the three in agreement.
"""

from __future__ import annotations

import itertools
import os

ENV_VAR = "TUIMAIL_CRASH_AT"
# Distinctive, and outside the codes a normal run uses (0 ok, 1 error, 2 usage).
CRASH_EXIT_CODE = 77

# Step name -> what has just become durable (or is about to happen) at that point.
# Names are "<area>.<step>"; add a row here and in docs/crashpoints.md with each new call.
KNOWN_CRASHPOINTS: dict[str, str] = {
    "pop3.mid_retr": "part of a RETR answer was read; nothing of the message is stored",
    "pop3.before_commit": "a batch of messages is written but not committed (rolled back)",
    "pop3.after_commit": "a batch and its UIDLs are committed; no DELE for it was sent",
    "pop3.after_dele": "a DELE was acknowledged; it takes effect only at QUIT, not sent yet",
    "imap.headers_committed": "a batch of message headers is committed; the folder is not done",
    "imap.expunges_committed": "messages the server expunged are removed; folder state unchanged",
    "imap.flags_committed": "flag changes from the server are stored; HIGHESTMODSEQ not advanced",
    "imap.bodies_committed": "a batch of message bodies is committed",
    "imap.folder_synced": "the folder's UIDNEXT, HIGHESTMODSEQ and sync time are committed",
    "imap.op_replayed": "the server carried out a queued action; its journal entry remains",
    "imap.folder_op_replayed": "the server created, renamed or deleted a folder as the user"
    " asked; its journal entry remains",
    "smtp.before_connect": "due outbox items are still queued; nothing was sent",
    "smtp.after_mail": "an item is 'sending' and MAIL FROM was accepted; no DATA yet",
    "smtp.mid_data": "part of a message went out in DATA; the final '.' did not",
    "smtp.after_data_end": "the final '.' went out (end of DATA committed); no reply read",
    "smtp.after_reply": "the server accepted the message; the outbox row still says 'sending'",
    "smtp.sent_appended": "the Sent copy was appended over IMAP; not yet recorded as done",
    "drafts.appended": "a draft was appended to Drafts; older copies remain, nothing recorded",
    "drafts.old_copies_deleted": "a draft's older server copies are deleted; the new one is not"
    " recorded",
    "drafts.discarded_removed": "a discarded draft's server copies are deleted; its row remains",
    "outbox.taken_back": "an outbox item is deleted inside the undo-send transaction; its draft"
    " is not written yet (rolled back)",
    "import.appended": "an imported message was appended over IMAP; the import goes on after it",
    "import.batch_committed": "a batch of imported messages is committed to the store; the"
    " rest of the source is not",
    "index.batch_committed": "a batch of full-text entries is completed from stored bodies; the"
    " bodies after it are stored, not yet searchable",
}


def parse_target(value: str | None) -> tuple[str, int] | None:
    """Parse a ``TUIMAIL_CRASH_AT`` value: ``name`` or ``name:N`` (N >= 1) -> (name, N)."""
    if not value:
        return None
    name, sep, count_text = value.strip().rpartition(":")
    if not sep:
        return value.strip(), 1
    if not name or not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(f"{ENV_VAR}={value!r}: expected NAME or NAME:COUNT with COUNT >= 1")
    return name, int(count_text)


_target = parse_target(os.environ.get(ENV_VAR))
_target_name = _target[0] if _target else None
_target_count = _target[1] if _target else 0
_hits = itertools.count(1)  # next() on it is atomic under the GIL, so threads may share it


def crashpoint(name: str) -> None:
    """Mark a durable step; exits the process here when ``TUIMAIL_CRASH_AT`` selects it."""
    if name != _target_name:
        return
    if next(_hits) >= _target_count:
        os._exit(CRASH_EXIT_CODE)
