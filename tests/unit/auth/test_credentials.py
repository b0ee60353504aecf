"""The one way a login gets its secret: the checks every connection applies to it."""

from __future__ import annotations

import pytest

from tuimail.auth.credentials import checked
from tuimail.auth.secrets import SecretError
from tuimail.core.log import redact


def test_checked_hands_out_the_secret_and_registers_it_for_redaction() -> None:
    assert checked(lambda: "Pw-Checked-31") == "Pw-Checked-31"
    assert "Pw-Checked-31" not in redact("LOGIN user Pw-Checked-31")


@pytest.mark.parametrize(
    ("secret", "words"),
    [("", "the password is empty"), ("Pw\r\nA1 LOGOUT", "line break or NUL"), ("a\0b", "NUL")],
)
def test_checked_refuses_a_secret_that_cannot_be_sent(secret: str, words: str) -> None:
    with pytest.raises(SecretError, match=words):
        checked(lambda: secret)


def test_checked_passes_on_the_source_s_own_error() -> None:
    def source() -> str:
        raise SecretError("no password_command is set")

    with pytest.raises(SecretError, match="no password_command"):
        checked(source)
