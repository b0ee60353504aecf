"""Opening HTML mail loads nothing: every way HTML can name a remote resource points at a
loopback HTTP server that counts requests, the message is rendered in the app and printed by
`tuimail show`, and the server saw no request at all."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.pilot import shown_text
from tests.support.terminal import ROOT
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole
from tuimail.store import read
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


class CountingServer:
    """An HTTP server on a free loopback port that records every request's path."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.requests = requests
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    try:
        # The counter counts (or a silent server would prove nothing), then starts from zero.
        probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        probe.request("GET", "/probe")
        probe.getresponse().read()
        probe.close()
        assert server.requests == ["/probe"]
        server.requests.clear()
        yield server
    finally:
        server.close()


def remote_html(base: str) -> str:
    """HTML naming remote resources every way a mail client could be led to fetch one."""
    return f"""<!DOCTYPE html>
<html><head>
<meta http-equiv="refresh" content="0; url={base}/meta-refresh">
<link rel="stylesheet" href="{base}/link-stylesheet.css">
<link rel="preload" as="image" href="{base}/link-preload.png">
<link rel="dns-prefetch" href="{base}/dns-prefetch">
<style>
  @import url("{base}/style-import.css");
  body {{ background-image: url({base}/style-background.png); }}
  @font-face {{ font-family: x; src: url('{base}/style-font.woff'); }}
</style>
<script src="{base}/script-src.js"></script>
<base href="{base}/base-href/">
</head>
<body background="{base}/body-background.png">
<p>remote-start</p>
<img src="{base}/img-src.png" alt="alt-img">
<img src="{base}/img-pixel.gif" width="1" height="1">
<img srcset="{base}/img-srcset-1x.png 1x, {base}/img-srcset-2x.png 2x" alt="alt-srcset">
<picture><source srcset="{base}/source-srcset.webp"><img src="{base}/picture-img.png"></picture>
<div style="background: url('{base}/inline-style.png')">inline-style-text</div>
<table background="{base}/table-background.png"><tr>
<td background="{base}/td-background.png">cell-text</td></tr></table>
<iframe src="{base}/iframe-src.html"></iframe>
<video poster="{base}/video-poster.png" src="{base}/video-src.mp4"></video>
<audio src="{base}/audio-src.mp3"></audio>
<object data="{base}/object-data.swf"></object>
<embed src="{base}/embed-src.swf">
<input type="image" src="{base}/input-image.png">
<svg><image href="{base}/svg-image.png"/></svg>
<a href="{base}/a-href">a-link-text</a>
<p>remote-end</p>
</body></html>
"""


def _message(base: str) -> bytes:
    lines = [
        "From: Newsletter <news@evil.example>",
        "To: you@tuimail.test",
        "Subject: remote content",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "Message-ID: <remote@evil.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        remote_html(base),
    ]
    return "\r\n".join(lines).encode()


@pytest.fixture
def store(tmp_path: Path, counting_server: CountingServer) -> Path:
    data = tmp_path / "data"
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, "local", None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=_message(counting_server.base))])
    finally:
        conn.close()
    return data


CONFIG = '[accounts.local]\naddress = "you@tuimail.test"\n'


async def test_the_app_renders_remote_html_without_a_request(
    store: Path, counting_server: CountingServer
) -> None:
    app = TuimailApp(parse_config(CONFIG), store, clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)  # the view follows the cursor once it rests
        body = shown_text(app.screen.query_one("#view-body", Static))
        assert "remote-start" in body and "remote-end" in body  # really rendered
        assert "inline-style-text" in body and "cell-text" in body and "a-link-text" in body
        await pilot.press("down", "up", "enter")  # open it again, as a reader would
        await pilot.pause(0.2)
    assert counting_server.requests == []


def test_tuimail_show_prints_remote_html_without_a_request(
    store: Path, counting_server: CountingServer, tmp_path: Path
) -> None:
    conn = open_store(store)
    try:
        (inbox,) = [f for f in read.folders(conn) if f.name == "INBOX"]
        (message_id,) = read.message_ids(conn, inbox.id)
    finally:
        conn.close()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(store),
         "show", str(message_id)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "remote-start" in done.stdout and "remote-end" in done.stdout
    assert counting_server.requests == []
