"""The local SQLite store, the single source of truth, and all of its SQL: reads, engine writes,
ingest, the intents (ops, outbox, drafts), search and the per-account locks."""
