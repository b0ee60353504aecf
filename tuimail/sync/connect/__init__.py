"""Opening authenticated IMAP, POP3 and SMTP connections."""
