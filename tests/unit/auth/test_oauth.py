"""OAuth2 without a server: presets, the requests they build, PKCE, state, SASL, config."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse

import pytest

from tuimail.auth.oauth import (
    GOOGLE,
    OAuthError,
    TokenClient,
    authorization_url,
    code_from_redirect,
    microsoft,
    pkce_challenge,
    pkce_pair,
    provider_for,
    redirect_uri,
)
from tuimail.config.load import parse_config
from tuimail.config.schema import ConfigError, OAuth2Config
from tuimail.core.log import redact
from tuimail.core.model import Protocol


def _query(url: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, strict_parsing=True)
    assert len(pairs) == len(dict(pairs)), "a parameter appears twice"
    return dict(pairs)


def test_google_authorization_url_has_exactly_the_expected_parameters() -> None:
    url = authorization_url(
        GOOGLE,
        client_id="cid.apps.googleusercontent.com",
        redirect_uri="http://127.0.0.1:4711/",
        state="st4te",
        challenge="ch4llenge",
        login_hint="alice@gmail.com",
    )
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert _query(url) == {
        "response_type": "code",
        "client_id": "cid.apps.googleusercontent.com",
        "redirect_uri": "http://127.0.0.1:4711/",
        "scope": "https://mail.google.com/",
        "state": "st4te",
        "code_challenge": "ch4llenge",
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": "alice@gmail.com",
    }


def test_microsoft_preset_endpoints_scopes_and_tenant() -> None:
    provider = microsoft("organizations")
    base = "https://login.microsoftonline.com/organizations/oauth2/v2.0"
    assert (provider.auth_url, provider.token_url, provider.device_url) == (
        f"{base}/authorize",
        f"{base}/token",
        f"{base}/devicecode",
    )
    url = authorization_url(
        provider,
        client_id="app-id",
        redirect_uri="http://localhost:5000/",
        state="s",
        challenge="c",
    )
    query = _query(url)
    assert query["scope"] == (
        "https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/POP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send offline_access"
    )
    assert "access_type" not in query and "login_hint" not in query
    assert redirect_uri(provider, 5000) == "http://localhost:5000/"
    assert redirect_uri(GOOGLE, None) == "http://127.0.0.1/"


def test_a_tenant_cannot_inject_a_path() -> None:
    assert microsoft("a/../b").token_url.startswith(
        "https://login.microsoftonline.com/a%2F..%2Fb/oauth2"
    )


def test_google_token_requests() -> None:
    client = TokenClient(GOOGLE, "cid", "GOCSPX-secret")
    assert client.code_request("the-code", "the-verifier", "http://127.0.0.1:4711/") == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "http://127.0.0.1:4711/",
        "code_verifier": "the-verifier",
        "client_id": "cid",
        "client_secret": "GOCSPX-secret",
    }
    assert client.refresh_request("1//refresh") == {
        "grant_type": "refresh_token",
        "refresh_token": "1//refresh",
        "client_id": "cid",
        "client_secret": "GOCSPX-secret",
    }
    # The client secret is registered for redaction as soon as a client holds it.
    assert "GOCSPX-secret" not in redact("secret=GOCSPX-secret")


def test_microsoft_token_requests_are_public_client_and_repeat_the_scopes() -> None:
    client = TokenClient(microsoft(), "app-id")
    assert client.refresh_request("M.R3_refresh") == {
        "grant_type": "refresh_token",
        "refresh_token": "M.R3_refresh",
        "scope": " ".join(microsoft().scopes),
        "client_id": "app-id",
    }
    assert "client_secret" not in client.code_request("c", "v", "http://localhost:1/")


def test_pkce_pair_follows_rfc_7636() -> None:
    verifier, challenge = pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
    assert len(challenge) == 43 and "=" not in challenge
    assert pkce_pair()[0] != verifier  # fresh each time
    assert pkce_challenge("abc") != pkce_challenge("abd")


def test_redirect_with_our_state_gives_the_code() -> None:
    url = "http://127.0.0.1:4711/?state=ours&code=4%2F0Acode&scope=x"
    assert code_from_redirect(url, "ours") == "4/0Acode"
    assert code_from_redirect("  " + url + "\n", "ours") == "4/0Acode"  # pasted with blanks


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4711/?state=theirs&code=abc",
        "http://127.0.0.1:4711/?code=abc",
        "http://127.0.0.1:4711/?state=&code=abc",
        "http://127.0.0.1:4711/?state=ours2&code=abc",
    ],
)
def test_state_mismatch_is_refused(url: str) -> None:
    with pytest.raises(OAuthError, match="state does not match"):
        code_from_redirect(url, "ours")


def test_error_redirect_and_missing_code_are_refused() -> None:
    with pytest.raises(OAuthError, match="not granted: access_denied"):
        code_from_redirect("http://127.0.0.1/?state=s&error=access_denied", "s")
    with pytest.raises(OAuthError, match="no authorization code"):
        code_from_redirect("http://127.0.0.1/?state=s", "s")
    # Untrusted text from the URL is cut to one printable line.
    with pytest.raises(OAuthError) as caught:
        code_from_redirect("http://x/?state=s&error=bad%1b%5b31m%0aline", "s")
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)


# --- configuration


ACCOUNT = """
[accounts.g]
address = "alice@gmail.com"
auth = "oauth2"
[accounts.g.imap]
host = "imap.gmail.com"
[accounts.g.smtp]
host = "smtp.gmail.com"
"""


def test_oauth2_account_config() -> None:
    text = ACCOUNT + '[accounts.g.oauth2]\nprovider = "google"\nclient_id = "cid"\nflow = "paste"\n'
    account = parse_config(text).accounts["g"]
    assert account.auth == "oauth2"
    assert account.oauth2 == OAuth2Config(provider="google", client_id="cid", flow="paste")
    # Every server knows how to log in.
    assert {s.auth for s in account.servers()} == {"oauth2"}
    assert provider_for(account.oauth2) == GOOGLE
    password_account = parse_config(
        '[accounts.p]\naddress = "a@b.c"\n[accounts.p.imap]\nhost = "h"'
    )
    imap = password_account.accounts["p"].server(Protocol.IMAP)
    assert password_account.accounts["p"].auth == "password" and imap and imap.auth == "password"


def test_custom_provider_config() -> None:
    text = ACCOUNT + (
        "[accounts.g.oauth2]\n"
        'provider = "custom"\nclient_id = "cid"\n'
        'auth_url = "https://id.example.org/auth"\ntoken_url = "http://127.0.0.1:8080/token"\n'
        'scopes = ["mail", "offline"]\n'
    )
    settings = parse_config(text).accounts["g"].oauth2
    assert settings is not None
    provider = provider_for(settings)
    assert (provider.auth_url, provider.token_url, provider.scopes, provider.device_url) == (
        "https://id.example.org/auth",
        "http://127.0.0.1:8080/token",
        ("mail", "offline"),
        None,
    )


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        (None, "accounts.g.oauth2", "is required"),
        ('provider = "google"', "accounts.g.oauth2.client_id", "is required"),
        ('provider = "gogle"\nclient_id = "c"', "accounts.g.oauth2.provider", "did you mean"),
        ('provider = "custom"\nclient_id = "c"', "accounts.g.oauth2.auth_url", "custom"),
        (
            'provider = "custom"\nclient_id = "c"\nauth_url = "http://id.example.org/a"',
            "accounts.g.oauth2.auth_url",
            "https://",
        ),
        (
            'provider = "google"\nclient_id = "c"\nflow = "device"',
            "accounts.g.oauth2.flow",
            "Google",
        ),
        (
            'provider = "google"\nclient_id = "c"\ntenant = "x"',
            "accounts.g.oauth2.tenant",
            "microsoft",
        ),
        (
            'provider = "google"\nclient_id = "c"\nclientid = "x"',
            "accounts.g.oauth2.clientid",
            "unknown",
        ),
        (
            'provider = "google"\nclient_id = "c"\nclient_secret = "s"\n'
            'client_secret_command = "x"',
            "accounts.g.oauth2.client_secret_command",
            "not both",
        ),
        (
            'provider = "microsoft"\nclient_id = "c"\nscopes = ["a b"]',
            "accounts.g.oauth2.scopes",
            "spaces",
        ),
    ],
)
def test_bad_oauth2_config_is_refused(table: str | None, key: str, problem: str) -> None:
    text = ACCOUNT + (f"[accounts.g.oauth2]\n{table}\n" if table is not None else "")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_oauth2_table_without_oauth2_auth_is_refused() -> None:
    text = (
        '[accounts.p]\naddress = "a@b.c"\n[accounts.p.oauth2]\nprovider = "google"\nclient_id = "c"'
    )
    with pytest.raises(ConfigError, match="only applies with auth"):
        parse_config(text)
    with pytest.raises(ConfigError, match="not one of"):
        parse_config('[accounts.p]\naddress = "a@b.c"\nauth = "kerberos"')


@pytest.mark.parametrize(
    ("where", "key"),
    [("address", "accounts.g.password_command"), ("imap", "accounts.g.imap.password_command")],
)
def test_a_password_command_on_an_oauth2_account_is_refused(where: str, key: str) -> None:
    # It would never run (logins send access tokens): say so rather than ignore it.
    line = 'password_command = "pass show mail"\n'
    text = ACCOUNT.replace(
        'address = "alice@gmail.com"\n' if where == "address" else 'host = "imap.gmail.com"\n',
        ('address = "alice@gmail.com"\n' if where == "address" else 'host = "imap.gmail.com"\n')
        + line,
    )
    text += '[accounts.g.oauth2]\nprovider = "google"\nclient_id = "cid"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == key
    assert "is not used with auth" in caught.value.problem
