"""Draft -> RFC 5322 bytes, ready for SMTP (CRLF line ends, 7-bit clean).

Addresses are written with their domains as IDNA A-labels. The one exception to 7-bit: an
address with non-ASCII characters before the "@" has no ASCII form, so a message from or to one
carries it in UTF-8 in its headers (RFC 6532) and can only be sent with SMTPUTF8.

`compose_message` leaves the attachments' bodies in their files: it returns the message as
segments (bytes, and files to be base64-encoded), its exact size, and `chunks()`, which reads and
encodes each file a chunk at a time. So a 50 MB attachment goes into the outbox without ever
being in memory whole; `compose` joins the same chunks for callers that want bytes.

Bcc is deliberately not written into the message: whoever sends it (the outbox sender) adds the
draft's Bcc addresses to the SMTP envelope (RCPT TO) only, so no recipient learns about them.

Every header value a user or a caller supplies is checked: a CR or LF in a subject, name,
address, message id or extra header would let text inject headers, so it raises `ComposeError`
instead of being folded or dropped silently; so does any other control character (NUL, and the
characters Python's `str.splitlines` and with it the email package take for line ends). An
attachment's file name is the file system's, not the user's words: its control characters are
replaced by "_" in the message.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import headerregistry, policy, utils
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

from tuimail.core.model import Address, Draft, PartBody
from tuimail.mail.idn import AddressEncodingError, ascii_domain, needs_smtputf8

# SMTP line ends and no 8-bit content: non-ASCII text goes out quoted-printable or base64, so
# the message passes servers without 8BITMIME unchanged. Headers that compose folds itself
# (set_raw) are written as they are: see _encoded_words for why the policy must not refold them.
_POLICY = policy.SMTP.clone(cte_type="7bit", refold_source="none")
# A message to or from an address with a non-ASCII local part carries it in UTF-8 in its
# headers (RFC 6532; it goes out with SMTPUTF8 only); names and subject stay encoded words.
_UTF8_POLICY = _POLICY.clone(utf8=True)
_MAX_ADDRESS_CHARS = 254  # RFC 5321's limit for a forward path
_MAX_PLAIN_NAME_CHARS = 60  # longer ASCII names are folded as encoded words

# Headers compose writes itself; extra_headers may not replace them (Bcc must never appear).
_MANAGED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
_FIELD_NAME_CHARS = frozenset(chr(c) for c in range(33, 127)) - {":"}


class ComposeError(ValueError):
    """The draft cannot become a message: a line break in a header value, a bad address, an
    unreadable attachment. The message says which field and what is wrong."""


# Control characters other than TAB, and the Unicode line ends str.splitlines() knows.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _check_value(field: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ComposeError(f"{field} contains a line break (CR or LF), which is not allowed")
    if found := _CONTROL.search(value):
        code = f"U+{ord(found.group()):04X}"
        raise ComposeError(f"{field} contains a control character ({code}), which is not allowed")
    return value


def _ascii_domain(domain: str, field: str) -> str:
    try:
        return ascii_domain(domain)
    except AddressEncodingError as exc:
        raise ComposeError(f"{field}: the domain {domain!r} is not a valid domain name") from exc


def make_message_id(domain: str) -> str:
    """A new, globally unique Message-ID: ``<random@domain>`` (with angle brackets)."""
    domain = _check_value("Message-ID domain", domain).strip()
    if not domain or any(c.isspace() or c in "<>@" for c in domain):
        raise ComposeError(f"cannot make a Message-ID with the domain {domain!r}")
    return f"<{secrets.token_hex(16)}@{_ascii_domain(domain, 'Message-ID domain')}>"


def _header_address(address: Address, field: str) -> headerregistry.Address:
    name = _check_value(f"{field} name", address.name)
    email = _check_value(f"{field} address", address.email).strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ComposeError(f"{field}: {email!r} is not an e-mail address (user@domain)")
    if len(email) > _MAX_ADDRESS_CHARS:
        raise ComposeError(f"{field}: the address is longer than {_MAX_ADDRESS_CHARS} characters")
    # A non-ASCII local part stays as it is: the message then has UTF-8 headers (RFC 6532)
    # and needs SMTPUTF8; the domain always has its ASCII form.
    email = f"{local}@{_ascii_domain(domain, field)}"
    # The email package takes a non-ASCII local part for a defect: check the address's form
    # with each such character as an ASCII letter, then build it from its parts.
    stand_in = "".join(c if c.isascii() else "a" for c in email)
    try:
        checked = headerregistry.Address(display_name=name, addr_spec=stand_in)
    except Exception as exc:  # the email package raises several kinds for a bad addr-spec
        raise ComposeError(f"{field}: {email!r} is not a valid e-mail address") from exc
    if stand_in == email:
        return checked
    local, _, domain = email.rpartition("@")
    if len(local) > 1 and local[0] == local[-1] == '"':  # quoted again as needed when written
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    return headerregistry.Address(display_name=name, username=local, domain=domain)


def _name_needs_encoding(name: str) -> bool:
    return not name.isascii() or "=?" in name or len(name) > _MAX_PLAIN_NAME_CHARS


def _encoded_words(text: str, header_name: str | None) -> str:
    """RFC 2047 encoded words for `text`, folded onto lines well under 78 characters.

    The policy's own folder (CPython 3.11) can move a space out of the encoded words when it
    folds, where decoders then drop it ("a 🎉 b" comes back as "a 🎉b"), and when it refolds a
    display name it leaves ASCII words with specials unquoted; the older `Header` class encodes
    all of the text and keeps every space inside it. `header_name` makes room for "Name: " on
    the first line; lines stay short enough for a following ",".
    """
    return Header(text, "utf-8", maxlinelen=74, header_name=header_name).encode(linesep="\n")


def _set_subject(msg: EmailMessage, subject: str) -> None:
    subject = _check_value("Subject", subject)
    if not subject.isascii() or "=?" in subject:
        # Already folded lines of at most 78 characters are written as they are.
        msg.set_raw("Subject", _encoded_words(subject, "Subject"))
    else:
        msg["Subject"] = subject


def _set_addresses(msg: EmailMessage, field: str, addresses: Sequence[Address]) -> None:
    """Write an address-list header, one address per line, names encoded as in `_set_subject`."""
    items: list[str] = []
    for address in addresses:
        checked = _header_address(address, field)
        if not checked.display_name:
            items.append(checked.addr_spec)
        elif _name_needs_encoding(checked.display_name):
            name = _encoded_words(checked.display_name, None if items else field)
            last_line = name.rpartition("\n")[2]
            indent = len(field) + 2 if not items and "\n" not in name else 1
            fits = indent + len(last_line) + len(checked.addr_spec) + 4 <= 78
            items.append(f"{name}{' ' if fits else chr(10) + ' '}<{checked.addr_spec}>")
        else:
            items.append(str(checked))  # quoted as needed by the email package
    msg.set_raw(field, ",\n ".join(items))


def _msg_id(value: str, field: str) -> str:
    """A message id as `<id>`, accepting it with or without angle brackets."""
    bare = _check_value(field, value).strip().removeprefix("<").removesuffix(">")
    if not bare or any(c.isspace() or c in "<>" for c in bare):
        raise ComposeError(f"{field}: {value!r} is not a valid message id")
    return f"<{bare}>"


# Base64 as the email package writes it: 57 bytes become a 76-character line (policy.SMTP's
# max_line_length of 78, rounded down to whole 4-character groups) plus CRLF.
_B64_LINE_BYTES = 57
_B64_LINE_CHARS = 76
# Bytes of a file read and encoded at a time: whole lines, about 1 MiB.
_CHUNK_LINES = 18_396
_CHUNK_BYTES = _B64_LINE_BYTES * _CHUNK_LINES


def base64_size(size: int) -> int:
    """The length of `size` bytes as a base64 body: 76-character lines, each ending in CRLF."""
    lines, rest = divmod(size, _B64_LINE_BYTES)
    return lines * (_B64_LINE_CHARS + 2) + (4 * -(-rest // 3) + 2 if rest else 0)


@dataclass(frozen=True, slots=True)
class FileBody:
    """An attachment's body that stays in its file until the message is written out."""

    path: Path
    size: int  # of the file, when the message was composed

    @property
    def encoded_size(self) -> int:
        """Its length in the message (base64 lines)."""
        return base64_size(self.size)

    def chunks(self) -> Iterator[bytes]:
        """The base64 body, about a megabyte at a time. Raises ComposeError when the file
        cannot be read or no longer has the size it had when the message was composed."""
        done = 0
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(_CHUNK_BYTES):
                    done += len(chunk)
                    if done > self.size:
                        break
                    # encodebytes writes 57-byte lines; whole-line chunks join seamlessly.
                    yield base64.encodebytes(chunk).replace(b"\n", b"\r\n")
        except OSError as exc:
            raise ComposeError(
                f"cannot read attachment {str(self.path)!r}: {exc.strerror or exc}"
            ) from exc
        if done != self.size:
            raise ComposeError(
                f"the attachment {str(self.path)!r} changed while the message was being written"
            )


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """A composed message: its bytes in order, with attachment bodies still in their files."""

    segments: tuple[bytes | FileBody, ...]

    @property
    def size(self) -> int:
        """The exact length of the message in bytes."""
        return sum(s.encoded_size if isinstance(s, FileBody) else len(s) for s in self.segments)

    def chunks(self) -> Iterator[bytes]:
        """The message's bytes, in pieces of at most about a megabyte (see FileBody.chunks)."""
        for segment in self.segments:
            if isinstance(segment, FileBody):
                yield from segment.chunks()
            elif segment:
                yield segment

    def as_bytes(self) -> bytes:
        """The whole message at once (for small messages and tests)."""
        return b"".join(self.chunks())


def _attach(msg: EmailMessage, path_text: str) -> tuple[bytes, FileBody]:
    """Add an attachment part whose body is a placeholder; returns the placeholder's line in
    the generated message and the file body that replaces it."""
    path = Path(path_text)
    try:
        if not path.is_file():
            raise IsADirectoryError(21, "not a regular file")
        size = path.stat().st_size
        with path.open("rb"):  # readable now, not only when the message is written out
            pass
    except OSError as exc:
        raise ComposeError(f"cannot read attachment {path_text!r}: {exc.strerror or exc}") from exc
    content_type, encoding = mimetypes.guess_type(path.name)
    if content_type is None or encoding is not None:  # e.g. .tar.gz: send the bytes as they are
        content_type = "application/octet-stream"
    maintype, _, subtype = content_type.partition("/")
    # A random placeholder (one base64 line) that cannot occur elsewhere in the message: the
    # email package writes the part's headers, and the file's base64 takes the line's place.
    token = secrets.token_bytes(45)
    # The email package writes non-ASCII names with RFC 2231 (filename*=utf-8''...).
    filename = _CONTROL.sub("_", path.name)  # a file name may hold CR, LF or worse
    msg.add_attachment(token, maintype=maintype, subtype=subtype, filename=filename)
    return base64.b64encode(token) + b"\r\n", FileBody(path, size)


def _attach_part(msg: EmailMessage, part: PartBody) -> tuple[bytes, bytes]:
    """Add an attachment given as bytes, with its own name and type, in the same way as
    `_attach`; returns the placeholder's line and the part's base64 body."""
    maintype, _, subtype = part.content_type.strip().lower().partition("/")
    if (
        not _MIME_TOKEN.fullmatch(maintype)
        or not _MIME_TOKEN.fullmatch(subtype)
        or maintype
        in (
            "multipart",
            "message",
        )
    ):
        maintype, subtype = "application", "octet-stream"
    token = secrets.token_bytes(45)
    filename = _CONTROL.sub("_", part.filename) or None
    msg.add_attachment(token, maintype=maintype, subtype=subtype, filename=filename)
    body = base64.encodebytes(part.data).replace(b"\n", b"\r\n")
    return base64.b64encode(token) + b"\r\n", body


@dataclass(frozen=True, slots=True)
class CarriedAttachment:
    """An attachment of another message carried into this one (an inline forward): its
    decoded bytes, its name and its type exactly as the original declares them."""

    filename: str
    content_type: str  # "type/subtype"; anything else is sent as application/octet-stream
    payload: bytes
    charset: str | None = None  # of a text attachment, as the original declares it


_MIME_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _carry(msg: EmailMessage, carried: CarriedAttachment) -> None:
    """Add an attachment part with `carried`'s bytes (base64), name and type."""
    maintype, _, subtype = carried.content_type.lower().partition("/")
    if not (_MIME_TOKEN.fullmatch(maintype) and _MIME_TOKEN.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    if maintype == "multipart":  # not an attachment's type; keep the bytes
        maintype, subtype = "application", "octet-stream"
    filename = _CONTROL.sub("_", carried.filename) or None  # a sender's name may hold CR, LF
    charset = carried.charset or ""
    params = {"charset": charset} if maintype == "text" and _MIME_TOKEN.fullmatch(charset) else None
    msg.add_attachment(
        carried.payload, maintype=maintype, subtype=subtype, filename=filename, params=params
    )


def _split_at_placeholders(
    generated: bytes, placeholders: Sequence[tuple[bytes, bytes | FileBody]]
) -> ComposedMessage:
    segments: list[bytes | FileBody] = []
    start = 0
    for line, body in placeholders:
        at = generated.index(line, start)
        segments += [generated[start:at], body]
        start = at + len(line)
    segments.append(generated[start:])
    return ComposedMessage(tuple(segments))


def compose(
    draft: Draft,
    *,
    message_id: str | None = None,
    date: datetime | None = None,
    messages: Sequence[bytes] = (),
    parts: Sequence[PartBody] = (),
    carried: Sequence[CarriedAttachment] = (),
) -> bytes:
    """Build the RFC 5322 bytes of a draft (CRLF line ends).

    `message_id` (with or without angle brackets) defaults to a new one for the From domain;
    `date` defaults to now, and a naive datetime is taken as local time. The Bcc addresses are
    not written (see the module docstring). `messages` are whole messages (the bytes of
    `draft.attached_messages`, read by the caller) attached as message/rfc822; `parts` are
    attachments given as bytes (those of `draft.stored_parts`, read by the caller); `carried` are
    the attachments of `draft.forwarded_attachments`, read by the caller. Raises
    ComposeError on a line break in any header value, a bad address, an extra header that
    would replace a managed one, or an attachment that cannot be read.
    """
    return compose_message(
        draft, message_id=message_id, date=date, messages=messages, parts=parts, carried=carried
    ).as_bytes()


def compose_message(
    draft: Draft,
    *,
    message_id: str | None = None,
    date: datetime | None = None,
    messages: Sequence[bytes] = (),
    parts: Sequence[PartBody] = (),
    carried: Sequence[CarriedAttachment] = (),
) -> ComposedMessage:
    """Compose a draft as `compose` does, leaving the attachments' bodies in their files until
    `chunks()` reads them (see the module docstring). Raises ComposeError as `compose` does;
    `chunks()` raises it when a file can no longer be read or changed size meanwhile.
    """
    written = (draft.from_, *draft.to, *draft.cc)
    utf8 = any(needs_smtputf8(address.email.strip()) for address in written)
    msg = EmailMessage(policy=_UTF8_POLICY if utf8 else _POLICY)
    _set_addresses(msg, "From", (draft.from_,))
    if draft.to:
        _set_addresses(msg, "To", draft.to)
    if draft.cc:
        _set_addresses(msg, "Cc", draft.cc)
    for address in draft.bcc:  # validated like the others, but never written
        _header_address(address, "Bcc")
    _set_subject(msg, draft.subject)
    when = date if date is not None else datetime.now()
    msg["Date"] = utils.format_datetime(when if when.tzinfo else when.astimezone())
    if message_id is None:
        message_id = make_message_id(draft.from_.email.rpartition("@")[2])
    msg["Message-ID"] = _msg_id(message_id, "Message-ID")
    if draft.in_reply_to:
        msg["In-Reply-To"] = _msg_id(draft.in_reply_to, "In-Reply-To")
    if draft.references:
        msg["References"] = " ".join(_msg_id(ref, "References") for ref in draft.references)
    for name, value in draft.extra_headers:
        if not name or not set(name) <= _FIELD_NAME_CHARS:
            raise ComposeError(f"{name!r} is not a valid header name")
        if name.lower() in _MANAGED_HEADERS:
            raise ComposeError(f"the {name} header is set from the draft, not as an extra header")
        msg[name] = _check_value(f"header {name}", value)

    msg.set_content(draft.body, subtype="plain", charset="utf-8")
    # Parts given as bytes come first (a message taken back from the outbox had them so), then
    # files; a forwarded message among the parts goes with the other attached messages.
    placeholders: list[tuple[bytes, bytes | FileBody]] = []
    messages = list(messages)
    for part in parts:
        if part.content_type.strip().lower() == "message/rfc822":
            messages.append(part.data)
        else:
            placeholders.append(_attach_part(msg, part))
    placeholders += [_attach(msg, path) for path in draft.attachments]
    for attachment in carried:
        if attachment.content_type.lower().startswith("message/"):
            # A forwarded message inside the original: attached whole, as message/rfc822.
            messages.append(attachment.payload)
        else:
            _carry(msg, attachment)
    for attached in msg.iter_attachments():
        del attached["MIME-Version"]  # belongs in the top-level header only
    if messages:
        return _split_at_placeholders(_with_messages(msg, messages), placeholders)
    return _split_at_placeholders(msg.as_bytes(), placeholders)


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _with_messages(msg: EmailMessage, messages: Sequence[bytes]) -> bytes:
    """`msg` with each of `messages` attached as message/rfc822, its bytes exactly as given
    (bare LF line ends become CRLF).

    The email package re-serialises an attached message (and refuses 8-bit bytes in it), so
    each part carries a placeholder that is replaced by the bytes afterwards; the boundary is
    chosen again until no attached message contains it.
    """
    wanted = [_crlf(raw) for raw in messages]
    if msg.get_content_maintype() != "multipart":
        msg.make_mixed()
    placeholders = []
    for raw in wanted:
        token = f"tuimail-attached-message-{secrets.token_hex(16)}"
        part = EmailMessage(policy=_POLICY)
        part["Content-Type"] = "message/rfc822"
        part["Content-Disposition"] = "attachment"
        if not raw.isascii():
            part["Content-Transfer-Encoding"] = "8bit"
        part.set_payload(token)
        msg.attach(part)
        placeholders.append(token.encode("ascii"))
    while True:
        boundary = msg.get_boundary()
        if boundary is not None and not any(b"--" + boundary.encode() in r for r in wanted):
            break
        msg.set_boundary(f"=_{secrets.token_hex(20)}")
    out = msg.as_bytes()
    for placeholder, raw in zip(placeholders, wanted, strict=True):
        before, found, after = out.partition(placeholder)
        if not found:
            raise ComposeError("an attached message could not be placed into the message")
        out = before + raw + after
    return out
