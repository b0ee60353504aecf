"""Write the test corpus (the .eml files beside this script), byte for byte the same every run.

    python tests/corpus/make_corpus.py [OUTPUT_DIR]

The messages are written out byte by byte here rather than built with the email package, so
that the broken ones stay broken and every charset is exactly what the file says. README.md
beside this script says what each file tests; tests/unit/mail/test_corpus.py checks that the
committed files match what this script writes.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
CRLF = b"\r\n"
LF = b"\n"

ESC = "\x1b"
CSI_RED = ESC + "[31;1m"
CSI_RESET = ESC + "[0m"
OSC_TITLE = ESC + "]0;you have been pwned" + "\x07"
OSC8_OPEN = ESC + "]8;;https://evil.example/" + ESC + "\\"
OSC8_CLOSE = ESC + "]8;;" + ESC + "\\"
OSC52 = ESC + "]52;c;cm0gLXJmIH4K" + "\x07"  # base64 of "rm -rf ~"
C1_CSI = "\x9b" + "31m"


def encoded_word(text: str, charset: str, encoding: str = "b") -> str:
    """One RFC 2047 encoded word."""
    data = text.encode(charset)
    if encoding == "b":
        payload = base64.b64encode(data).decode("ascii")
    else:
        payload = "".join(
            chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 0x20 else f"={b:02X}"
            for b in data
        )
    return f"=?{charset}?{encoding}?{payload}?="


def b64(data: bytes) -> bytes:
    """Base64 in 76-character lines, LF-terminated (converted to the message's line ends)."""
    return base64.encodebytes(data)


def message(headers: list[str | bytes], body: bytes | str, eol: bytes = CRLF) -> bytes:
    """Header lines and a body (written with LF) joined with the given line end."""
    lines = [h.encode("ascii", "surrogateescape") if isinstance(h, str) else h for h in headers]
    if isinstance(body, str):
        body = body.encode("utf-8")
    return eol.join(lines) + eol + eol + body.replace(b"\n", eol)


def common(subject: str, msg_id: str, extra: tuple[str, ...] = ()) -> list[str | bytes]:
    return [
        "From: Alice Example <alice@example.org>",
        "To: Bob Example <bob@example.com>",
        f"Subject: {subject}",
        "Date: Tue, 05 Mar 2024 14:30:00 +0100",
        f"Message-ID: <{msg_id}@example.org>",
        "MIME-Version: 1.0",
        *extra,
    ]


def plain_threaded() -> bytes:
    return message(
        [
            'From: "Example, Alice" <alice@example.org>',
            "To: Bob Example <bob@example.com>,",
            " Team: carol@example.net, Dave <dave@example.net>;",
            "Cc: eve@example.org",
            "Reply-To: Lists <list@lists.example.org>",
            "Subject: Re: Quarterly report",
            "Date: Tue, 05 Mar 2024 14:30:00 +0100",
            "Message-ID: <plain-threaded.1@example.org>",
            "In-Reply-To: <parent.2@example.com>",
            "References: <root.0@example.org>",
            "\t<parent.2@example.com> <root.0@example.org>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
        ],
        "Hi Bob,\n\nThe report is attached to the wiki.\n\n-- \nAlice\n",
    )


ALT_PLAIN = "Plain version of the newsletter.\n"
ALT_HTML = "<html><body><p>HTML version of the <b>newsletter</b>.</p></body></html>\n"


def alternative() -> bytes:
    body = (
        "--ALT\nContent-Type: text/plain; charset=utf-8\n\n" + ALT_PLAIN + "--ALT\n"
        "Content-Type: text/html; charset=utf-8\n\n" + ALT_HTML + "--ALT--\n"
    )
    headers = common(
        "Newsletter", "alternative", ('Content-Type: multipart/alternative; boundary="ALT"',)
    )
    return message(headers, body)


def alternative_html_first() -> bytes:
    body = (
        "--ALT\nContent-Type: text/html; charset=utf-8\n\n" + ALT_HTML + "--ALT\n"
        "Content-Type: text/plain; charset=utf-8\n\n" + ALT_PLAIN + "--ALT--\n"
    )
    headers = common(
        "HTML first", "html-first", ('Content-Type: multipart/alternative; boundary="ALT"',)
    )
    return message(headers, body, eol=LF)


def alternative_empty_plain() -> bytes:
    body = (
        "--ALT\nContent-Type: text/plain; charset=utf-8\n\n \n\n--ALT\n"
        "Content-Type: text/html; charset=utf-8\n\n"
        "<p>Only the <i>HTML</i> part has text.</p>\n--ALT--\n"
    )
    headers = common(
        "Empty plain", "empty-plain", ('Content-Type: multipart/alternative; boundary="ALT"',)
    )
    return message(headers, body)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001" + "0d0a2db40000000049454e44ae426082"
)


def alternative_related() -> bytes:
    png = b64(PNG).decode("ascii")
    body = (
        "--ALT\nContent-Type: text/plain; charset=utf-8\n\nSee the chart below.\n"
        '--ALT\nContent-Type: multipart/related; boundary="REL"; type="text/html"\n\n'
        "--REL\nContent-Type: text/html; charset=utf-8\n\n"
        '<p>See the chart below.</p><img src="cid:chart@example.org" alt="Sales chart">\n'
        "--REL\nContent-Type: image/png\nContent-ID: <chart@example.org>\n"
        "Content-Transfer-Encoding: base64\n\n" + png + "--REL\n"
        'Content-Type: image/png; name="logo.png"\nContent-ID: <logo@example.org>\n'
        "Content-Disposition: inline\nContent-Transfer-Encoding: base64\n\n" + png + "--REL--\n"
        "--ALT--\n"
    )
    headers = common("Chart", "related", ('Content-Type: multipart/alternative; boundary="ALT"',))
    return message(headers, body)


def mixed_attachments() -> bytes:
    pdf = b64(b"%PDF-1.4\n" + bytes(range(256)) * 4).decode("ascii")  # 1,033 bytes decoded
    png = b64(PNG).decode("ascii")
    docx_name = encoded_word("Angebot für Müller.docx", "utf-8")
    body = (
        "This is a multi-part message in MIME format.\n"
        '--MIX\nContent-Type: multipart/alternative; boundary="ALT"\n\n'
        "--ALT\nContent-Type: text/plain; charset=utf-8\n\nFiles attached.\n"
        "--ALT\nContent-Type: text/html; charset=utf-8\n\n<p>Files attached.</p>\n--ALT--\n"
        # RFC 2231 extended value (percent-encoded UTF-8)
        "--MIX\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe%20%E2%82%AC.pdf\n"
        "Content-Transfer-Encoding: base64\n\n" + pdf +
        # RFC 2231 continuations, the first one encoded
        "--MIX\nContent-Type: image/png\nContent-Disposition: attachment;\n"
        " filename*0*=utf-8''%E5%86%99%E7%9C%9F;\n filename*1=_2024.png\n"
        "Content-Transfer-Encoding: base64\n\n" + png +
        # RFC 2047 inside a quoted parameter: not standard, but common (Outlook, Gmail)
        "--MIX\nContent-Type: application/vnd.openxmlformats-officedocument"
        f'.wordprocessingml.document;\n name="{docx_name}"\n'
        f'Content-Disposition: attachment; filename="{docx_name}"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + b64(b"PK\x03\x04 not really a docx").decode()
        # a text file sent as an attachment: listed, not shown
        + "--MIX\nContent-Type: text/plain; charset=utf-8; name=notes.txt\n"
        "Content-Disposition: attachment; filename=notes.txt\n\nsecret notes\n"
        # an inline patch with a name: shown in the body, as mail clients do
        "--MIX\nContent-Type: text/plain; charset=utf-8; name=fix.patch\n"
        "Content-Disposition: inline; filename=fix.patch\n\n"
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
        # a non-text part without any name or disposition
        "--MIX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + b64(b"\x00" * 10).decode()
        + "--MIX--\n"
    )
    headers = common("Files", "mixed", ('Content-Type: multipart/mixed; boundary="MIX"',))
    return message(headers, body)


def html_only() -> bytes:
    html = (
        "<html><head><title>Title must not show</title>"
        "<style>p { color: red; } .x { display: none }</style>"
        "<script>alert('script must not show')</script></head><body>"
        "<h1>Spring sale</h1>"
        "<p>Caf&eacute; prices&nbsp;down 20&#8364; &amp; more.</p>"
        '<p><img src="https://tracker.example/logo.png" alt="Shop logo">'
        '<img src="https://tracker.example/pixel.gif" width="1" height="1">'
        '<img src="https://cdn.example/photo.jpg"></p>'
        '<p>Visit <a href="https://shop.example/sale">our shop</a>.</p>'
        "<ol><li>First</li><li>Second</li></ol>"
        "<p>1. not a list, - not a bullet</p>"
        "</body></html>\n"
    )
    headers = common("Spring sale", "html-only", ("Content-Type: text/html; charset=utf-8",))
    return message(headers, html)


def charset_utf8_latin1() -> bytes:
    headers = common(
        "Declared UTF-8, written in Latin-1",
        "utf8-latin1",
        ("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"),
    )
    body = "Caf\u00e9 na\u00efve \u00fcber \u2014 valid UTF-8 line\n".encode()
    body += "Caf\u00e9 na\u00efve \u00fcber\n".encode("latin-1")
    return message(headers, body)


def charset_unknown() -> bytes:
    headers = common(
        "Unknown charset",
        "unknown-charset",
        (
            'Content-Type: text/plain; charset="x-no-such-charset"',
            "Content-Transfer-Encoding: 8bit",
        ),
    )
    return message(headers, "Gr\u00fc\u00dfe aus K\u00f6ln\n".encode())


def charset_latin1_cp1252() -> bytes:
    headers = common(
        "Latin-1 label, Windows-1252 bytes",
        "cp1252",
        ("Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"),
    )
    return message(headers, b"\x93Quoted\x94 price: \x80 20 \x96 caf\xe9\n")


ENCODED_SUBJECTS = {
    # file stem: (charset, encoding, subject, from name, body)
    "subject-utf8-b": ("utf-8", "b", "R\u00e9union \u00e0 10h \u2615", "J\u00fcrgen M\u00fcller"),
    "subject-utf8-q": (
        "utf-8",
        "q",
        "Gr\u00fc\u00dfe aus M\u00fcnchen",
        "Fran\u00e7ois D\u00e9j\u00e0",
    ),
    "subject-iso-8859-1": (
        "iso-8859-1",
        "q",
        "\u00bfQu\u00e9 tal el viaje?",
        "Jos\u00e9 Pe\u00f1a",
    ),
    "subject-koi8-r": (
        "koi8-r",
        "b",
        "\u041e\u0442\u0447\u0451\u0442 \u0437\u0430 \u043c\u0430\u0440\u0442",
        "\u0414\u043c\u0438\u0442\u0440\u0438\u0439",
    ),
    "subject-iso-2022-jp": (
        "iso-2022-jp",
        "b",
        "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d",
        "\u7530\u4e2d\u592a\u90ce",
    ),
    "subject-gb2312": ("gb2312", "b", "\u4f1a\u8bae\u7eaa\u8981", "\u674e\u96f7"),
}
ENCODED_BODY = {
    "utf-8": "Body in UTF-8: \u00e9\u00e0\u00fc \u2615\n",
    "iso-8859-1": "Cuerpo en Latin-1: a\u00f1o, \u00e1rbol\n",
    "koi8-r": "\u0422\u0435\u043a\u0441\u0442 \u043f\u0438\u0441\u044c\u043c\u0430\n",
    "iso-2022-jp": "\u672c\u6587\u3067\u3059\u3002\n",
    "gb2312": "\u8fd9\u662f\u6b63\u6587\u3002\n",
}


def encoded_subject(stem: str) -> Callable[[], bytes]:
    charset, encoding, subject, name = ENCODED_SUBJECTS[stem]

    def build() -> bytes:
        text = ENCODED_BODY[charset].encode(charset)
        headers = [
            f"From: {encoded_word(name, charset, encoding)} <sender@example.org>",
            "To: Bob Example <bob@example.com>",
            f"Subject: {encoded_word(subject, charset, encoding)}",
            "Date: Tue, 05 Mar 2024 14:30:00 +0100",
            f"Message-ID: <{stem}@example.org>",
            "MIME-Version: 1.0",
            f"Content-Type: text/plain; charset={charset}",
            "Content-Transfer-Encoding: base64",
        ]
        return message(headers, b64(text))

    return build


def encoded_words_edge_cases() -> bytes:
    euro = "\u20ac".encode()
    # One UTF-8 character split over two encoded words: they must be joined before decoding.
    split = (
        f"=?utf-8?b?{base64.b64encode(b'price ' + euro[:2]).decode()}?= "
        f"=?utf-8?b?{base64.b64encode(euro[2:] + b'20').decode()}?="
    )
    first, last = encoded_word("Zo\u00eb", "utf-8"), encoded_word("Sm\u00edth", "utf-8")
    asa = encoded_word("\u00c5sa", "iso-8859-1", "q")
    check = encoded_word("\u2713", "utf-8", "q")
    headers = [
        f"From: {first} {last} <zoe@example.org>",
        f"To: {asa} <asa@example.org>, =?x-unknown?q?caf=E9?= <unknown@example.org>",
        f"Subject: {split} and plain text {check} done",
        "Date: Tue, 05 Mar 2024 14:30:00 +0100",
        "Message-ID: <encoded-edge@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return message(headers, "Encoded words edge cases.\n")


def raw_8bit_headers() -> bytes:
    headers: list[str | bytes] = [
        "From: J\u00fcrgen M\u00fcller <juergen@example.org>".encode(),
        b"To: Ren\xe9 Dupont <rene@example.org>",
        "Subject: Gr\u00fc\u00dfe \u2615 ohne Kodierung".encode(),
        "Date: Tue, 05 Mar 2024 14:30:00 +0100",
        "Message-ID: <raw-8bit@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return message(headers, "Unencoded UTF-8 in the headers (RFC 6532 style).\n")


def missing_date_msgid() -> bytes:
    headers = ["From: nobody@example.org", "To: bob@example.com"]
    return message(headers, "No Date, no Message-ID, no Subject.\n", eol=LF)


def bad_date() -> bytes:
    headers = [
        "From: Alice <alice@example.org>",
        "To: bob@example.com",
        "Subject: Bad date",
        "Date: the day after tomorrow, probably",
        "Message-ID: (a comment) <bad-date@example.org> (another)",
        "In-Reply-To: bare-id@example.com",
        "References: <a@example.com> garbage <b@example.com>",
    ]
    return message(headers, "The Date header is garbage.\n")


def date_unknown_zone() -> bytes:
    headers = [
        "From: alice@example.org",
        "To: bob@example.com",
        "Subject: Unknown zone",
        "Date: 5 Mar 2024 14:30:00 -0000",
        "Message-ID: <unknown-zone@example.org>",
        "In-Reply-To: Your message of Monday <earlier@example.com>",
    ]
    return message(headers, "The time zone is -0000 (unknown).\n")


def broken_no_end_boundary() -> bytes:
    body = (
        "--MIX\nContent-Type: text/plain; charset=utf-8\n\nFirst part.\n"
        "--MIX\nContent-Type: application/pdf; name=cut.pdf\n"
        "Content-Disposition: attachment; filename=cut.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
    )
    headers = common(
        "No end boundary", "no-end", ('Content-Type: multipart/mixed; boundary="MIX"',)
    )
    return message(headers, body)


def broken_wrong_boundary() -> bytes:
    body = "--ACTUAL\nContent-Type: text/plain\n\nThe parts use another boundary.\n--ACTUAL--\n"
    headers = common(
        "Wrong boundary", "wrong-boundary", ('Content-Type: multipart/mixed; boundary="DECLARED"',)
    )
    return message(headers, body)


def broken_no_boundary() -> bytes:
    headers = common("No boundary", "no-boundary", ("Content-Type: multipart/mixed",))
    return message(headers, "--X\nContent-Type: text/plain\n\nText without a boundary.\n--X--\n")


def broken_base64() -> bytes:
    body = (
        "--MIX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "SGVsbG8gd29y!!bGQ\n"  # invalid characters and missing padding
        "--MIX\nContent-Type: image/jpeg\nContent-Disposition: attachment; filename=photo.jpg\n"
        "Content-Transfer-Encoding: base64\n\n/9j/4AAQSkZJRg@@@\n--MIX--\n"
    )
    headers = common(
        "Broken base64", "broken-b64", ('Content-Type: multipart/mixed; boundary="MIX"',)
    )
    return message(headers, body)


def nested(levels: int) -> bytes:
    parts = "".join(
        f'--L{i}\nContent-Type: multipart/mixed; boundary="L{i + 1}"\n\n' for i in range(1, levels)
    )
    closes = "".join(f"--L{i}--\n" for i in range(levels, 0, -1))
    body = parts + f"--L{levels}\nContent-Type: text/plain\n\nDeep inside.\n" + closes
    headers = common(
        f"Nested {levels}", f"nested-{levels}", ('Content-Type: multipart/mixed; boundary="L1"',)
    )
    return message(headers, body)


def oversized_subject() -> bytes:
    word = encoded_word("\u00fcber", "utf-8")
    subject = " ".join([word] * 600)
    headers = common(subject, "oversized-subject", ("Content-Type: text/plain",))
    return message(headers, "The subject has 600 encoded words.\n")


def hostile_escapes() -> bytes:
    attachment_name = "report" + OSC52 + ".pdf"
    percent = "".join(
        ch if ch.isalnum() or ch == "." else f"%{ord(ch):02X}" for ch in attachment_name
    )
    plain = (
        f"Normal {CSI_RED}red{CSI_RESET} text.\n"
        f"Title change: {OSC_TITLE}after title.\n"
        f"Link: {OSC8_OPEN}click me{OSC8_CLOSE}.\n"
        f"Clipboard: {OSC52}after clipboard.\n"
        f"C1: {C1_CSI}after c1.\n"
        "Bell\x07 backspace\x08 nul\x00 del\x7f end.\n"
    )
    html = (
        "<p>Entity &#27;[31mred&#27;[0m and &#x1b;]0;pwned&#7;title "
        "and &#x9b;31m and &#x1b;]52;c;cm0gLXJmIH4K&#x07;clip.</p>\n"
    )
    body = (
        "--ALT\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + plain
        + "--ALT\nContent-Type: text/html; charset=utf-8\n\n"
        + html
        + "--ALT--\n"
    )
    mixed = (
        '--MIX\nContent-Type: multipart/alternative; boundary="ALT"\n\n'
        + body
        + "--MIX\nContent-Type: application/pdf\n"
        f"Content-Disposition: attachment; filename*=utf-8''{percent}\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--MIX--\n"
    )
    headers = [
        f"From: Mallory {OSC8_OPEN}Bank{OSC8_CLOSE} <mallory@example.org>",
        "To: bob@example.com",
        f"Subject: {CSI_RED}URGENT{CSI_RESET} {OSC_TITLE}{encoded_word(C1_CSI + 'c1', 'utf-8')}",
        "Date: Tue, 05 Mar 2024 14:30:00 +0100",
        "Message-ID: <hostile-escapes@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="MIX"',
    ]
    return message(headers, mixed.encode("utf-8"))


def hostile_bidi() -> bytes:
    name = "invoice\u202efdp.exe"
    percent = "".join(f"%{b:02X}" if b > 127 else chr(b) for b in name.encode())
    body = (
        "--MIX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Pay \u202e0001\u202c now. \u2066isolated\u2069 \u200fmark\u200e \u061calm.\n"
        "--MIX\nContent-Type: application/octet-stream\n"
        f"Content-Disposition: attachment; filename*=utf-8''{percent}\n"
        "Content-Transfer-Encoding: base64\n\nTVo=\n--MIX--\n"
    )
    sender = encoded_word("Support \u2067Bank\u2069", "utf-8")
    subject = encoded_word("Invoice \u202eFDP.EXE\u202c attached", "utf-8")
    headers = [
        f"From: {sender} <support@example.org>",
        "To: bob@example.com",
        f"Subject: {subject}",
        "Date: Tue, 05 Mar 2024 14:30:00 +0100",
        "Message-ID: <hostile-bidi@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="MIX"',
    ]
    return message(headers, body)


def hostile_markup() -> bytes:
    headers = common(
        "[@click=app.quit] [bold red]Click[/] me", "markup", ("Content-Type: text/plain",)
    )
    return message(headers, "Press [@click=app.quit]here[/] or [link=https://x.example]this[/].\n")


def flowed() -> bytes:
    body = (
        "This paragraph is written with soft \nline breaks that a reader joins \nagain.\n"
        "> Quoted text that was also \n> flowed.\n"
        " >not a quote (space-stuffed)\n"
        "\n"
        "-- \n"
        "Signature line\n"
    )
    headers = common(
        "Flowed", "flowed", ("Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",)
    )
    return message(headers, body)


def forwarded_message() -> bytes:
    inner = (
        "From: Carol <carol@example.net>\nTo: alice@example.org\nSubject: Original\n"
        "Date: Mon, 04 Mar 2024 09:00:00 +0000\nMessage-ID: <original@example.net>\n\n"
        "The original text.\n"
    )
    body = (
        "--MIX\nContent-Type: text/plain; charset=utf-8\n\nForwarding this.\n"
        "--MIX\nContent-Type: message/rfc822\n\n" + inner + "--MIX--\n"
    )
    headers = common(
        "Fwd: Original", "forwarded", ('Content-Type: multipart/mixed; boundary="MIX"',)
    )
    return message(headers, body)


def body_lone_cr() -> bytes:
    headers = common(
        "Lone CR",
        "lone-cr",
        ("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"),
    )
    return message(headers, "Total: 100 EUR\rTotal: 999 EUR\nnext line\n")


def single_part_attachment() -> bytes:
    headers = common(
        "Scan",
        "single-attachment",
        (
            'Content-Type: application/pdf; name="scan.pdf"',
            "Content-Transfer-Encoding: base64",
        ),
    )
    return message(headers, b64(b"%PDF-1.4\n" + b"x" * 2000))


def quoted_printable_utf8() -> bytes:
    text = "Quoted-printable: \u00e9t\u00e9 \u2014 " + "long line " * 12 + "end.\n"
    # Written as QP by hand: non-ASCII and "=" escaped, a soft line break in the long line.
    qp = "".join(
        chr(b) if 32 <= b < 127 and b != 0x3D else "\n" if b == 10 else f"={b:02X}"
        for b in text.encode()
    )
    qp = qp[:70] + "=\n" + qp[70:]
    headers = common(
        "QP",
        "qp",
        ("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"),
    )
    return message(headers, qp)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "plain-threaded": plain_threaded,
    "alternative": alternative,
    "alternative-html-first": alternative_html_first,
    "alternative-empty-plain": alternative_empty_plain,
    "alternative-related": alternative_related,
    "mixed-attachments": mixed_attachments,
    "html-only": html_only,
    "charset-utf8-latin1": charset_utf8_latin1,
    "charset-unknown": charset_unknown,
    "charset-latin1-cp1252": charset_latin1_cp1252,
    **{stem: encoded_subject(stem) for stem in ENCODED_SUBJECTS},
    "encoded-words-edge-cases": encoded_words_edge_cases,
    "raw-8bit-headers": raw_8bit_headers,
    "missing-date-msgid": missing_date_msgid,
    "bad-date": bad_date,
    "date-unknown-zone": date_unknown_zone,
    "broken-no-end-boundary": broken_no_end_boundary,
    "broken-wrong-boundary": broken_wrong_boundary,
    "broken-no-boundary": broken_no_boundary,
    "broken-base64": broken_base64,
    "nested-8-levels": lambda: nested(8),
    "nested-40-levels": lambda: nested(40),
    "oversized-subject": oversized_subject,
    "hostile-escapes": hostile_escapes,
    "hostile-bidi": hostile_bidi,
    "hostile-markup": hostile_markup,
    "flowed": flowed,
    "forwarded-message": forwarded_message,
    "body-lone-cr": body_lone_cr,
    "single-part-attachment": single_part_attachment,
    "quoted-printable-utf8": quoted_printable_utf8,
}


def build_all() -> dict[str, bytes]:
    """File name -> bytes of every corpus message."""
    return {f"{stem}.eml": build() for stem, build in BUILDERS.items()}


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else CORPUS_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, data in build_all().items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv)
