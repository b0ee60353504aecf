"""The parser of one command (`build_parser(only=...)`, what `main` builds for a named command)
parses and shows help exactly as the whole parser does; anything else gets the whole parser."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from tuimail.cli.parser import _COMMANDS, build_parser, command_named

GLOBAL = ["--config", "c.toml", "--data-dir=d", "--debug"]
ARGUMENTS = [
    ["sync"],
    ["sync", "a", "b", "--folder", "INBOX", "--bodies", *GLOBAL],
    [*GLOBAL, "fetch", "a"],
    ["--log-file", "l", "list", "a/INBOX", "--json", "--limit", "3"],
    ["show", "7", "--raw"],
    ["search", "word", "--server", "--folder", "a"],
    ["export", "a/INBOX", "--mbox", "-"],
    ["import", "a/F", "--maildir", "m"],
    ["send", "--account", "a", "--now", "f.eml"],
    ["outbox"],
    ["outbox", "flush", "a"],
    ["outbox", "retry", "3"],
    ["accounts"],
    ["accounts", "check", "--timeout", "5"],
    ["accounts", "set-password", "a", "--protocol", "imap"],
    ["accounts", "add", "x@example.org", "--yes"],
    ["accounts", "authorize", "a", "--flow", "paste"],
    ["--offline", "demo", "--no-ui"],
]


def _outcome(parser: argparse.ArgumentParser, arguments: list[str]) -> tuple[object, str, str]:
    """What parsing `arguments` gives: the namespace (or the exit status), stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(arguments))
        except SystemExit as exc:
            result = ("exit", exc.code)
    # The usage_of parser differs by identity, not by what it shows.
    if isinstance(result, dict) and "usage_of" in result:
        result["usage_of"] = result["usage_of"].format_help()
    return result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("arguments", ARGUMENTS, ids=" ".join)
def test_one_command_parser_parses_as_the_whole_parser(arguments: list[str]) -> None:
    name = command_named(arguments)
    assert name is not None
    assert _outcome(build_parser(only=name), arguments) == _outcome(build_parser(), arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        ["sync", "--help"],
        ["accounts", "check", "-h"],
        ["outbox", "flush", "--help"],
        ["fetch", "--no-such-option"],
        ["show", "not-a-number"],
        ["export", "a/F"],  # --mbox or --maildir is required
        ["sync", "--config"],  # a value is missing
    ],
    ids=" ".join,
)
def test_one_command_parser_helps_and_refuses_as_the_whole_parser(arguments: list[str]) -> None:
    name = command_named(arguments)
    assert name is not None
    one = _outcome(build_parser(only=name), arguments)
    assert isinstance(one[0], tuple) and one[0][0] == "exit"
    assert one == _outcome(build_parser(), arguments)


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (["sync"], "sync"),
        (["--config", "c", "--data-dir", "d", "--debug", "fetch", "a"], "fetch"),
        (["--config=c", "--offline", "list"], "list"),
        (["--log-file", "sync", "fetch"], "fetch"),  # "sync" is the log file's name
        ([], None),  # the app
        (["--offline"], None),
        (["-h", "sync"], None),  # the whole help
        (["--help"], None),
        (["--version"], None),
        (["--conf", "c", "sync"], None),  # an abbreviation: argparse decides
        (["--debug=yes", "sync"], None),
        (["synk"], None),  # unknown: the whole parser names the commands
        (["--", "sync"], None),
    ],
)
def test_command_named_only_when_nothing_else_could_decide(
    arguments: list[str], name: str | None
) -> None:
    assert command_named(arguments) == name


def test_the_whole_help_names_every_command() -> None:
    text = build_parser().format_help()
    for name in _COMMANDS:
        assert f"\n    {name} " in text


def test_help_is_laid_out_for_the_width_the_environment_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The help is laid out for $COLUMNS exactly as argparse lays it out (tuimail measures the
    width itself, without the shutil module argparse would load for it)."""
    laid_out = {}
    for columns in ("50", "120"):
        monkeypatch.setenv("COLUMNS", columns)
        for only in (None, "sync"):
            ours = build_parser(only=only)
            texts = [parser.format_help() for parser in [ours, *_subparsers(ours)]]
            plain = build_parser(only=only)
            for parser in [plain, *_subparsers(plain)]:
                parser.formatter_class = argparse.HelpFormatter
            assert [parser.format_help() for parser in [plain, *_subparsers(plain)]] == texts
            laid_out[columns, only] = texts
    assert laid_out["50", None] != laid_out["120", None]
    assert max(len(line) for line in laid_out["50", None][0].splitlines()) <= 48


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subparsers(sub)]
    return found
