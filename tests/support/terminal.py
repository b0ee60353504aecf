"""The app on a real pseudo-terminal, and what it wrote there, parsed.

`PtyApp` runs a command (`python -m tuimail ...`) with a pty as its terminal, sends keys and
collects every byte the program writes. `scan_terminal_output` parses those bytes with a small
state machine (ECMA-48: CSI, OSC, DCS/SOS/PM/APC strings, other ESC sequences, C0 and C1
controls) so a test can say exactly which sequences reached the terminal, and read the visible
text with all of them taken out.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fcntl import ioctl
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ESC = "\x1b"
DOWN = b"\x1b[B"
UP = b"\x1b[A"
TAB = b"\t"
ENTER = b"\r"

# Unicode characters that reorder or hide text in a terminal (bidi embeddings, overrides and
# isolates, the implicit marks): none of them may reach the screen from mail.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# The OSC numbers Textual itself writes: 22 sets the mouse pointer's shape.
TEXTUAL_OSC = frozenset({"22"})


@dataclass
class TerminalScan:
    """What a terminal would have received, sorted by kind."""

    text: str = ""  # printable text, every control and sequence taken out
    csi: list[str] = field(default_factory=list)  # parameters + final byte, e.g. "?25l"
    osc: list[str] = field(default_factory=list)  # the string, e.g. "22;default"
    strings: list[str] = field(default_factory=list)  # DCS/SOS/PM/APC: introducer + string
    escapes: list[str] = field(default_factory=list)  # other ESC sequences, e.g. "=" or "(B"
    c0: list[str] = field(default_factory=list)  # C0 controls but TAB, LF, CR, BS, BEL
    c1: list[str] = field(default_factory=list)  # U+0080-U+009F, and raw bytes 0x80-0x9F
    bidi: list[str] = field(default_factory=list)  # bidi controls written as text

    @property
    def osc_numbers(self) -> set[str]:
        """The OSC command numbers written (the part before the first ';')."""
        return {body.split(";", 1)[0] for body in self.osc}


_CSI_RE = re.compile(r"[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]")
_ESC_RE = re.compile(r"[\x20-\x2f]*[\x30-\x7e]")
_STRING_END_RE = re.compile(r"\x07|\x1b\\|\x9c")


def scan_terminal_output(data: bytes) -> TerminalScan:
    """Parse bytes written to a terminal (UTF-8) into sequences and visible text.

    Bytes that are not valid UTF-8 are kept as lone surrogates (surrogateescape), so a raw
    8-bit C1 byte (0x80-0x9F) is seen as one and reported in `c1`, like U+0080-U+009F.
    """
    chars = data.decode("utf-8", "surrogateescape")
    scan = TerminalScan()
    text: list[str] = []
    position, end = 0, len(chars)
    while position < end:
        char = chars[position]
        position += 1
        if char == ESC and position < end:
            kind = chars[position]
            if kind == "[":
                match = _CSI_RE.match(chars, position + 1)
                if match:
                    scan.csi.append(match.group())
                    position = match.end()
                    continue
            elif kind in "]PX^_":
                finish = _STRING_END_RE.search(chars, position + 1)
                stop = finish.start() if finish else end
                body = chars[position + 1 : stop]
                if kind == "]":
                    scan.osc.append(body)
                else:
                    scan.strings.append(kind + body)
                position = finish.end() if finish else end
                continue
            else:
                match = _ESC_RE.match(chars, position)
                if match:
                    scan.escapes.append(match.group())
                    position = match.end()
                    continue
            scan.c0.append(char)
        elif "\x80" <= char <= "\x9f" or "\udc80" <= char <= "\udc9f":
            scan.c1.append(char)
        elif char in BIDI_CONTROLS:
            scan.bidi.append(char)
        elif char < " " or char == "\x7f":
            if char in "\t\n\r\b\x07":
                text.append(" " if char != "\b" else "")
            else:
                scan.c0.append(char)
        else:
            text.append(char)
    scan.text = "".join(text)
    return scan


def assert_only_the_apps_own_sequences(scan: TerminalScan) -> None:
    """No OSC but Textual's own, no DCS/SOS/PM/APC, no C0 beyond layout, no C1, no bidi."""
    assert scan.osc_numbers <= TEXTUAL_OSC, sorted(scan.osc)
    assert not scan.strings, scan.strings[:5]
    assert not scan.c0, scan.c0[:5]
    assert not scan.c1, scan.c1[:5]
    assert not scan.bidi, [hex(ord(c)) for c in scan.bidi[:5]]


class PtyApp:
    """A program running on a pseudo-terminal of a given size; all its output is kept."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        columns: int = 120,
        lines: int = 36,
        cwd: Path = ROOT,
    ) -> None:
        primary, secondary = pty.openpty()
        ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        os.set_blocking(primary, True)
        self.fd = primary
        self.output = bytearray()
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TUIMAIL_")},
            "TERM": "xterm-256color",
            "COLUMNS": str(columns),
            "LINES": str(lines),
            **env,
        }
        self.process = subprocess.Popen(
            list(argv),
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
        )
        os.close(secondary)

    def read_for(self, seconds: float) -> bytes:
        """What the program writes during `seconds` (bounded, never blocks longer)."""
        start = len(self.output)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self._read_once(left):
                break
        return bytes(self.output[start:])

    def wait_for(self, marker: bytes, seconds: float = 30.0, *, since: int = 0) -> None:
        """Read until `marker` appears in the output (from offset `since`), or fail."""
        deadline = time.monotonic() + seconds
        while marker not in self.output[since:]:
            self._read_or_fail(deadline, marker)

    def wait_for_text(self, marker: str, seconds: float = 30.0, *, since: int = 0) -> None:
        """Read until `marker` appears in the visible text (sequences taken out), or fail."""
        deadline = time.monotonic() + seconds
        while marker not in scan_terminal_output(bytes(self.output[since:])).text:
            self._read_or_fail(deadline, marker)

    def _read_or_fail(self, deadline: float, marker: object) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not self._read_once(min(left, 0.5)):
            tail = scan_terminal_output(bytes(self.output[-3000:])).text
            raise AssertionError(f"{marker!r} never appeared; the screen's text ends: {tail!r}")

    def send(self, keys: bytes, settle: float = 0.3) -> None:
        """Type `keys`, then read what the program draws for `settle` seconds."""
        os.write(self.fd, keys)
        self.read_for(settle)

    def _read_once(self, timeout: float) -> bool:
        """One read of what is available within `timeout`; False once the program is gone."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the program ended and the pty closed
            return False
        if not chunk:
            return False
        self.output += chunk
        return True

    def quit(self, keys: bytes = b"q", timeout: float = 20.0) -> int:
        """Type the quit key, read the rest of the output and wait for the exit status."""
        os.write(self.fd, keys)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read_once(0.2)
        self.read_for(0.2)
        return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop the program if it still runs (its own session only) and close the pty."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        os.close(self.fd)


def screen_lines(app: object) -> list[str]:
    """The text of every row of a running Textual app's current screen, as drawn (cells)."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return [strip.text for strip in strips]


def screen_segments(app: object) -> list[tuple[int, object]]:
    """(row, segment) for every segment drawn on a running Textual app's current screen."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return [(row, segment) for row, strip in enumerate(strips) for segment in strip]
