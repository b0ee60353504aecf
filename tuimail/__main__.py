"""`python -m tuimail` runs the command-line interface."""

import sys

from tuimail.cli.main import main

sys.exit(main())
