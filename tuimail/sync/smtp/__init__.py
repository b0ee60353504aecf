"""The SMTP engine: sends the outbox."""
