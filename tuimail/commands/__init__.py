"""Bodies of the headless commands that `tuimail.cli` parses and dispatches.

Each module is imported only by the command that needs it, so a command loads only what it uses.
"""
