"""A message's HTML made safe to open in a web browser: by default it can load nothing remote.

`browser_html` rewrites the HTML in one pass with the standard library's `html.parser`:
- a Content-Security-Policy (`BLOCKING_POLICY`: nothing may load but `data:` and `cid:`
  images and the message's own inline styles; no scripts, frames, forms or fonts from
  anywhere) and a UTF-8 charset go first in the head, and the message's own `http-equiv`
  metas (refresh, another policy, a charset) and `<base>` go;
- scripts, stylesheet links, frames and objects and comments (Outlook's conditional ones hide
  remote images) are left out; event-handler attributes (`on...`) too;
- every attribute that loads something (`src`, `srcset`, `background`, `poster`, `data`,
  `href` outside links, ...) is removed unless it is a `data:`, `cid:` or `#` reference, and
  CSS `url(...)` and `@import` in style elements and attributes are emptied.
The message's own images (`cid:` references, which a browser cannot resolve in a file) are put
in as `data:` URIs when the caller passes them. The policy alone blocks the loads in a browser
that honours it; the rewriting makes the file
carry no remote reference at all. With `remote=True` (the user asked for remote content) the
references, stylesheets and frames stay; scripts and plug-ins are still left out, and a smaller
policy (`REMOTE_POLICY`) blocks them too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import unquote

BLOCKING_POLICY = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:; "
    "form-action 'none'; base-uri 'none'"
)
REMOTE_POLICY = "script-src 'none'; object-src 'none'; form-action 'none'; base-uri 'none'"

_SCRIPTS = frozenset({"script", "object", "embed", "applet"})  # left out in both modes
_FRAMES = frozenset({"iframe", "frame", "frameset", "portal"})  # left out unless remote
_EMPTY_LOADERS = frozenset({"link", "base"})  # stylesheets, icons, prefetches; unless remote
MAX_DROPPED_NESTING = 256  # elements tracked inside one that is left out
_LOADING_ATTRIBUTES = frozenset(
    {"src", "srcset", "background", "poster", "data", "lowsrc", "dynsrc", "longdesc", "action"}
    | {"formaction", "codebase", "classid", "archive", "profile", "manifest", "ping", "srcdoc"}
    | {"xlink:href", "imagesrcset", "icon", "cite"}
)
_LINKS = frozenset({"a", "area"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"}
    | {"track", "wbr"}
)
_TAG_NAME = re.compile(r"[a-z][a-z0-9:-]{0,40}")
_LOCAL_REFERENCE = re.compile(r"\s*(?:data:|cid:|#|$)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\s*\(\s*(?:\"[^\"]*\"|'[^']*'|[^)]*)\s*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_CSS_IMAGE_SET = re.compile(r"(?:-webkit-)?image-set\s*\(", re.IGNORECASE)
# A quoted string naming a remote address (image-set("https://..." 1x), a bare @import string).
_CSS_REMOTE_STRING = re.compile(r"\"[^\"]*(?:[a-z]+:|//)[^\"]*\"|'[^']*(?:[a-z]+:|//)[^']*'", re.I)
_CSS_ESCAPE = re.compile(r"\\[0-9a-fA-F]{1,6}\s?|\\(.)")


def _css_unescaped(css: str) -> str:
    """CSS with its escapes (``u\\72l(``) resolved, so a hidden url( is seen."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        code = int(match.group(0)[1:].strip(), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"

    return _CSS_ESCAPE.sub(one, css)


def _local_url(match: re.Match[str]) -> str:
    inner = match.group(0)[match.group(0).index("(") + 1 : -1].strip().strip("\"'")
    return match.group(0) if inner.lower().startswith(("data:", "cid:")) else "url()"


def _local_string(match: re.Match[str]) -> str:
    inner = match.group(0)[1:-1].strip().lower()
    return match.group(0) if inner.startswith(("data:", "cid:")) else '""'


def safe_css(css: str) -> str:
    """CSS that names nothing remote: escapes resolved, `@import` rules and `image-set(`
    removed, every `url(...)` and quoted address that is not `data:` or `cid:` emptied."""
    css = _css_unescaped(css).replace("\x00", "")
    css = _CSS_IMPORT.sub("", css)
    css = _CSS_IMAGE_SET.sub("(", css)
    css = _CSS_URL.sub(_local_url, css)
    return _CSS_REMOTE_STRING.sub(_local_string, css)


class _Rewriter(HTMLParser):
    def __init__(self, remote: bool, images: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.remote = remote
        self.images = images
        self.out: list[str] = []
        self._head_done = False
        self._dropping: list[str] = []  # open elements whose content is left out
        self._in_style = False

    def _head(self) -> None:
        if self._head_done:
            return
        self._head_done = True
        policy = REMOTE_POLICY if self.remote else BLOCKING_POLICY
        self.out.append(
            '<meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            '<meta name="referrer" content="no-referrer">'
        )

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype") and not self.out:
            self.out.append(f"<!{html.escape(decl, quote=False)}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, closed: bool) -> None:
        if not _TAG_NAME.fullmatch(tag):
            return  # html.parser takes '<a"x=y>' for a tag named 'a"x=y': not written back
        if tag in ("html", "head") and not self._head_done:
            self.out.append(f"<{tag}{self._attributes(tag, attrs)}>")
            if tag == "head":
                self._head()
            return
        self._head()
        dropped = tag in _SCRIPTS or (not self.remote and tag in _FRAMES)
        if self._dropping or dropped:
            if tag not in _VOID and not closed and len(self._dropping) < MAX_DROPPED_NESTING:
                self._dropping.append(tag)
            return
        if tag in _EMPTY_LOADERS and not self.remote:
            return
        if tag == "meta" and any(name in ("http-equiv", "charset") for name, _ in attrs):
            return
        self.out.append(f"<{tag}{self._attributes(tag, attrs)}{' /' if closed else ''}>")
        if tag == "style" and not closed:
            self._in_style = True

    def _attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        kept: list[str] = []
        for name, value in attrs:
            if name.startswith("on") or not re.fullmatch(r"[a-zA-Z_:][-a-zA-Z0-9_:.]*", name):
                continue  # scripts, and names that would break the markup
            text = value or ""
            if name == "src" and text.strip().lower().startswith("cid:"):
                text = self.images.get(unquote(text.strip()[4:]).strip("<>"), text)
            if not self.remote:
                loads = name in _LOADING_ATTRIBUTES or (name == "href" and tag not in _LINKS)
                if loads and not _LOCAL_REFERENCE.match(text):
                    continue
                if name == "style":
                    text = safe_css(text)
            if name == "ping" or (
                name == "href" and text.strip().lower().startswith(("javascript:", "vbscript:"))
            ):
                continue
            kept.append(f' {name}="{html.escape(text, quote=True)}"')
        return "".join(kept)

    def handle_endtag(self, tag: str) -> None:
        if not _TAG_NAME.fullmatch(tag):
            return
        if self._dropping:
            if tag in self._dropping:
                while self._dropping and self._dropping.pop() != tag:
                    pass
            return
        if tag in _SCRIPTS or tag in _VOID or (not self.remote and tag in _FRAMES):
            return
        if tag == "style":
            self._in_style = False
        if tag in ("html", "head"):
            self._head()
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._dropping:
            return
        if self._in_style:
            css = data if self.remote else safe_css(data)
            self.out.append(css.replace("</", "<\\/"))
            return
        if data.strip():
            self._head()
        self.out.append(html.escape(data, quote=False))

    # Comments (and Outlook's conditional ones), processing instructions and CDATA sections
    # are left out: handle_comment, handle_pi and unknown_decl keep HTMLParser's no-ops.


def browser_html(
    markup: str, *, remote: bool = False, images: Mapping[str, str] | None = None
) -> str:
    """The HTML of a message, rewritten for a web browser (see the module docstring);
    `images`: data: URIs of the message's own images by Content-ID, put in for their ``cid:``
    references (a browser cannot resolve those in a file)."""
    rewriter = _Rewriter(remote, images or {})
    rewriter.feed(markup)
    rewriter.close()
    rewriter._head()
    return "".join(rewriter.out)
