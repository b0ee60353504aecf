"""The engines and all network code: one package per protocol (`imap/`, `pop3/`, `smtp/`), the
engine session, the events engines report, and finding an account's servers (`discovery/`)."""
