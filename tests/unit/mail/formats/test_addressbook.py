"""Address books: vCard files and directories (khard / vdirsyncer layout), and the command."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tuimail.mail.formats.addressbook import (
    AddressBookError,
    BookCache,
    Contact,
    command_line,
    parse_command_output,
    parse_vcards,
    run_address_book_command,
)

CONTACTS = Path(__file__).parent / "contacts"


def card(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCARD", "VERSION:4.0", *lines, "END:VCARD"]) + "\r\n"


def test_a_khard_directory_gives_every_address_preferred_first() -> None:
    load = BookCache().load([CONTACTS / "personal", CONTACTS / "work"])
    assert load.problems == ()
    assert load.contacts == (
        Contact("Carol Smith", "carol@example.org"),  # TYPE=pref first
        Contact("Carol Smith", "carol.home@example.net"),
        Contact("Dr. Ærlig Øyvind", "aerlig@example.no"),  # from N: prefix given family
        Contact("Smith, Dan", "dan.smith@example.org"),  # PREF=1, unfolded, \, unescaped
        Contact("Smith, Dan", "dan.home@example.net"),  # PREF=2
        Contact("Smith, Dan", "dan.alias@example.org"),  # grouped property, no PREF
    )


def test_a_directory_is_searched_recursively_and_hidden_files_are_skipped() -> None:
    load = BookCache().load([CONTACTS])
    emails = [c.email for c in load.contacts]
    assert "hidden@example.org" not in emails
    assert {"carol@example.org", "dan.smith@example.org", "juergen@example.de"} <= set(emails)


def test_a_file_with_several_cards_and_vcard_21_quoted_printable() -> None:
    load = BookCache().load([CONTACTS / "export.vcf"])
    assert load.contacts == (
        Contact("Jürgen Müller (Büro)", "juergen@example.de"),
        Contact("Jürgen Müller (Büro)", "jm@example.de"),
        Contact("", "nameless@example.com"),  # a card without an address gives nothing
    )


def test_escapes_folding_and_quoted_parameters() -> None:
    text = card(
        "FN:Ann\\; the \\\\ one\\nsecond",
        'EMAIL;TYPE="work,voice";X-LABEL="a:b;c":ann@',
        "\texample.org",
        "EMAIL:mailto:ann2@example.org",
    )
    assert parse_vcards(text) == [
        Contact("Ann; the \\ one second", "ann@example.org"),
        Contact("Ann; the \\ one second", "ann2@example.org"),
    ]


def test_lf_line_endings_lower_case_names_and_groups() -> None:
    text = (
        "begin:vcard\nversion:3.0\nfn:Low Case\nhome.email;type=pref:low@example.org\nend:vcard\n"
    )
    assert parse_vcards(text) == [Contact("Low Case", "low@example.org")]


def test_broken_input_gives_what_can_be_read() -> None:
    text = (
        "garbage without a colon\r\n"
        + card("FN:Not an address", "EMAIL:not-an-address", "EMAIL:two words@example.org")
        + "BEGIN:VCARD\r\nFN:Never ended\r\nEMAIL:lost@example.org\r\n"
    )
    assert parse_vcards(text) == []
    # A nested vCard 2.1 AGENT card does not end the outer one or lend it its lines.
    nested = card(
        "FN:Outer",
        "AGENT:",
        "BEGIN:VCARD",
        "FN:Inner",
        "EMAIL:inner@example.org",
        "END:VCARD",
        "EMAIL:outer@example.org",
    )
    assert parse_vcards(nested) == [Contact("Outer", "outer@example.org")]


def test_duplicate_addresses_of_one_card_are_given_once() -> None:
    text = card("FN:Dup", "EMAIL:dup@example.org", "EMAIL;PREF=1:DUP@example.org")
    assert parse_vcards(text) == [Contact("Dup", "DUP@example.org")]


def test_the_cache_parses_a_file_again_only_when_it_changed(tmp_path: Path) -> None:
    book = tmp_path / "book"
    shutil.copytree(CONTACTS / "personal", book)
    cache = BookCache()
    first = cache.load([book])
    assert cache.parsed == 2
    assert cache.load([book]) == first
    assert cache.parsed == 2, "nothing changed: nothing parsed"
    changed = book / "b0e4a7c2-55aa-4f0e-8d3d-91c2f6a0e9b2.vcf"
    changed.write_text(card("FN:New Name", "EMAIL:new@example.org"))
    os.utime(changed, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    again = cache.load([book])
    assert cache.parsed == 3
    assert Contact("New Name", "new@example.org") in again.contacts


def test_missing_and_unreadable_books_are_problems_not_failures(tmp_path: Path) -> None:
    unreadable = tmp_path / "locked.vcf"
    unreadable.write_text(card("FN:X", "EMAIL:x@example.org"))
    unreadable.chmod(0)
    try:
        readable_as_root = os.access(unreadable, os.R_OK)
        load = BookCache().load([tmp_path / "gone", unreadable, CONTACTS / "export.vcf"])
    finally:
        unreadable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert load.problems[0].startswith(f"address book {tmp_path / 'gone'}: No such file")
    if not readable_as_root:
        assert "Permission denied" in load.problems[1]
    assert Contact("", "nameless@example.com") in load.contacts


# --- the command ------------------------------------------------------------------------


def test_the_typed_text_reaches_the_command_as_an_argument_never_as_shell_text(
    tmp_path: Path,
) -> None:
    assert command_line("khard email --parsable %s") == 'khard email --parsable "$1"'
    assert command_line("lbdbq '%s'") == 'lbdbq "$1"'
    assert command_line("my-query") == 'my-query "$1"'
    assert command_line("q --fmt '%%s' %s") == "q --fmt '%s' \"$1\""
    marker = tmp_path / "pwned"
    hostile = f"a'; touch {marker}; echo \"$(touch {marker})"
    out = run_address_book_command("printf '%%s\\tGot\\n' %s", hostile)
    assert out == [] and not marker.exists()
    out = run_address_book_command("printf 'x@y.org\\t%%s\\n' %s", hostile)
    assert out == [Contact(hostile, "x@y.org")] and not marker.exists()


def test_output_lines_address_tab_name_and_garbage() -> None:
    text = (
        "ann@example.org\tAnn Example\tfriends\n"
        "bob@example.org\n"
        "not an address\tNobody\n"
        "\n"
        "  carol@example.org  \tCarol\n"
        "\x1b]0;x\x07@evil.example\tEvil\n"
    )
    assert parse_command_output(text) == [
        Contact("Ann Example", "ann@example.org"),
        Contact("", "bob@example.org"),
        Contact("Carol", "carol@example.org"),
    ]


def test_mutt_format_skips_the_status_line() -> None:
    text = "Searching database ... found 1 entry\nann@example.org\tAnn\tfriend\n"
    assert parse_command_output(text, skip_first_line=True) == [Contact("Ann", "ann@example.org")]
    # Without the option a status line that looks like an address would be offered.
    status = "x@status.example\tlooks like one\nann@example.org\tAnn\n"
    assert parse_command_output(status, skip_first_line=True) == [Contact("Ann", "ann@example.org")]
    out = run_address_book_command(
        "printf 'found 1\\nann@example.org\\tAnn\\n'; : %s", "an", skip_first_line=True
    )
    assert out == [Contact("Ann", "ann@example.org")]
    # mutt's programs exit 1 with only a status line when nothing matches.
    assert run_address_book_command("echo 'no matches'; exit 1", "zz", skip_first_line=True) == []


def test_a_failing_command_is_an_error_that_says_why() -> None:
    with pytest.raises(AddressBookError, match=r"exit status 3: no such book \$"):
        run_address_book_command(
            "echo 'secret output'; echo 'no such book \x1b[2J$' >&2; exit 3", "a"
        )
    with pytest.raises(AddressBookError) as failed:
        run_address_book_command("echo 'secret output'; exit 2", "a")
    assert "secret output" not in str(failed.value)


def test_a_hanging_command_times_out() -> None:
    with pytest.raises(AddressBookError, match=r"did not finish within 0\.5 s"):
        # The shell's child holds the output pipe too: the whole group is stopped.
        run_address_book_command("sleep 30; : %s", "a", timeout=0.5)


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(AddressBookError, match="exit status 127"):
        run_address_book_command(str(tmp_path / "no-such-program"), "a")
