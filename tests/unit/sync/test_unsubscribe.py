"""The one-click unsubscribe POST (RFC 8058) against a local HTTPS server: the body and the
fields sent, a verified certificate, no redirect followed, a time limit, and words for each
outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.http_server import Answer, WebServer
from tuimail.sync.unsubscribe import one_click


@pytest.fixture
def https(tmp_path: Path) -> Iterator[tuple[WebServer, Path]]:
    """An HTTPS server for localhost, and the file of the CA that signed its certificate."""
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    server = WebServer(cert, key).start()
    try:
        yield server, ca_file
    finally:
        server.stop()


def test_the_post_carries_one_click_and_nothing_about_the_user(
    https: tuple[WebServer, Path],
) -> None:
    server, ca_file = https
    server.serve("localhost", "/u", Answer(b"done", headers=()))
    result = one_click(f"https://localhost:{server.port}/u?list=dev", ca_file=ca_file)
    assert result.ok and result.words == "Unsubscribed: localhost accepted the request (200)."
    ((host, path, headers, body),) = server.posts
    assert (host, path, body) == ("localhost", "/u?list=dev", b"List-Unsubscribe=One-Click")
    assert not {"Cookie", "Authorization", "Referer"} & set(headers)


def test_a_redirect_is_named_and_not_followed(https: tuple[WebServer, Path]) -> None:
    server, ca_file = https
    server.serve(
        "localhost",
        "/u",
        Answer(status=303, headers=(("Location", "http://tracker.example/done"),)),
    )
    result = one_click(f"https://localhost:{server.port}/u", ca_file=ca_file)
    assert not result.ok
    assert "redirect (303) to http://tracker.example/done" in result.words
    assert server.requests == [("localhost", "/u")]  # the POST alone


def test_a_refusal_an_untrusted_certificate_and_a_silent_server_are_said(
    https: tuple[WebServer, Path],
) -> None:
    server, ca_file = https
    server.serve("localhost", "/gone", Answer(b"", status=410, headers=()))
    refused = one_click(f"https://localhost:{server.port}/gone", ca_file=ca_file)
    assert refused == refused.__class__(
        False, "Not unsubscribed: localhost refused the request (410)."
    )
    untrusted = one_click(f"https://localhost:{server.port}/gone")  # its CA is not trusted
    assert not untrusted.ok and "certificate" in untrusted.words
    assert len(server.posts) == 1  # nothing was posted over the untrusted connection
    server.serve("localhost", "/slow", Answer(stall=True))
    slow = one_click(f"https://localhost:{server.port}/slow", ca_file=ca_file, timeout=0.5)
    assert slow.words == "Not unsubscribed: localhost did not answer in time."


def test_only_https_is_posted_to() -> None:
    result = one_click("http://lists.example.org/u")
    assert not result.ok and "only done over https" in result.words
