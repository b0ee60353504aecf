"""`python -m tuimail` runs the command-line interface."""

import sys

from tuimail.cli.entry import run

sys.exit(run())
