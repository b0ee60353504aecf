"""Drafts made from a message: reply, reply-all, forward (inline or as an attachment), and a
server draft opened for editing. Pure functions, no I/O.

Recipients never include the user's own addresses; subjects get one "Re: " / "Fwd: " prefix;
In-Reply-To and References thread the answer under the original (RFC 5322 section 3.6.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tuimail.core.model import Address, Draft, Envelope
from tuimail.mail.parse import ParsedMessage
from tuimail.mail.render import html_to_text, preferred_parts
from tuimail.mail.sanitize import sanitize

# "Re:", "RE :", "Re[2]:", and the common translations (AW: German, SV: Nordic, Antw: Dutch).
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw)(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(?:(?:fwd?|wg)\s*:\s*)+", re.IGNORECASE)
MAX_REFERENCES = 20  # keep References short; the first and the latest ids matter most


# Line breaks and other controls a received header may decode to (an encoded word can carry
# "=0D=0A"): the answer's header holds one line, so each run becomes one space.
_CONTROLS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")


def _one_line(text: str) -> str:
    return _CONTROLS.sub(" ", text)


def reply_subject(subject: str) -> str:
    """`Re: subject`, without piling up prefixes, on one line."""
    return "Re: " + _REPLY_PREFIX.sub("", _one_line(subject)).strip()


def forward_subject(subject: str) -> str:
    """`Fwd: subject`, without piling up prefixes, on one line."""
    return "Fwd: " + _FORWARD_PREFIX.sub("", _one_line(subject)).strip()


def _without(addresses: Iterable[Address], excluded: Iterable[str]) -> tuple[Address, ...]:
    """Addresses minus `excluded` (compared case-insensitively) and minus repeats, in order."""
    seen = {e.lower() for e in excluded}
    kept: list[Address] = []
    for address in addresses:
        key = address.email.lower()
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(Address(_one_line(address.name), address.email))
    return tuple(kept)


def original_text(parsed: ParsedMessage) -> str:
    """The original's text as the user read it: plain parts preferred, else HTML as text."""
    parts = preferred_parts(parsed.text_parts)
    texts = [p.text if p.content_type == "text/plain" else html_to_text(p.text) for p in parts]
    return sanitize("\n".join(t.strip("\n") for t in texts if t.strip()))


def quoted_body(parsed: ParsedMessage, *, attribution: str) -> str:
    """The original's text with each line quoted with "> ", below `attribution`."""
    original = original_text(parsed)
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.splitlines())
    return f"\n\n{attribution}\n{quoted}\n"


def _attribution(parsed: ParsedMessage) -> str:
    env = parsed.envelope
    who = env.from_[0] if env.from_ else Address("", "")
    name = sanitize(who.name or who.email or "someone")
    when = env.date.strftime("%a, %d %b %Y %H:%M") if env.date else "an unknown date"
    return f"On {when}, {name} wrote:"


def _references(parsed: ParsedMessage) -> tuple[str, ...]:
    env = parsed.envelope
    refs = list(env.references) or ([env.in_reply_to] if env.in_reply_to else [])
    if env.message_id:
        refs.append(env.message_id)
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    return tuple(refs)


def reply_draft(
    parsed: ParsedMessage, *, sender: Address, own: Sequence[str], reply_all: bool = False
) -> Draft:
    """A reply to `parsed` from `sender`; `own` are all the user's addresses (never recipients).

    To is Reply-To, else From; when the original came from the user, To is its To instead.
    Reply-all adds the original To and Cc as Cc.
    """
    env = parsed.envelope
    own_keys = {*own, sender.email}
    from_me = any(a.email.lower() in {o.lower() for o in own_keys} for a in env.from_)
    # Answering one's own message means writing to its recipients again.
    to = _without(env.to if from_me else (env.reply_to or env.from_), own_keys)
    cc: tuple[Address, ...] = ()
    if reply_all:
        cc = _without((*env.to, *env.cc), [*own_keys, *(a.email for a in to)])
    return Draft(
        from_=sender,
        to=to,
        cc=cc,
        subject=reply_subject(env.subject),
        body=quoted_body(parsed, attribution=_attribution(parsed)),
        in_reply_to=env.message_id,
        references=_references(parsed),
    )


def forward_draft(parsed: ParsedMessage, *, sender: Address, stored_id: int | None = None) -> Draft:
    """An inline forward of `parsed`: the original's headers and text below a marker line.

    With `stored_id` (the original's store id, its bytes whole in the store) the original's
    attachments are carried along (`Draft.forwarded_attachments`); without it they are only
    listed by name.
    """
    env = parsed.envelope
    lines = ["", "", "---------- Forwarded message ----------"]
    for name, value in (
        ("From", ", ".join(str(a) for a in env.from_)),
        ("Date", env.date.strftime("%a, %d %b %Y %H:%M %z") if env.date else ""),
        ("Subject", env.subject),
        ("To", ", ".join(str(a) for a in env.to)),
        ("Cc", ", ".join(str(a) for a in env.cc)),
    ):
        if value:
            lines.append(sanitize(f"{name}: {value}"))
    lines += ["", original_text(parsed)]
    carried: tuple[tuple[int, int], ...] = ()
    if parsed.attachments and stored_id is not None:
        carried = tuple((stored_id, a.index) for a in parsed.attachments)
    elif parsed.attachments:
        names = ", ".join(sanitize(a.filename) or "(unnamed)" for a in parsed.attachments)
        lines += ["", f"(Attachments of the original, not included: {names})"]
    return Draft(
        from_=sender,
        subject=forward_subject(env.subject),
        body="\n".join(lines) + "\n",
        forwarded_attachments=carried,
    )


def forward_attached_draft(envelope: Envelope, stored_id: int, *, sender: Address) -> Draft:
    """A forward of the stored message `stored_id` as an attachment (message/rfc822, its bytes
    as they are): "Fwd: subject", no quoted text."""
    return Draft(
        from_=sender,
        subject=forward_subject(envelope.subject),
        attached_messages=(stored_id,),
    )


def draft_from_message(parsed: ParsedMessage, *, sender: Address) -> Draft:
    """A draft saved by a mail client (a message in a Drafts folder), to edit and send from
    `sender`: its recipients, subject, text and threading headers. Its attachments are not
    carried over (a draft's attachments are files)."""
    env = parsed.envelope
    return Draft(
        from_=sender,
        to=env.to,
        cc=env.cc,
        bcc=env.bcc,
        subject=env.subject,
        body=original_text(parsed),
        in_reply_to=env.in_reply_to,
        references=env.references,
    )
