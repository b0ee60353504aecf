"""The IMAP `bodies` setting: a policy, "all" by default, with its first form (true / false)
still read, and clear errors for what does not fit."""

from __future__ import annotations

import pytest

from tuimail.config.load import parse_config
from tuimail.config.schema import BodyPolicy, ConfigError
from tuimail.config.write import account_toml

ACCOUNT = '[accounts.a]\naddress = "a@b.c"\n[accounts.a.imap]\nhost = "mail.b.c"\n'


def policy_of(lines: str) -> BodyPolicy:
    incoming = parse_config(ACCOUNT + lines).accounts["a"].incoming
    assert incoming is not None
    return incoming.bodies


def test_without_the_key_every_body_is_kept_for_offline_reading() -> None:
    assert policy_of("") == BodyPolicy(keep="all", days=30, max_kib=0)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("bodies = true\n", BodyPolicy(keep="all")),
        ("bodies = false\n", BodyPolicy(keep="none")),
        ('bodies = "all"\n', BodyPolicy(keep="all")),
        ('bodies = "none"\n', BodyPolicy(keep="none")),
        ('bodies = "recent"\n', BodyPolicy(keep="recent", days=30)),
        ('bodies = "recent"\nbodies_days = 7\n', BodyPolicy(keep="recent", days=7)),
        ("bodies_max_kib = 512\n", BodyPolicy(keep="all", max_kib=512)),
        (
            'bodies = "recent"\nbodies_days = 90\nbodies_max_kib = 2048\n',
            BodyPolicy(keep="recent", days=90, max_kib=2048),
        ),
        ("bodies = true\nbodies_max_kib = 0\n", BodyPolicy(keep="all", max_kib=0)),
    ],
)
def test_the_policy_as_written(lines: str, expected: BodyPolicy) -> None:
    assert policy_of(lines) == expected


@pytest.mark.parametrize(
    ("lines", "key", "words"),
    [
        ("bodies = 1\n", "bodies", 'must be "all", "recent" or "none", not a number'),
        ('bodies = "recnt"\n', "bodies", "(did you mean 'recent'?)"),
        ('bodies = "some"\n', "bodies", '\'some\' is not one of "all", "recent", "none"'),
        ('bodies = "recent"\nbodies_days = 0\n', "bodies_days", "between 1 and 36500"),
        ('bodies = "recent"\nbodies_days = "7"\n', "bodies_days", "whole number of days"),
        ('bodies = "recent"\nbodies_days = true\n', "bodies_days", "whole number of days"),
        ("bodies_days = 7\n", "bodies_days", 'only applies with bodies = "recent"'),
        ("bodies_max_kib = -1\n", "bodies_max_kib", "0 (no limit) or more"),
        ("bodies_max_kib = 1.5\n", "bodies_max_kib", "whole number of KiB"),
        ('bodies = "none"\nbodies_max_kib = 100\n', "bodies_max_kib", 'with bodies = "none"'),
        ("bodies = false\nbodies_max_kib = 100\n", "bodies_max_kib", 'with bodies = "none"'),
    ],
)
def test_a_bad_value_names_the_key_and_what_is_wrong(lines: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ACCOUNT + lines)
    assert caught.value.key == f"accounts.a.imap.{key}"
    assert words in caught.value.problem


@pytest.mark.parametrize("key", ["bodies = true", "bodies_days = 3", "bodies_max_kib = 10"])
def test_the_policy_is_an_imap_setting_only(key: str) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(f'[accounts.a]\naddress = "a@b.c"\n[accounts.a.pop3]\nhost = "h"\n{key}\n')


def test_an_account_written_by_setup_keeps_the_default() -> None:
    """`accounts add` and the setup screen write no `bodies` key: the account gets every body."""
    text = account_toml(
        "a", {"address": "a@b.c"}, {"imap": {"host": "mail.b.c", "security": "tls"}}
    )
    assert "bodies" not in text
    incoming = parse_config(text).accounts["a"].incoming
    assert incoming is not None and incoming.bodies == BodyPolicy()
