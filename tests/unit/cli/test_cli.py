"""The command line: help, version, global options anywhere, config errors stop everything."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuimail import __version__
from tuimail.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuimail", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tuimail {__version__}"


def test_help_lists_commands_and_global_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("demo", "accounts", "--config", "--data-dir", "--log-file", "--debug"):
        assert word in result.stdout


def test_global_options_work_after_the_command(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\n')
    assert main(["accounts", "list", "--config", str(config)]) == 0
    assert main(["--config", str(config), "accounts", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("w: a@example.org") == 2
    assert "local account" in out


def test_accounts_list_names_the_identities(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[accounts.w]\naddress = "a@example.org"\n'
        '[[accounts.w.identities]]\naddress = "help@example.org"\nname = "Help Desk"\n'
    )
    assert main(["accounts", "list", "--config", str(config)]) == 0
    assert "  also writes as help@example.org (Help Desk)\n" in capsys.readouterr().out


def test_config_error_exits_2_and_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\nadress = "typo"\n')
    result = run("--config", str(config), "accounts", "list")
    assert result.returncode == 2
    assert f"{config}: accounts.w.adress: unknown key (did you mean 'address'?)" in result.stderr
    assert result.stdout == ""


def test_config_that_never_ends_is_refused_in_bounded_memory() -> None:
    # /dev/zero never ends: the config read stops at a bound and says why, in one line. The
    # child's address space is capped so a regression fails here instead of filling memory.
    def cap_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run(
        [sys.executable, "-m", "tuimail", "--config", "/dev/zero", "accounts", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
        preexec_fn=cap_memory,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tuimail: error: /dev/zero: is larger than 1 MiB; not a config file"
    )
    assert "Traceback" not in result.stderr


def test_config_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[accounts.envacct]\naddress = "e@example.org"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TUIMAIL_CONFIG": str(config)}
    result = run("accounts", "list", env=env)
    assert result.returncode == 0, result.stderr
    assert "envacct: e@example.org" in result.stdout


def test_unknown_account_for_set_password(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\n')
    result = run("--config", str(config), "accounts", "set-password", "nope")
    assert result.returncode == 2
    assert "no account 'nope'" in result.stderr


def test_log_file_records_the_command(tmp_path: Path) -> None:
    log_file = tmp_path / "log.txt"
    config = tmp_path / "c.toml"
    config.write_text("")
    result = run("--config", str(config), "--log-file", str(log_file), "accounts", "list")
    assert result.returncode == 0
    assert "accounts list" in log_file.read_text()


def test_headless_command_does_not_import_textual_or_keyring(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\n')
    probe = (
        "import sys; from tuimail.cli.main import main; "
        f"rc = main(['--config', {str(config)!r}, 'accounts', 'list']); "
        "heavy = ('textual', 'keyring', 'imapclient', 'aiosmtplib'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "print('LOADED', bad); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


@pytest.mark.parametrize("args", [["accounts"], ["accounts", "bogus"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    assert run(*args).returncode == 2


def test_accounts_check_with_no_account_exits_1(tmp_path: Path, capsys) -> None:
    # Nothing was confirmed, so the check did not pass.
    config = tmp_path / "c.toml"
    config.write_text("")
    assert main(["--config", str(config), "accounts", "check"]) == 1
    assert "No accounts are configured" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "workers"), [([], True), (["--offline"], False)])
def test_offline_opens_the_app_without_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], workers: bool
) -> None:
    """`tuimail --offline` opens the app with no network worker (nothing connects)."""
    import tuimail.app.application

    calls: list[bool] = []

    def fake_run_app(
        config: object, data_dir: Path, *, workers: bool = True, compose: object = None
    ) -> int:
        calls.append(workers)
        return 0

    monkeypatch.setattr(tuimail.app.application, "run_app", fake_run_app)
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\n')
    data = tmp_path / "data"
    assert main([*argv, "--config", str(config), "--data-dir", str(data)]) == 0
    assert calls == [workers]


def test_a_mailto_link_opens_the_app_with_its_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a desktop's mailto: handler runs: `tuimail mailto:...`, options anywhere."""
    import tuimail.app.application
    from tuimail.mail.mailto import MailtoFields

    opened: list[MailtoFields | None] = []

    def fake_run_app(
        config: object, data_dir: Path, *, workers: bool = True, compose: object = None
    ) -> int:
        assert compose is None or isinstance(compose, MailtoFields)
        opened.append(compose)
        return 0

    monkeypatch.setattr(tuimail.app.application, "run_app", fake_run_app)
    config = tmp_path / "c.toml"
    config.write_text('[accounts.w]\naddress = "a@example.org"\n')
    options = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["MAILTO:ann@example.org?subject=Hi%20there", *options]) == 0
    (fields,) = opened
    assert fields is not None and [a.email for a in fields.to] == ["ann@example.org"]
    assert fields.subject == "Hi there"

    assert main([*options, "mailto:?subject=a%0Ab"]) == 2, "a line break in a header"
    assert "cannot open the link" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main([*options, "list", "mailto:ann@example.org"])
    assert exited.value.code == 2, "a link goes with no command"


def test_sync_into_a_read_only_data_directory_says_so_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[accounts.w]\naddress = "a@example.org"\n'
        '[accounts.w.imap]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\n'
        'username = "a"\npassword_command = "echo x"\n'
    )
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    command = [sys.executable, "-m", "tuimail", "--config", str(config), "--data-dir", str(data)]
    if os.geteuid() == 0:  # root ignores file modes unless its overrides are dropped
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    result = subprocess.run(
        [*command, "sync"], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert (
        f"w: IMAP failed: {data}: the data directory cannot be written (Permission denied); "
        "tuimail keeps its mail and locks there"
    ) in result.stderr.splitlines()
    assert list(data.iterdir()) == []


def test_only_the_entry_point_imports_cli_main() -> None:
    # The commands import cli.errors; importing main from them would make an import cycle.
    importers = []
    for path in sorted((ROOT / "tuimail").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            else:
                continue
            if "tuimail.cli.main" in names or any(n.startswith("tuimail.cli.main.") for n in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == ["tuimail/cli/entry.py"]
