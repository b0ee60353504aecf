"""The commands that open the terminal app: `tuimail` itself (with a mailto: link or not) and
`tuimail demo`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuimail.cli.errors import EXIT_USAGE, CommandError
from tuimail.config.schema import Config
from tuimail.core.paths import data_dir
from tuimail.mail.mailto import MailtoError, parse_mailto


def cmd_app(args: argparse.Namespace, config: Config) -> int:
    """Open the terminal app on the user's store."""
    from tuimail.app.application import run_app
    from tuimail.store.db import needs_upgrade

    compose = None
    if args.mailto is not None:
        try:
            compose = parse_mailto(args.mailto)
        except MailtoError as exc:
            raise CommandError(f"cannot open the link: {exc}", EXIT_USAGE) from None
    directory = data_dir(args.data_dir)
    if needs_upgrade(directory):  # before the app takes the screen: it would stay blank
        print(
            "tuimail: bringing the store up to date for this version, once"
            " (a large store takes a while)…",
            file=sys.stderr,
            flush=True,
        )
    return run_app(config, directory, workers=not args.offline, compose=compose)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """Build a demo store and open the app on it."""
    from tuimail.app.demo import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None, ui=not args.no_ui)
