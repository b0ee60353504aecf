"""The commands that open the terminal app: `tuimail` itself (with a mailto: link or not) and
`tuimail demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuimail.cli.errors import EXIT_USAGE, CommandError
from tuimail.config.schema import Config
from tuimail.core.paths import data_dir
from tuimail.mail.mailto import MailtoError, parse_mailto


def cmd_app(args: argparse.Namespace, config: Config) -> int:
    """Open the terminal app on the user's store."""
    from tuimail.app.application import run_app

    compose = None
    if args.mailto is not None:
        try:
            compose = parse_mailto(args.mailto)
        except MailtoError as exc:
            raise CommandError(f"cannot open the link: {exc}", EXIT_USAGE) from None
    return run_app(config, data_dir(args.data_dir), workers=not args.offline, compose=compose)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """Build a demo store and open the app on it."""
    from tuimail.app.demo import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None, ui=not args.no_ui)
