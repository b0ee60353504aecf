"""A deterministic generator of realistic mail, for the demo, tests and benchmarks. No I/O.

The same seed gives byte-identical messages: plain text, multipart/alternative with HTML,
attachments, threads (In-Reply-To/References), non-ASCII names and subjects (RFC 2047), several
time zones and mailing-list headers.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from tuimail.core.model import ANSWERED, FLAGGED, SEEN

_WORD_TEXT = (
    "the of and to in is for on that with as it be this are by from at or an we will can have "
    "not you all but which your our if about more when their release build server client config "
    "deploy meeting budget review patch update schedule report invoice ticket branch merge test "
    "cache index query latency network storage backup migration roadmap quarterly customer "
    "feedback draft proposal contract travel lunch weekend project design document issue fix "
    "regression benchmark timeout database mailbox folder thread message attachment password "
    "account security certificate renewal"
)
WORDS = _WORD_TEXT.split()
FIRST = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Zoe"]  # fmt: skip
FIRST_NON_ASCII = ["Jürgen", "François", "Søren", "José", "Zoë", "李雷", "Дмитрий", "Åsa", "田中",
                   "Łukasz"]  # fmt: skip
LAST = ["Smith", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Kowalski", "Nguyen", "Tanaka",
        "Okafor", "Silva", "Novak", "Berg", "Khan"]  # fmt: skip
DOMAINS = ["example.com", "example.org", "example.net", "corp.example", "lists.example.org",
           "mail.example.de", "uni.example.edu"]  # fmt: skip
NON_ASCII_SUBJECTS = ["Réunion demain à 10h", "Grüße aus München", "会议纪要", "Отчёт за март",
                      "Café ☕ on Friday?", "¿Qué tal el viaje?", "Status ✅ deployment",
                      "日本語の件名", "Smörgåsbord planning", "Zażółć gęślą jaźń"]  # fmt: skip
ATTACHMENT_TYPES = [("application", "pdf", "pdf"), ("image", "png", "png"),
                    ("application", "zip", "zip"), ("text", "csv", "csv"),
                    ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "xlsx")]  # fmt: skip
ZONES = [timezone(timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 5.5, 9)]


@dataclass(frozen=True, slots=True)
class GeneratedMessage:
    """One generated message: where it belongs, its bytes, its IMAP flags and its date."""

    folder: str
    raw: bytes
    flags: frozenset[str]
    date: datetime


class MailGenerator:
    """Makes messages for `user_address` from a fixed cast of correspondents."""

    def __init__(self, seed: int, user_address: str, user_name: str = "Alice Example") -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible sample mail, not security
        self.user_address = user_address
        self.user_name = user_name
        self.people: list[tuple[str, str]] = []
        for i in range(120):
            first_names = FIRST_NON_ASCII if self.rng.random() < 0.15 else FIRST
            first = self.rng.choice(first_names)
            last = self.rng.choice(LAST)
            local = first.encode("ascii", "ignore").decode().lower() or "user"
            self.people.append((f"{first} {last}", f"{local}{i}@{self.rng.choice(DOMAINS)}"))
        self.threads: list[tuple[str, list[str]]] = []  # (subject, message-ids)
        self.counter = 0

    def words(self, count: int) -> str:
        """`count` words as paragraphs of sentences."""
        rng = self.rng
        sentences: list[str] = []
        line: list[str] = []
        for _ in range(count):
            word = rng.choice(WORDS)
            line.append(word.capitalize() if not line else word)
            if rng.random() < 0.08:
                sentences.append(" ".join(line) + ".")
                line = []
        if line:
            sentences.append(" ".join(line) + ".")
        paragraphs: list[str] = []
        current: list[str] = []
        for sentence in sentences:
            current.append(sentence)
            if rng.random() < 0.25:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        return "\n\n".join(paragraphs)

    def _random_flags(self) -> frozenset[str]:
        flags = set()
        if self.rng.random() < 0.8:
            flags.add(SEEN)
        if self.rng.random() < 0.05:
            flags.add(FLAGGED)
        if SEEN in flags and self.rng.random() < 0.1:
            flags.add(ANSWERED)
        return frozenset(flags)

    def message(self, date: datetime, folder: str = "INBOX") -> GeneratedMessage:
        """One realistic message dated `date` for `folder` (Sent: written by the user)."""
        rng = self.rng
        self.counter += 1
        index = self.counter
        name, address = rng.choice(self.people)
        user = (self.user_name, self.user_address)
        sender, recipient = (user, (name, address)) if folder == "Sent" else ((name, address), user)
        domain = sender[1].split("@")[1]
        msg = EmailMessage(policy=SMTP)
        msg["From"] = _format_address(*sender)
        msg["To"] = _format_address(*recipient)
        if rng.random() < 0.25:
            msg["Cc"] = ", ".join(
                _format_address(*rng.choice(self.people)) for _ in range(rng.randint(1, 3))
            )
        msg["Date"] = format_datetime(date)
        message_id = f"<{index}.{rng.getrandbits(40):010x}@{domain}>"
        msg["Message-ID"] = message_id
        if self.threads and rng.random() < 0.4:
            subject, ids = rng.choice(self.threads[-40:])
            subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
            msg["In-Reply-To"] = ids[-1]
            msg["References"] = " ".join(ids[-10:])
            ids.append(message_id)
        else:
            if rng.random() < 0.15:
                subject = rng.choice(NON_ASCII_SUBJECTS)
            else:
                subject = self.words(rng.randint(3, 9)).split("\n")[0].rstrip(".")
            self.threads.append((subject, [message_id]))
        msg["Subject"] = subject
        if folder.startswith("Lists/"):
            msg["List-Id"] = "Developers <dev.lists.example.org>"
        msg["X-Mailer"] = rng.choice(["Thunderbird 115.3", "Mutt/2.2.9", "aerc 0.16"])
        text = self.words(max(5, int(rng.lognormvariate(4.5, 0.8))))
        if "In-Reply-To" in msg and rng.random() < 0.7:
            quoted = "\n".join("> " + line for line in self.words(rng.randint(20, 80)).splitlines())
            text += f"\n\nOn {format_datetime(date)}, {name} wrote:\n{quoted}"
        if rng.random() < 0.1:
            text += "\n\nMerci, schöne Grüße — à bientôt 😀"
        msg.set_content(text)
        kind = rng.random()
        if kind > 0.5:
            paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            msg.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
        if kind > 0.82:
            maintype, subtype, extension = rng.choice(ATTACHMENT_TYPES)
            size = int(rng.lognormvariate(8.5, 0.8))
            msg.add_attachment(
                rng.randbytes(size),
                maintype=maintype,
                subtype=subtype,
                filename=f"{rng.choice(WORDS)}-{index}.{extension}",
            )
        flags = frozenset() if folder == "Drafts" else self._random_flags()
        if folder == "Sent":
            flags = frozenset({SEEN})
        # email's default boundaries come from the global RNG; fixed ones keep output reproducible.
        for part in msg.walk():
            if part.is_multipart():
                part.set_boundary(f"=_{random_token(rng)}")
        return GeneratedMessage(folder, msg.as_bytes(policy=SMTP), flags, date)

    def messages(
        self, folder: str, count: int, start: datetime, end: datetime
    ) -> Iterator[GeneratedMessage]:
        """`count` messages for `folder`, dated between `start` and `end`, oldest first."""
        span = (end - start).total_seconds()
        stamps = sorted(self.rng.uniform(0, span) for _ in range(count))
        for offset in stamps:
            moment = (start + timedelta(seconds=offset)).astimezone(self.rng.choice(ZONES))
            yield self.message(moment.replace(microsecond=0), folder)


def _format_address(name: str, address: str) -> str:
    # EmailMessage encodes non-ASCII display names per RFC 2047 when it serialises.
    return f"{name} <{address}>"


def random_token(rng: random.Random, size: int = 9) -> str:
    """A short base64 token (for boundaries and ids that must be deterministic)."""
    return base64.urlsafe_b64encode(rng.randbytes(size)).decode("ascii")
