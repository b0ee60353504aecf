"""The store's base error, apart from store.db so that the modules db itself needs (the body
packing behind the schema's SQL functions) can raise it without importing db."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used as asked; the message says why in words a user can act on."""
