"""HTML mail in the message view: styled text, not Markdown source; links numbered and listed;
hostile HTML harmless. And `v` / `V`: the HTML written to a private file for the browser, with
no remote reference in it unless `V` asked for remote content (the real app on a pty, a fake
browser command that copies the file)."""

from __future__ import annotations

import re
import stat
import sys
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from tests.support.pilot import shown_text, wait_for
from tests.support.terminal import (
    DOWN,
    PtyApp,
    assert_only_the_apps_own_sequences,
    scan_terminal_output,
)
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.core.model import FolderRole
from tuimail.store.db import open_store
from tuimail.store.ingest import IncomingMessage, store_messages
from tuimail.store.write import ensure_account, upsert_folder
from tuimail.ui.widgets.body_view import BodyView

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
CONFIG = '[accounts.local]\naddress = "you@tuimail.test"\n'

WINTER_SALE = """<html><head><title>Sale</title>
<link rel="stylesheet" href="https://cdn.shop.example/mail.css">
<style>@import url(https://cdn.shop.example/more.css);
body { background: url("https://cdn.shop.example/bg.png") }</style></head>
<body background="https://cdn.shop.example/body.png">
<h1>Winter sale</h1>
<p>Dear <b>Alice</b>, here is <a href="https://shop.example/offer">the offer</a>
<i>for you</i>.</p>
<img src="https://tracker.example/open.gif" width="1" height="1">
<img src="https://cdn.shop.example/logo.png" srcset="https://cdn.shop.example/logo2.png 2x"
 alt="Shop logo">
<table><tr><th>Item</th><th>Price</th></tr><tr><td>Coat</td><td>99 EUR</td></tr>
<tr><td>Scarf</td><td>15 EUR</td></tr></table>
<ul><li>Free delivery</li><li>Easy returns</li></ul>
<blockquote>Last year's sale was great.</blockquote>
<p style="background-image: url(https://cdn.shop.example/p.png)">
<a href="https://shop.example/unsubscribe">Unsubscribe</a></p>
<iframe src="https://ads.example/frame"></iframe><script>fetch("https://ads.example/s")</script>
<video poster="//cdn.shop.example/poster.jpg"></video>
</body></html>"""

HOSTILE = (
    "<p>esc &#27;[2J&#27;]0;title&#7; bidi \u202eevil\u202c ctrl \x1b[31mred</p>"
    "<script>document.write('script text')</script><style>p{}</style>"
    '<a href="https://x.example/\x1b]8;;https://evil.example\x1b\\">a link</a>'
    "<p>[bold red]markup[/] [@click=app.quit]click[/]</p>" + "<div>" * 5000 + "deep text"
)


def _message(html: str, subject: str = "Winter sale") -> bytes:
    lines = [
        "From: Shop <news@shop.example>",
        "To: you@tuimail.test",
        f"Subject: {subject}",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "Message-ID: <sale@shop.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        html,
    ]
    return "\r\n".join(lines).encode()


def _store(data: Path, *messages: bytes) -> Path:
    conn = open_store(data)
    try:
        account_id = ensure_account(conn, "local", None)
        inbox = upsert_folder(conn, account_id, "INBOX", delimiter="/", role=FolderRole.INBOX)
        store_messages(conn, inbox, [IncomingMessage(raw=raw) for raw in messages])
    finally:
        conn.close()
    return data


def _laid_out(body: BodyView) -> bool:
    """Whether the view shows the HTML laid out at its own width: the message list shows the
    message its cursor rests on after a moment (a timer), not in the first frame."""
    return 0 < body.laid_out_width == body.content_size.width


async def _view_text(tmp_path: Path, html: str, size: tuple[int, int] = (120, 60)) -> str:
    data = _store(tmp_path / "data", _message(html))
    app = TuimailApp(parse_config(CONFIG), data, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=size) as pilot:
        body = app.screen.query_one("#view-body", BodyView)
        await wait_for(pilot, lambda: _laid_out(body))
        await pilot.pause()  # the frame that draws it
        return shown_text(body)


async def test_html_mail_is_shown_as_styled_text_not_markdown(tmp_path: Path) -> None:
    body = await _view_text(tmp_path, WINTER_SALE)
    lines = body.split("\n")
    assert lines[0] == "Winter sale"
    assert "Dear Alice, here is the offer[1] for you." in body
    assert "[Shop logo]" in body
    assert "  • Free delivery\n  • Easy returns" in body
    assert "> Last year's sale was great." in body
    table = [line for line in lines if line.startswith(("┌", "│", "├", "└"))]
    assert table[1].split() == ["│", "Item", "│", "Price", "│"]
    assert table[3].split() == ["│", "Coat", "│", "99", "EUR", "│"]
    # The links listed after the text, numbered as in it.
    assert lines[-2:] == ["[1] https://shop.example/offer", "[2] https://shop.example/unsubscribe"]
    assert "Unsubscribe[2]" in body
    # No Markdown (what html2text made of it), nothing of the head, no address of an image.
    for source in ("# ", "**", "_for you_", "[the offer]", "---", "| ", "](", "[1]:"):
        assert source not in body, source
    for hidden in ("Sale\n", "tracker.example", "cdn.shop.example", "script", "fetch"):
        assert hidden not in body, hidden


async def test_the_html_is_laid_out_again_for_a_new_width_and_stays_selectable(
    tmp_path: Path,
) -> None:
    longer = WINTER_SALE.replace("for you", "for you and for everyone who likes a good coat")
    longer = longer.replace("Free delivery", "Free delivery " + "on every order " * 4)
    data = _store(tmp_path / "data", _message(longer))
    app = TuimailApp(parse_config(CONFIG), data, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(140, 60)) as pilot:
        body = app.screen.query_one("#view-body", BodyView)
        await wait_for(pilot, lambda: _laid_out(body))
        await pilot.pause()  # the frame that draws it
        wide = shown_text(body)
        await pilot.resize_terminal(70, 60)
        await wait_for(pilot, lambda: body.laid_out_width == body.content_size.width < 70)
        narrow = shown_text(body)
        width = body.content_size.width
        # Text, not a drawing: what the app's own selection copies from (str of the visual).
        selectable = str(body.render())
    line = "Dear Alice, here is the offer[1] for you and for everyone who likes a good coat."
    assert line in wide
    assert line not in narrow and "Dear Alice, here is the offer[1]" in narrow  # wrapped anew
    lines = narrow.split("\n")
    item = next(n for n, text in enumerate(lines) if text.startswith("  • Free delivery"))
    assert lines[item + 1].startswith("    o")  # a hanging indent: laid out again, not wrapped
    assert max(len(line) for line in narrow.split("\n")) <= width < 70
    assert "the offer[1]" in selectable and "[1] https://shop.example/offer" in selectable


async def test_a_wide_table_in_a_narrow_view_stays_readable(tmp_path: Path) -> None:
    row = "<tr>" + "".join(f"<td>col{n}</td>" for n in range(14)) + "</tr>"
    body = await _view_text(tmp_path, f"<p>before</p><table>{row}{row}</table>", size=(60, 40))
    assert "col0 │ col1 │ col2" in body  # one line of cells per row, not a squeezed grid
    assert body.count("col13") == 2


async def test_hostile_html_reaches_the_view_as_plain_harmless_text(tmp_path: Path) -> None:
    body = await _view_text(tmp_path, HOSTILE)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", body)
    assert "[2J" not in body and "]0;" not in body and "[31m" not in body
    assert "esc  bidi evil ctrl red" in body or "esc bidi evil ctrl red" in body
    assert "[bold red]markup[/] [@click=app.quit]click[/]" in body  # shown, not interpreted
    assert "script text" not in body and "deep text" in body


# --- v / V: the browser ---------------------------------------------------------------------


async def test_w_on_a_message_without_html_says_so(tmp_path: Path) -> None:
    plain = _message("just text", subject="Plain").replace(b"text/html", b"text/plain")
    data = _store(tmp_path / "data", plain)
    config = parse_config(CONFIG + '[ui]\nbrowser = "false"\n')
    app = TuimailApp(config, data, clock=lambda: NOW, start_workers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        shown = [str(n.message) for n in app._notifications]
    assert shown == ["This message has no HTML part to open in a browser."]
    assert not list(tmp_path.glob("**/*.html"))


class _References(HTMLParser):
    """Every URL an HTML file would load (not the links a reader may click)."""

    LOADS = {"src", "srcset", "background", "poster", "data", "action", "href", "ping"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.csp: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self.LOADS and not (tag == "a" and name == "href"):
                self.found.append(f"{tag}.{name}={value}")
            if name == "style" and value and "url(" in value and "url()" not in value:
                self.found.append(f"{tag}.style={value}")
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(values.get("content") or "")
        self._style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._style:
            self.found += re.findall(r"(?:url\(\s*[\"']?[^)\"'\s]|@import)[^;]*", data)
            self.found = [ref for ref in self.found if ref != "url()"]

    def handle_endtag(self, tag: str) -> None:
        self._style = False


def _references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser


def _wait_for_file(path: Path, app: PtyApp, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.stat().st_size:
        assert time.monotonic() < deadline, f"{path.name} never came"
        app.read_for(0.2)
    app.read_for(0.3)  # let the copy finish
    return path.read_text(encoding="utf-8")


def test_w_opens_the_html_without_remote_references_and_W_with_them(tmp_path: Path) -> None:
    data = _store(tmp_path / "data", _message(WINTER_SALE))
    copies = tmp_path / "copies"
    copies.mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + f'[ui]\nbrowser = "cp %s {copies}/"\n')
    home = tmp_path / "home"
    home.mkdir()
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data),
         "--offline"],
        env={"HOME": str(home), "TMPDIR": str(temp), "COLORTERM": "", "BROWSER": ""},
    )  # fmt: skip
    try:
        app.wait_for_text("Winter sale", seconds=60)
        app.send(DOWN)  # the view shows the message under the cursor
        app.wait_for_text("the offer[1]", seconds=30)
        app.send(b"w")
        blocked = _wait_for_file(copies / "message-1.html", app)
        (directory,) = temp.glob("tuimail-html-*")
        written = directory / "message-1.html"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        app.send(b"W")
        remote = _wait_for_file(copies / "message-2-remote.html", app)
        screen = scan_terminal_output(bytes(app.output))
        assert_only_the_apps_own_sequences(screen)
        assert "Opening the message in the browser" in screen.text
        assert "(W allows it)" in screen.text, "the key that allows it, as it is now"
        assert app.quit() == 0
    finally:
        app.close()
    refs = _references(blocked)
    assert refs.found == []
    assert "shop.example/offer" in blocked  # the links stay: a click is the reader's choice
    assert refs.csp and refs.csp[0].startswith("default-src 'none'; img-src data: cid:;")
    assert "tracker.example" not in blocked and "ads.example" not in blocked
    assert blocked.index("Content-Security-Policy") < blocked.index("<title>")
    # V: the remote references are there, as the sender wrote them; scripts still are not.
    loaded = " ".join(_references(remote).found)
    for reference in ("logo.png", "logo2.png", "mail.css", "body.png", "open.gif", "poster.jpg"):
        assert reference in loaded, reference
    assert "more.css" in remote and "ads.example/s" not in remote
    assert not list(temp.glob("tuimail-html-*"))  # removed when tuimail ended


def test_v_without_a_browser_says_so(tmp_path: Path) -> None:
    data = _store(tmp_path / "data", _message(WINTER_SALE))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + '[ui]\nbrowser = "no-such-browser-here"\n')
    home = tmp_path / "home"
    home.mkdir()
    app = PtyApp(
        [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data),
         "--offline"],
        env={"HOME": str(home), "TMPDIR": str(tmp_path), "COLORTERM": ""},
    )  # fmt: skip
    try:
        app.wait_for_text("Winter sale", seconds=60)
        app.send(DOWN)
        app.send(b"w")
        app.wait_for_text("'no-such-browser-here' is not installed", seconds=30)
        assert app.quit() == 0
    finally:
        app.close()
