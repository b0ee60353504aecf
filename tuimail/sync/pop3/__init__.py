"""The POP3 engine: downloads into the store."""
