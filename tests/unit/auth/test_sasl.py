"""SASL for mail logins: the mechanism chosen, the initial responses, failure challenges."""

from __future__ import annotations

import base64
import json

from tuimail.auth.sasl import (
    oauth_mechanism,
    oauthbearer_response,
    password_mechanism,
    plain_response,
    sasl_error_text,
    xoauth2_response,
)
from tuimail.core.log import redact


def test_sasl_initial_responses() -> None:
    assert xoauth2_response("alice@example.org", "ya29.tok") == (
        b"user=alice@example.org\x01auth=Bearer ya29.tok\x01\x01"
    )
    assert oauthbearer_response("alice@example.org", "tok", "imap.example.org", 993) == (
        b"n,a=alice@example.org,\x01host=imap.example.org\x01port=993\x01auth=Bearer tok\x01\x01"
    )
    # RFC 5801: "," and "=" in the authorization identity are escaped.
    assert oauthbearer_response("a,b=c", "t", "h", 1).startswith(b"n,a=a=2Cb=3Dc,\x01")


def test_sasl_error_text_shows_only_the_status() -> None:
    challenge = base64.b64encode(
        json.dumps({"status": "invalid_token", "scope": "x", "schemes": "bearer"}).encode()
    )
    assert sasl_error_text(challenge) == "the server refused the token (status invalid_token)"
    assert sasl_error_text(b"not base64!") == "the server refused the token"
    evil = base64.b64encode(json.dumps({"status": "\x1b[2Jx\nnew"}).encode())
    assert "\x1b" not in sasl_error_text(evil) and "\n" not in sasl_error_text(evil)


def test_mechanism_choice_follows_the_order_of_preference() -> None:
    assert password_mechanism(["login", "cram-md5", "plain"]) == "plain"
    assert password_mechanism(["cram-md5", "login"]) == "login"
    assert password_mechanism(["gssapi"]) is None
    assert oauth_mechanism(["xoauth2", "oauthbearer"]) == "OAUTHBEARER"
    assert oauth_mechanism(["PLAIN", "XOAUTH2"]) == "XOAUTH2"
    assert oauth_mechanism(["PLAIN"]) is None


def test_plain_response_is_base64_of_nul_user_nul_password_and_redacted() -> None:
    blob = plain_response("usér", "Pw-Sasl-Plain-7")
    assert base64.b64decode(blob) == b"\0us\xc3\xa9r\0Pw-Sasl-Plain-7"
    assert blob.decode() not in redact(f"AUTH PLAIN {blob.decode()}")
