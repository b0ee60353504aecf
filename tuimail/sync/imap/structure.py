"""A message's text without its attachments: BODYSTRUCTURE walked, the rest rebuilt.

Opening an IMAP message whose body is not local asks for its BODYSTRUCTURE first. When that
shows attachments (by the rule the message view uses, see `tuimail.mail.parse`), only the header,
every part's MIME header and the bodies of the text parts are fetched, in one UID FETCH, and a
message is rebuilt from them: the original header, the original multipart boundaries (from the
structure's extension data), every part's MIME header, text bodies as fetched, attachment bodies
left empty. It parses like the original, so the view shows it like a full message; the parts
left out are listed as `OmittedPart`s. Pure functions: no I/O.

Without extension data (a server answering BODYSTRUCTURE like BODY) the boundaries are unknown
and nothing can be rebuilt: `plan_partial` returns None and the caller fetches the whole message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from tuimail.mail import limits
from tuimail.mail.attachments import OmittedPart

HEADER_ITEM = "BODY.PEEK[HEADER]"
MAX_PARTS = 1000  # a structure with more parts than this is fetched whole
MAX_MIME_HEADER_BYTES = 64 * 1024  # a larger part header is not parsed for a file name

_TEXT = "text"  # a body the view shows: fetched
_ATTACHMENT = "attachment"  # listed as an attachment: left out
_INLINE = "inline"  # neither shown nor listed (an embedded image, text/calendar in an alternative)


class StructureError(Exception):
    """The server's answer does not fit the structure it described: fetch the whole message."""


@dataclass(slots=True)
class StructurePart:
    """One node of a BODYSTRUCTURE: a multipart with children, or a leaf."""

    section: str  # IMAP section ("1", "2.1"); "" for the top of a multipart message
    content_type: str  # lower case type/subtype
    size: int  # encoded octets as the server reports them (0 for a multipart)
    role: str = _TEXT
    boundary: bytes | None = None  # multiparts only
    children: list[StructurePart] = field(default_factory=list)

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")


@dataclass(frozen=True, slots=True)
class PartialPlan:
    """What to fetch for a message with attachments, and how to rebuild it."""

    root: StructurePart

    @property
    def items(self) -> tuple[str, ...]:
        """The FETCH items: the header, every part's MIME header, the text bodies."""
        wanted = [HEADER_ITEM]
        for part in _walk(self.root):
            if part.section and part is not self.root:
                wanted.append(f"BODY.PEEK[{part.section}.MIME]")
                if part.role == _TEXT and not part.is_multipart:
                    wanted.append(f"BODY.PEEK[{part.section}]")
        return tuple(wanted)

    def rebuild(self, fetched: Mapping[bytes, Any]) -> tuple[bytes, list[OmittedPart]]:
        """The rebuilt message and the parts left out, from one FETCH response's items.

        Raises StructureError when an item is missing.
        """
        header = _ended(_item(fetched, "HEADER"))
        omitted: list[OmittedPart] = []
        if not self.root.is_multipart:  # a message that is one attachment
            omitted.append(_omitted(self.root, header))
            return header, omitted
        return header + self._multipart(self.root, fetched, omitted), omitted

    def _multipart(
        self, part: StructurePart, fetched: Mapping[bytes, Any], omitted: list[OmittedPart]
    ) -> bytes:
        assert part.boundary is not None
        delimiter = b"--" + part.boundary
        pieces: list[bytes] = []
        for child in part.children:
            mime = _ended(_item(fetched, f"{child.section}.MIME"))
            if child.is_multipart:
                content = self._multipart(child, fetched, omitted)
            elif child.role == _TEXT:
                content = _item(fetched, child.section)
            else:
                content = b""
                omitted.append(_omitted(child, mime))
            pieces.append(delimiter + b"\r\n" + mime + content + b"\r\n")
        pieces.append(delimiter + b"--\r\n")
        return b"".join(pieces)


def plan_partial(structure: Any) -> PartialPlan | None:
    """The plan for a BODYSTRUCTURE (as imapclient parses it), or None when the whole message
    should be fetched: no attachment, no extension data (no boundaries), or a shape this
    module does not trust (too deep, too many parts, malformed)."""
    try:
        root = _part(structure, "", 0, None, "", [0])
    except (StructureError, TypeError, ValueError, IndexError):
        return None
    parts = list(_walk(root))
    if not any(part.role == _ATTACHMENT for part in parts):
        return None
    if any(part.is_multipart and not part.boundary for part in parts):
        return None
    return PartialPlan(root)


# --- walking the structure


def _walk(part: StructurePart) -> Iterator[StructurePart]:
    yield part
    for child in part.children:
        yield from _walk(child)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, str):
        return value
    return ""


def _params(value: Any) -> dict[str, bytes]:
    """A parenthesised attribute/value list as a dict with lower-case names."""
    if not isinstance(value, Sequence) or isinstance(value, bytes | str):
        return {}
    params: dict[str, bytes] = {}
    for index in range(0, len(value) - 1, 2):
        name, item = value[index], value[index + 1]
        if isinstance(item, str):
            item = item.encode("utf-8", "replace")
        params[_text(name).lower()] = item if isinstance(item, bytes) else b""
    return params


def _has_name(params: Mapping[str, bytes], name: str) -> bool:
    """True when a parameter `name` is there, plain or in RFC 2231 form (name*, name*0*, ...)."""
    return any(key == name or key.startswith(name + "*") for key in params)


def _is_multipart_node(node: Any) -> bool:
    return bool(node) and isinstance(node[0], list | tuple)


def _children(node: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(child nodes, the rest) of a multipart node: imapclient nests the children of a top
    structure in a list; raw nested tuples list them first."""
    if isinstance(node[0], list):
        return list(node[0]), list(node[1:])
    index = 0
    while index < len(node) and isinstance(node[index], list | tuple):
        index += 1
    return list(node[:index]), list(node[index:])


def _part(
    node: Any, section: str, depth: int, group: str | None, parent_type: str, count: list[int]
) -> StructurePart:
    """One node as a StructurePart; the role of a leaf follows `parse._BodyWalker`."""
    count[0] += 1
    if count[0] > MAX_PARTS or depth > limits.MAX_DEPTH:
        raise StructureError("structure too large")
    if not isinstance(node, Sequence) or isinstance(node, bytes | str) or not node:
        raise StructureError("not a body structure")
    if _is_multipart_node(node):
        children, rest = _children(node)
        subtype = _text(rest[0]).lower() if rest else ""
        content_type = f"multipart/{subtype or 'mixed'}"
        boundary = _params(rest[1]).get("boundary") if len(rest) > 1 else None
        part = StructurePart(section, content_type, 0, boundary=boundary or None)
        if content_type == "multipart/alternative" and group is None:
            group = section or "top"
        for number, child in enumerate(children, 1):
            child_section = f"{section}.{number}" if section else str(number)
            part.children.append(_part(child, child_section, depth + 1, group, content_type, count))
        if not part.children:
            raise StructureError("a multipart without parts")
        return part

    maintype, subtype = _text(node[0]).lower(), _text(node[1]).lower()
    content_type = f"{maintype}/{subtype}"
    params = _params(node[2])
    size = int(node[6]) if len(node) > 6 and node[6] is not None else 0
    extension = 8 if maintype == "text" else 10 if content_type == "message/rfc822" else 7
    disposition_node = node[extension + 1] if len(node) > extension + 1 else None
    disposition, disposition_params = "", {}
    if isinstance(disposition_node, Sequence) and not isinstance(disposition_node, bytes | str):
        disposition = _text(disposition_node[0]).lower() if disposition_node else ""
        disposition_params = _params(disposition_node[1]) if len(disposition_node) > 1 else {}
    named = _has_name(disposition_params, "filename") or _has_name(params, "name")
    leaf = StructurePart(section or "1", content_type, size)
    if maintype in ("message", "multipart"):
        leaf.role = _ATTACHMENT  # a forwarded message is one attachment, as in the view
    elif disposition == "attachment":
        leaf.role = _ATTACHMENT
    elif content_type in ("text/plain", "text/html") or (
        maintype == "text" and not named and group is None
    ):
        leaf.role = _TEXT
    elif maintype == "text" and group is not None and not named:
        leaf.role = _INLINE
    elif named or parent_type != "multipart/related":
        leaf.role = _ATTACHMENT
    else:
        leaf.role = _INLINE
    return leaf


# --- rebuilding


def _item(fetched: Mapping[bytes, Any], section: str) -> bytes:
    key = f"BODY[{section}]".encode("ascii")
    if key not in fetched:
        raise StructureError(f"the server sent no {key.decode()}")
    value = fetched[key]
    if value is None:  # NIL: an empty part
        return b""
    if not isinstance(value, bytes):
        raise StructureError(f"the server sent something odd for {key.decode()}")
    return value


def _ended(header: bytes) -> bytes:
    """A header section ending in its blank line (as RFC 3501 sends it; made sure of here)."""
    if header.endswith((b"\r\n\r\n", b"\n\n")):
        return header
    if header.endswith(b"\n"):
        return header + b"\r\n"
    return header + b"\r\n\r\n"


def _omitted(part: StructurePart, mime_header: bytes) -> OmittedPart:
    return OmittedPart(
        section=part.section,
        content_type=part.content_type,
        filename=_filename(mime_header),
        size=part.size,
    )


def _filename(mime_header: bytes) -> str:
    """The file name a part's MIME header declares (RFC 2231 and 2047 decoded), or ""."""
    if len(mime_header) > MAX_MIME_HEADER_BYTES:
        return ""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(mime_header)
        name = headers.get_filename()
    except Exception:  # a header the parser cannot read: the part stays unnamed
        return ""
    return str(name).strip() if name else ""
