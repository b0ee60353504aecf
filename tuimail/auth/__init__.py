"""Credentials: the keyring, password commands and OAuth."""
