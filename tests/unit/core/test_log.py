"""Log redaction: registered secrets never reach a log line, in plain text or base64."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from tuimail.core import log as tlog

SECRET = "Canary-Unit-7c1e"


@pytest.fixture(autouse=True)
def _registered() -> None:
    tlog.register_secret(SECRET)


@pytest.mark.parametrize(
    "blob",
    [
        f"\0alice\0{SECRET}",  # AUTH PLAIN
        f"\0a\0{SECRET}",
        f"\0ab\0{SECRET}",
        SECRET,  # AUTH LOGIN
        f"user=alice\x01auth=Bearer {SECRET}\x01\x01",  # XOAUTH2
        f"{SECRET}trailing",
    ],
)
def test_base64_forms_are_redacted_at_any_offset(blob: str) -> None:
    encoded = base64.b64encode(blob.encode()).decode()
    line = tlog.redact(f"> AUTHENTICATE PLAIN {encoded} ok")
    assert encoded not in line
    assert tlog.REDACTED in line
    assert line.startswith("> AUTHENTICATE PLAIN ") and line.endswith(" ok")


def test_plain_and_repr_forms_are_redacted() -> None:
    assert SECRET not in tlog.redact(f"PASS {SECRET}")
    weird = "pw\twith'quote\\"
    tlog.register_secret(weird)
    assert repr(weird)[1:-1] not in tlog.redact(f"sent b'{repr(weird)[1:-1]}'")


def test_ordinary_text_is_untouched() -> None:
    text = "A OK LOGIN completed; INBOX selected; UIDVALIDITY 12345"
    assert tlog.redact(text) == text


def test_cores_cover_every_alignment() -> None:
    cores = tlog.base64_cores(SECRET.encode())
    for offset in range(3):
        encoded = base64.b64encode(b"x" * offset + SECRET.encode() + b"yz").decode()
        assert any(core in encoded for core in cores)


def test_log_file_gets_redacted_lines_and_mode_0600(tmp_path: Path) -> None:
    log_file = tmp_path / "sub" / "tuimail.core.log"
    tlog.setup_logging(log_file, debug=True)
    try:
        logger = logging.getLogger("tuimail.test")
        logger.debug("login with %s", SECRET)
        try:
            raise RuntimeError(f"server echoed {SECRET}")
        except RuntimeError:
            logger.exception("failure")
    finally:
        tlog.setup_logging(None)
    text = log_file.read_text()
    assert "login with <redacted>" in text
    assert "server echoed <redacted>" in text
    assert SECRET not in text
    assert log_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "line",
    [
        "PASS keyring",
        "password='keyring'",
        'LOGIN alice "keyring"',
        "user:keyring@host",
        "wrong password keyring.",
        "sent b'PASS keyring\\r\\n'",
    ],
)
def test_a_dictionary_word_password_is_redacted_where_it_is_the_password(line: str) -> None:
    tlog.register_secret("keyring")
    redacted = tlog.redact(line)
    assert "keyring" not in redacted and tlog.REDACTED in redacted


@pytest.mark.parametrize(
    "line",
    [
        "using the gnome-keyring backend",
        "keyrings.alt is installed",
        "no keyring_backend, see /usr/share/keyring/x",
        "the keyringd service",
    ],
)
def test_a_dictionary_word_password_inside_other_words_is_left_alone(line: str) -> None:
    """Redacting "keyring" in "gnome-keyring" would give away the password itself."""
    tlog.register_secret("keyring")
    assert tlog.redact(line) == line


@pytest.mark.parametrize(
    ("to_file", "debug", "terminal", "in_file"),
    [
        (False, False, {"WARNING"}, None),
        (False, True, {"DEBUG", "INFO", "WARNING"}, None),
        (True, False, {"WARNING"}, {"INFO", "WARNING"}),
        (True, True, {"WARNING"}, {"DEBUG", "INFO", "WARNING"}),
    ],
)
def test_what_goes_to_the_terminal_and_the_file_is_as_documented(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    to_file: bool,
    debug: bool,
    terminal: set[str],
    in_file: set[str] | None,
) -> None:
    """docs/logging.md's table: warnings always reach the terminal, also with --log-file."""
    log_file = tmp_path / "tuimail.core.log" if to_file else None
    tlog.setup_logging(log_file, debug=debug)
    try:
        logger = logging.getLogger("tuimail.test")
        for level in ("DEBUG", "INFO", "WARNING"):
            logger.log(getattr(logging, level), "line at %s", level)
    finally:
        tlog.setup_logging(None)
    shown = capsys.readouterr().err
    assert {lv for lv in ("DEBUG", "INFO", "WARNING") if f"line at {lv}" in shown} == terminal
    if in_file is not None:
        assert log_file is not None
        written = log_file.read_text()
        assert {lv for lv in ("DEBUG", "INFO", "WARNING") if f"line at {lv}" in written} == in_file
