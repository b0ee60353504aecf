"""Credentials: the keyring, password commands, OAuth and SASL; `credentials` dispatches."""
