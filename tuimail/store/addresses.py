"""The addresses the store knows, ranked for completion in the composer.

People the user wrote to (To/Cc/Bcc of the messages in Sent folders) come first, most often
and most recently written to first; then the senders of the other mail, by the same measure.
One query over the stored envelopes; the composer runs it once when it opens, off the UI
thread, and matches what the user types against the result in memory.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tuimail.core.model import FolderRole

DEFAULT_LIMIT = 5000

# Every address of a message, with whether the user wrote it (Sent) or received it. Names and
# addresses are untrusted text: the caller sanitizes before showing them.
_ADDRESSES = """
WITH used (name, email, written, at) AS (
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), 1, m.sort_date
    FROM messages AS m JOIN folders AS f ON f.id = m.folder_id,
         json_each(json_array(json(m.to_addr), json(m.cc_addr), json(m.bcc_addr))) AS header,
         json_each(header.value) AS j
    WHERE f.role = :sent
    UNION ALL
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), 0, m.sort_date
    FROM messages AS m JOIN folders AS f ON f.id = m.folder_id, json_each(m.from_addr) AS j
    WHERE f.role != :sent
)
SELECT lower(email) AS key, name, sum(written), sum(1 - written), max(at)
FROM used
WHERE email LIKE '%_@_%'
GROUP BY key
ORDER BY sum(written) > 0 DESC, sum(written) DESC, sum(1 - written) DESC, max(at) DESC
LIMIT :limit
"""


@dataclass(frozen=True, slots=True)
class KnownAddress:
    """An address seen in the store, with how the user knows it."""

    name: str  # the display name of its most recent message ('' when none)
    email: str  # lower-cased
    written_to: int  # messages in Sent folders addressed to it
    received_from: int  # other messages sent by it
    last_seen: int  # the newest of those messages (seconds since the epoch)


def known_addresses(conn: sqlite3.Connection, *, limit: int = DEFAULT_LIMIT) -> list[KnownAddress]:
    """The store's addresses, best candidates first (see the module docstring)."""
    rows = conn.execute(_ADDRESSES, {"sent": FolderRole.SENT.value, "limit": limit}).fetchall()
    return [
        KnownAddress(
            name=str(name or "").strip(),
            email=str(email),
            written_to=int(written),
            received_from=int(received),
            last_seen=int(last or 0),
        )
        for email, name, written, received, last in rows
    ]
