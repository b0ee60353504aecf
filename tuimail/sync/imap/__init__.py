"""The IMAP engine: folder sync, op replay, bodies, IDLE, search and drafts."""
