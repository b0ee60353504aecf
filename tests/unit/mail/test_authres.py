"""Authentication-Results (RFC 8601): only the account's own server's topmost fields count;
hostile and broken fields give nothing, never an error."""

from __future__ import annotations

from tuimail.mail.authres import MAX_FIELD_CHARS, Verdict, parse_field, verdicts

OURS = "mx.example.net"


def _message(*fields: str, body: str = "hello\r\n") -> bytes:
    return ("\r\n".join(fields) + "\r\nFrom: a@sender.example\r\n\r\n" + body).encode()


def test_the_servers_verdicts_are_read() -> None:
    raw = _message(
        f"Authentication-Results: {OURS};\r\n spf=pass (sender IP is 192.0.2.1)"
        " smtp.mailfrom=a@sender.example;\r\n dkim=pass header.d=sender.example header.s=k1;"
        "\r\n dmarc=fail (p=reject) header.from=sender.example",
        "Received: from mail.sender.example by mx.example.net",
    )
    assert verdicts(raw, "MX.Example.NET") == [
        Verdict("spf", "pass", "sender.example"),
        Verdict("dkim", "pass", "sender.example"),
        Verdict("dmarc", "fail", "sender.example"),
    ]


def test_nothing_is_trusted_without_an_authserv_id() -> None:
    raw = _message(f"Authentication-Results: {OURS}; dmarc=pass")
    assert verdicts(raw, None) == [] and verdicts(raw, " ") == []


def test_a_field_from_another_server_is_ignored() -> None:
    raw = _message("Authentication-Results: mx.evil.example; spf=pass; dkim=pass; dmarc=pass")
    assert verdicts(raw, OURS) == []


def test_a_forged_field_below_the_servers_received_field_is_ignored() -> None:
    raw = _message(
        f"Authentication-Results: {OURS}; spf=fail smtp.mailfrom=bank.example",
        f"Received: from evil by {OURS}",
        f"Authentication-Results: {OURS}; dkim=pass header.d=bank.example; dmarc=pass",
    )
    assert verdicts(raw, OURS) == [Verdict("spf", "fail", "bank.example")]


def test_several_fields_of_the_server_on_top_count_together() -> None:
    """OpenDKIM, OpenDMARC and an SPF check each add their own field, above the Received."""
    raw = _message(
        f"Authentication-Results: {OURS}; dmarc=pass header.from=a.example",
        f"Authentication-Results: {OURS}; dkim=fail header.d=a.example;"
        " dkim=pass header.d=b.example",
        "Received: from a by b",
        f"Received: from c by {OURS}",
        f"Authentication-Results: {OURS}; spf=pass",
    )
    assert verdicts(raw, OURS) == [
        Verdict("dkim", "pass", "b.example"),  # one signature passed
        Verdict("dmarc", "pass", "a.example"),
    ]


def test_text_in_the_body_is_no_field() -> None:
    raw = _message("Subject: x", body=f"Authentication-Results: {OURS}; dmarc=pass\r\n")
    assert verdicts(raw, OURS) == []


def test_hostile_and_broken_fields() -> None:
    escape = "\x1b[32m"
    cases = [
        f"{OURS}; dmarc=pass (unclosed comment",
        f"{OURS} (a (b (c (d (e (f (g (h (i (j deep)))))))))); dmarc=pass",
        f'"{OURS}; dmarc=pass"',  # the id quoted, with what looks like a result inside
        f"{OURS} notaversion; dmarc=pass",
        f"{OURS}; dmarc=passed; spf={escape}pass; dkim=",
        f"{OURS}; " + "x" * (MAX_FIELD_CHARS + 1),
        f"{OURS}; dmarc",
        "",
    ]
    for value in cases:
        raw = _message(f"Authentication-Results: {value}")
        assert verdicts(raw, OURS) == [], value
    parsed = parse_field(f"{OURS}; none")
    assert parsed == (OURS, [])


def test_a_domain_that_is_not_one_is_left_out() -> None:
    raw = _message(
        f'Authentication-Results: {OURS}; dkim=pass header.d="evil\x1b]0;x\x07.example";'
        " spf=pass smtp.mailfrom=a@b.example\u202e"
    )
    assert verdicts(raw, OURS) == [Verdict("spf", "pass"), Verdict("dkim", "pass")]


def test_comments_and_quotes_and_versions() -> None:
    parsed = parse_field(
        f'(before) {OURS} 1 (a "comment; with" semicolons);'
        ' dkim/1 = pass (good (nested) sig) header.d = a.example reason="ok; fine"'
    )
    assert parsed == (OURS, [("dkim", "pass", {"header.d": "a.example"})])


def test_many_fields_and_results_are_bounded() -> None:
    """Fields under the length limit, with many results, many times over (the header section
    read is bounded too); one over the limit is not read at all."""
    fields = [f"Authentication-Results: {OURS}; " + "; ".join(["spf=pass"] * 700)] * 2000
    assert verdicts(_message(*fields), OURS) == [Verdict("spf", "pass")]
    too_long = f"Authentication-Results: {OURS}; " + "; ".join(["spf=pass"] * 5000)
    assert verdicts(_message(too_long), OURS) == []
