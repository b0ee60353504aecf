"""A message's HTML for the browser (`mail.html_offline`): the policy first in the head, no
remote reference left unless remote content is asked for."""

from __future__ import annotations

import re

from tuimail.mail.html_offline import BLOCKING_POLICY, browser_html, safe_css

REMOTE = """<!DOCTYPE html><html><head><meta charset="iso-8859-1">
<meta http-equiv="refresh" content="0;url=https://e.example/r"><base href="https://e.example/">
<link rel="stylesheet" href="https://e.example/s.css"><title>T &amp; c</title>
<style>@import "https://e.example/i.css"; b { background: u\\72l(https://e.example/esc.png) }
i { background-image: image-set("https://e.example/set.png" 1x) }</style></head>
<body background="https://e.example/bg.png" onload="alert(1)">
<!--[if mso]><img src="https://e.example/mso.png"><![endif]-->
<p style="background:url('https://e.example/p.png')">Text &lt;kept&gt;</p>
<img src="https://e.example/i.png" srcset="https://e.example/2x.png 2x" alt="pic">
<img src="cid:logo@x" alt="inline"><img src="data:image/png;base64,AAAA">
<a href="https://shop.example/" ping="https://e.example/ping">shop</a>
<a href="javascript:alert(1)">js</a><form action="https://e.example/f"><input type="image"
src="https://e.example/in.png" formaction="https://e.example/fa"></form>
<iframe src="https://e.example/frame" srcdoc="<img src=https://e.example/sd.png>"></iframe>
<object data="https://e.example/o"><embed src="https://e.example/e"></object>
<svg><image href="https://e.example/svg.png"/><use href="#local"/></svg>
<video poster="//e.example/poster.jpg"><source src="https://e.example/v.mp4"></video>
<script>fetch("https://e.example/s")</script></body></html>"""


def test_nothing_remote_is_left_and_the_policy_comes_first() -> None:
    out = browser_html(REMOTE)
    assert out.startswith('<!DOCTYPE html><html><head><meta charset="utf-8">')
    assert f'content="{BLOCKING_POLICY}"' in out
    assert out.index("Content-Security-Policy") < out.index("<title>")
    remote = re.findall(r"e\.example[^\"' )<]*", out)
    assert remote == []
    assert 'href="https://shop.example/"' in out  # a link stays: clicking is the reader's choice
    assert "javascript:" not in out and "onload" not in out and "<script" not in out
    assert 'src="cid:logo@x"' in out and 'src="data:image/png;base64,AAAA"' in out
    assert 'href="#local"' in out
    assert "Text &lt;kept&gt;" in out and "T &amp; c" in out
    assert "iso-8859-1" not in out and "refresh" not in out


def test_remote_content_when_asked_for_but_no_scripts() -> None:
    out = browser_html(REMOTE, remote=True)
    for kept in ("s.css", "i.png", "2x.png", "bg.png", "frame", "poster.jpg", "esc.png"):
        assert kept in out, kept
    assert "<script" not in out and 'e.example/s"' not in out and "onload" not in out
    assert "script-src 'none'" in out and "default-src" not in out


def test_css_escapes_and_forms_of_url_are_seen() -> None:
    css = "a{b:url(x.png)} c{d:URL( 'https://e/x' )} @import url(y.css); e{f:u\\72 l(g)}"
    assert "x.png" not in safe_css(css) and "https" not in safe_css(css)
    assert "y.css" not in safe_css(css) and "(g)" not in safe_css(css)
    assert safe_css("a{b:url(data:image/png;base64,AA)}") == "a{b:url(data:image/png;base64,AA)}"


def test_deeply_nested_dropped_elements_are_bounded() -> None:
    out = browser_html("<object>" + "<div>" * 100_000 + "</object>" * 10 + "<p>after</p>")
    assert "<div>" not in out


def test_the_messages_own_images_are_put_in_for_their_cid_references() -> None:
    from email.message import EmailMessage

    from tuimail.mail.attachments import inline_images

    msg = EmailMessage()
    msg["Subject"] = "logo"
    msg.set_content("plain")
    msg.add_alternative('<p><img src="cid:logo%40shop" alt="logo"><img src="cid:missing"></p>',
                        subtype="html")  # fmt: skip
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG-bytes", "image", "png", cid="<logo@shop>")
    images = inline_images(msg.as_bytes())
    assert images == {"logo@shop": "data:image/png;base64,iVBORy1ieXRlcw=="}
    out = browser_html(html_part.get_body(("html",)).get_content(), images=images)
    assert '<img src="data:image/png;base64,iVBORy1ieXRlcw==" alt="logo">' in out
    assert 'src="cid:missing"' in out  # not in the message: left (the policy allows nothing)


def test_odd_tag_and_attribute_names_are_not_written_back() -> None:
    out = browser_html('<a"onmouseover=alert(1)>x</a"onmouseover=alert(1)><p a"b=1 c=2>y</p>')
    assert "onmouseover" not in out and 'a"b' not in out
    assert '<p c="2">y</p>' in out
