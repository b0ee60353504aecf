"""The command line: the parser, exit codes, progress lines and every command's body."""
