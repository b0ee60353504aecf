"""Mailbox files and address books: mbox, Maildir and vCard."""
