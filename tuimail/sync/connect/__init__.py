"""Opening authenticated IMAP, POP3 and SMTP connections: the one way every engine does it.

Each protocol's module has one helper; it takes the server's settings, the account's extra CA
file, a `password` callable and a timeout that bounds every socket operation, and returns a
logged-in client:

- `imap.connect_imap()` -> `imapclient.IMAPClient`
- `pop3.connect_pop3()` -> `poplib.POP3`
- `smtp.connect_smtp()` (async) -> `aiosmtplib.SMTP`

`attempt` holds what they share: `ConnectError`, the wording of failures, the STARTTLS guard.
The secret comes from `tuimail.auth.credentials`, the SASL strings from `tuimail.auth.sasl`.

Rules they keep:
- The connection is protected first: implicit TLS, or a required STARTTLS/STLS upgrade after
  which the capabilities are asked again (the plaintext list is never trusted). `password` is
  called only after that, so a TLS failure never even asks the keyring, and no credential ever
  crosses an unprotected or unverified connection. `security = "none"` (loopback hosts only; the
  config enforces it) logs in plainly.
- A refused upgrade, or any byte the server sends after its "go ahead" and before the handshake
  (plaintext a man in the middle may have injected, CVE-2011-0411), ends the attempt: the client
  libraries would silently drop such bytes, tuimail refuses the connection instead.
- A user name or password holding CR, LF or NUL is refused before it could be sent: in a command
  line it would end the command and start another one.
- Every failure is one `ConnectError` with a `kind` from `FailureKind` and a message in plain words;
  text from the server is cut to one printable line (it is untrusted).
- IMAP and POP3 connections keep a deadline per command (`tuimail.sync.deadline`): the server's
  greeting, and the whole answer to each command, must arrive within the server's
  `command_timeout`, however slowly the bytes trickle; one read waits at most `timeout`.
- Passwords are never logged. The protocol conversation is logged at DEBUG: imapclient through
  its `imapclient` loggers (it hides LOGIN/AUTHENTICATE arguments itself), POP3 and SMTP through
  `tuimail.sync.wire.pop3` / `tuimail.sync.wire.smtp` (authentication data hidden). The exact
  AUTH strings sent are registered with `tuimail.core.log` for redaction as well.
"""
