"""Terminal-safe text: the one gate between untrusted mail text and the screen.

Everything a sender controls (subjects, names, file names, bodies, folder names, server strings)
goes through `sanitize` or `sanitize_line` before it is shown. The result is plain text: control
characters, whole terminal escape sequences and Unicode bidi controls are gone. It is *not*
escaped for any markup language; the UI renders it as `rich.text.Text` with markup disabled.

Choices worth knowing:
- An escape sequence is removed whole (``ESC [ 3 1 m`` leaves nothing behind, not ``[31m``).
  A string sequence (OSC, DCS, SOS, PM, APC) is removed up to its terminator (BEL or ST); when it
  has none, only the introducer goes and the rest stays visible as ordinary text.
- The 8-bit C1 introducers (U+009B CSI, U+009D OSC, U+0090 DCS, ...) are treated like their ESC
  forms, because some terminals honour them.
- CR LF becomes LF, and a lone CR becomes LF too: in a terminal a bare CR returns the cursor and
  lets later text overwrite earlier text, so turning it into a visible line break shows everything
  the sender wrote instead of letting them hide a part of it (old Mac line endings also survive).
- U+2028/U+2029 (line/paragraph separator) become LF; lone surrogates (which cannot be encoded
  for output and would crash a write) become U+FFFD.
"""

from __future__ import annotations

import re

# One alternation, tried at each control character: whole sequences first, then single characters.
_CONTROL_RE = re.compile(
    r"""
    (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]        # CSI (7-bit and C1 form)
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])                      # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x90\x98\x9c\x9d\x9e\x9f]*                        # ... their string ...
      (?:\x07|\x1b\\|\x9c)                                        # ... and its terminator
  | \x1b [\x20-\x2f]* [\x30-\x7e]                                 # other ESC sequences
  | [\x00-\x08\x0b-\x1f\x7f-\x9f]                                 # C0 (not TAB, LF), DEL, C1
  | [\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]                # bidi controls
  | [\u2028\u2029]                                                # line/paragraph separators
  | [\ud800-\udfff]                                               # lone surrogates
    """,
    re.VERBOSE,
)

# What a matched single character becomes; anything not listed (and every sequence) is dropped.
_REPLACEMENTS = {"\r": "\n", "\u2028": "\n", "\u2029": "\n"}


def _replace(match: re.Match[str]) -> str:
    found = match.group()
    if len(found) == 1:
        if "\ud800" <= found <= "\udfff":
            return "\ufffd"
        return _REPLACEMENTS.get(found, "")
    return ""


def sanitize(text: str) -> str:
    """Make multi-line untrusted text safe to show: keeps tabs and newlines, drops all controls."""
    text = text.replace("\r\n", "\n")
    return _CONTROL_RE.sub(_replace, text)


def sanitize_line(text: str) -> str:
    """Make untrusted text safe to show on one line: newlines and tabs become spaces."""
    text = sanitize(text)
    if "\n" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\t", " ")
    return text
