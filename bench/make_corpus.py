"""The benchmark corpus: N deterministic, realistic messages written straight into a maildir.

The same N and seed give byte-identical messages (the mix the peer figures in bench/README.md
were measured on). Without ``--append``: the INBOX (must be empty) gets N messages with the file
mtime = Date header (= IMAP INTERNALDATE), 85% \\Seen, some \\Flagged/\\Answered, and a few
subfolders (Sent, Archive/2021, Lists/dev, Drafts, Trash) get a small share; then Dovecot indexes
everything (``doveadm force-resync``) and one ``doveadm fetch`` of the fields IMAP clients ask
for warms its cache, as on a long-lived server. With ``--append``: N new unseen messages land in
INBOX/new as if just delivered, dated now, seeded by the seed and the current message count.

Mix at N=10000: INBOX 244 MB, median 4.6 KB, p90 19 KB, max 507 KB; ~45% text/plain, ~37%
multipart/alternative (plain + HTML), ~18% multipart/mixed with an attachment (a third of those
50-500 KB of base64); ~15% RFC 2047 subjects; ~40% replies with In-Reply-To/References; dates
2019-2024 in 7 time zones.

By hand, on servers started with ``python -m tests.support.mailservers up DIR``::

    python -m bench.make_corpus N DIR [--append] [--seed S]
"""

# ruff: noqa: S311 -- a seeded, reproducible generator, not cryptography.
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path

SEED = 20240601
OUTBOX_SEED = 4242
POLICY = default_policy.clone(linesep="\n", max_line_length=78)

_WORD_TEXT = (
    "the of and to in is for on that with as it be this are by from at or an "
    "we will can have not you all but which your our if about more when their "
    "release build server client config deploy meeting budget review patch "
    "update schedule report invoice ticket branch merge test cache index query "
    "latency network storage backup migration roadmap quarterly customer "
    "feedback draft proposal contract travel lunch weekend project design "
    "document issue fix regression benchmark timeout database mailbox folder "
    "thread message attachment password account security certificate renewal"
)
WORDS = _WORD_TEXT.split()
FIRST = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Zoe"]  # fmt: skip
FIRST_NON_ASCII = ["J\u00fcrgen", "Fran\u00e7ois", "S\u00f8ren", "Jos\u00e9", "Zo\u00eb",
                   "\u674e\u96f7", "\u0414\u043c\u0438\u0442\u0440\u0438\u0439", "\u00c5sa",
                   "\u7530\u4e2d", "\u0141ukasz"]  # fmt: skip
LAST = ["Smith", "Jones", "Garcia", "M\u00fcller", "Rossi", "Dubois", "Kowalski", "Nguyen",
        "Tanaka", "Okafor", "Silva", "Novak", "Berg", "Khan"]  # fmt: skip
DOMAINS = ["example.com", "example.org", "example.net", "corp.example", "lists.example.org",
           "mail.example.de", "uni.example.edu"]  # fmt: skip
NON_ASCII_SUBJECTS = [
    "R\u00e9union demain \u00e0 10h", "Gr\u00fc\u00dfe aus M\u00fcnchen",
    "\u4f1a\u8bae\u7eaa\u8981",
    "\u041e\u0442\u0447\u0451\u0442 \u0437\u0430 \u043c\u0430\u0440\u0442",
    "Caf\u00e9 \u2615 on Friday?", "\u00bfQu\u00e9 tal el viaje?", "Status \u2705 deployment",
    "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d", "Sm\u00f6rg\u00e5sbord planning",
    "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144",
]  # fmt: skip
ATTACHMENT_TYPES = [("application", "pdf", "pdf"), ("image", "png", "png"),
                    ("image", "jpeg", "jpg"), ("application", "zip", "zip"),
                    ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "xlsx")]  # fmt: skip
MAILERS = ["Thunderbird 115.3", "Apple Mail (2.3731)", "Mutt/2.2.9", "Microsoft Outlook 16.0",
           "aerc 0.16"]  # fmt: skip
ZONES = [dt.timezone(dt.timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 5.5, 9)]
# Subfolder -> share of N (kept small: the benchmarks sync the INBOX).
FOLDERS = {"Sent": 0.05, "Archive/2021": 0.03, "Lists/dev": 0.05, "Drafts": 0.002, "Trash": 0.005}
# The fields IMAP clients fetch for a message list; one doveadm fetch makes Dovecot cache them.
WARM_FIELDS = "uid flags size.virtual date.received imap.envelope imap.bodystructure"


class Generator:
    """Message factory over one seeded RNG: a cast of 120 people and the open threads."""

    def __init__(self, rng: random.Random, user_address: str) -> None:
        self.rng = rng
        self.user_address = user_address
        self.people: list[tuple[str, str]] = []
        for i in range(120):
            first = rng.choice(FIRST_NON_ASCII if rng.random() < 0.15 else FIRST)
            last = rng.choice(LAST)
            local = f"{first.encode('ascii', 'ignore').decode().lower() or 'user'}{i}"
            self.people.append((f"{first} {last}", f"{local}@{rng.choice(DOMAINS)}"))
        self.threads: list[tuple[str, list[str]]] = []  # (subject, message-ids)

    def words(self, count: int) -> str:
        """Sentences of random words, in paragraphs separated by blank lines."""
        r = self.rng
        sentences, line = [], []
        for _ in range(count):
            word = r.choice(WORDS)
            if not line:
                word = word.capitalize()
            line.append(word)
            if r.random() < 0.08:
                line[-1] += "."
                sentences.append(" ".join(line))
                line = []
        if line:
            sentences.append(" ".join(line) + ".")
        paragraphs, current = [], []
        for sentence in sentences:
            current.append(sentence)
            if r.random() < 0.25:
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
        return "\n\n".join(paragraphs)

    @staticmethod
    def address(person: tuple[str, str]) -> str:
        """A From/To value, with the display name quoted when it is not ASCII."""
        name, addr = person
        return f'"{name}" <{addr}>' if not name.isascii() else f"{name} <{addr}>"

    def message(self, idx: int, date: dt.datetime, folder: str = "INBOX") -> bytes:
        """One message's bytes (LF line ends, as maildir files hold them)."""
        r = self.rng
        sender = r.choice(self.people)
        is_sent = folder == "Sent"
        m = EmailMessage(policy=POLICY)
        domain = sender[1].split("@")[1]
        for hop in range(r.randint(1, 3)):
            m["Received"] = (
                f"from mx{hop}.{domain} (mx{hop}.{domain} [192.0.2.{(idx + hop) % 250 + 1}]) "
                f"by mail.bench.invalid with ESMTPS id {r.getrandbits(48):012X}; "
                f"{format_datetime(date)}"
            )
        if r.random() < 0.6:
            signature = base64.b64encode(r.randbytes(128)).decode()
            body_hash = base64.b64encode(r.randbytes(32)).decode()
            m["DKIM-Signature"] = (
                f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1; "
                f"h=from:to:subject:date:message-id; bh={body_hash}; b={signature}"
            )
        m["From"] = f"Alice Example <{self.user_address}>" if is_sent else self.address(sender)
        m["To"] = self.address(sender) if is_sent else f"Alice Example <{self.user_address}>"
        if r.random() < 0.25:
            m["Cc"] = ", ".join(self.address(r.choice(self.people)) for _ in range(r.randint(1, 4)))
        m["Date"] = format_datetime(date)
        message_id = f"<{idx}.{r.getrandbits(40):010x}@{domain}>"
        m["Message-ID"] = message_id
        if self.threads and r.random() < 0.4:  # a reply in a recent thread
            thread = r.choice(self.threads[-200:])
            subject = thread[0] if thread[0].lower().startswith("re:") else "Re: " + thread[0]
            m["In-Reply-To"] = thread[1][-1]
            m["References"] = " ".join(thread[1][-10:])
            thread[1].append(message_id)
        else:
            if r.random() < 0.15:
                subject = r.choice(NON_ASCII_SUBJECTS) + f" #{idx}"
            else:
                subject = self.words(r.randint(3, 9)).split("\n")[0].rstrip(".")
            self.threads.append((subject, [message_id]))
        m["Subject"] = subject
        if folder == "Lists/dev" or r.random() < 0.1:
            m["List-Id"] = "Developers <dev.lists.example.org>"
            m["List-Unsubscribe"] = "<mailto:dev-unsubscribe@lists.example.org>"
        m["X-Mailer"] = r.choice(MAILERS)

        # Body: lognormal word count, median ~300 words (~2 KB of text).
        text = self.words(max(5, int(r.lognormvariate(5.6, 0.8))))
        if "In-Reply-To" in m and r.random() < 0.7:
            quoted = "\n".join("> " + ln for ln in self.words(r.randint(30, 200)).splitlines())
            text += f"\n\nOn {format_datetime(date)}, someone wrote:\n{quoted}"
        if r.random() < 0.1:
            text += "\n\nMerci, sch\u00f6ne Gr\u00fc\u00dfe \u2014 \u00e0 bient\u00f4t \U0001f600"
        kind = r.random()
        m.set_content(text)
        if 0.45 <= kind < 0.82:
            paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
            m.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
        elif kind >= 0.82:
            if r.random() < 0.5:
                html = "<html><body><p>" + text.replace("\n\n", "</p><p>") + "</p></body></html>"
                m.add_alternative(html, subtype="html")
            maintype, subtype, ext = r.choice(ATTACHMENT_TYPES)
            if r.random() < 0.35:
                size = int(r.uniform(36_000, 365_000))  # ~50-500 KB of base64 in the message
            else:
                size = int(r.lognormvariate(8.5, 0.8))  # small: a few KB
            m.add_attachment(
                r.randbytes(size), maintype=maintype, subtype=subtype, filename=f"file-{idx}.{ext}"
            )
        return m.as_bytes(policy=POLICY)


@dataclass(frozen=True)
class Mailbox:
    """Where a user's mail lives on disk and who owns it."""

    maildir: Path
    uid: int
    gid: int
    user_address: str

    def folder_dir(self, folder: str) -> Path:
        """The Maildir++ directory of ``folder`` ("Archive/2021" -> .Archive.2021)."""
        if folder == "INBOX":
            return self.maildir
        return self.maildir / ("." + folder.replace("/", "."))


@dataclass(frozen=True)
class CorpusStats:
    """What was written: message count and sizes in bytes."""

    count: int
    total_bytes: int
    median: int
    p90: int
    largest: int

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"{self.count} messages, {self.total_bytes / 1e6:.1f} MB, median {self.median} B, "
            f"p90 {self.p90} B, max {self.largest} B"
        )


def _write_maildir_file(
    directory: Path, name_base: str, data: bytes, timestamp: int, flags: str, sub: str
) -> Path:
    vsize = len(data) + data.count(b"\n")  # the size with CRLF line ends, as IMAP reports it
    info = f":2,{flags}" if sub == "cur" else ""
    path = directory / sub / f"{name_base},S={len(data)},W={vsize}{info}"
    path.write_bytes(data)
    os.utime(path, (timestamp, timestamp))
    return path


def _inbox_count(mailbox: Mailbox) -> int:
    return sum(len(os.listdir(mailbox.maildir / sub)) for sub in ("cur", "new"))


def write_corpus(
    mailbox: Mailbox,
    count: int,
    *,
    seed: int = SEED,
    append: bool = False,
    subfolders: bool = True,
) -> CorpusStats:
    """Write ``count`` messages into the maildir (see the module docstring); no indexing.

    ``subfolders=False`` writes the INBOX alone: its messages are the same bytes (it is
    generated first), and the stats count it alone."""
    created: list[Path] = []
    folders = ["INBOX"] if append or not subfolders else ["INBOX", *FOLDERS]
    for folder in folders:
        directory = mailbox.folder_dir(folder)
        for sub in ("cur", "new", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
            created.append(directory / sub)
        created.append(directory)
        if folder != "INBOX":
            (directory / "maildirfolder").touch()
            created.append(directory / "maildirfolder")
    existing = _inbox_count(mailbox)
    if existing and not append:
        raise RuntimeError(f"the INBOX already holds {existing} messages; use a fresh server")

    offset = existing if append else 0
    rng = random.Random(seed + offset)
    random.seed(seed + offset)  # the email package draws MIME boundaries from the global RNG
    generator = Generator(rng, mailbox.user_address)
    sizes: list[int] = []
    jobs = [("INBOX", count)]
    if not append and subfolders:
        jobs += [(folder, max(1, int(count * share))) for folder, share in FOLDERS.items()]
    for number, (folder, how_many) in enumerate(jobs):
        directory = mailbox.folder_dir(folder)
        if append:
            now = time.time()
            stamps = [now - how_many + i for i in range(how_many)]
        else:
            start = dt.datetime(2019, 1, 1, tzinfo=dt.UTC).timestamp()
            end = dt.datetime(2024, 12, 31, tzinfo=dt.UTC).timestamp()
            stamps = sorted(rng.uniform(start, end) for _ in range(how_many))
        for i, stamp in enumerate(stamps):
            date = dt.datetime.fromtimestamp(int(stamp), rng.choice(ZONES))
            idx = existing + i if append else i
            data = generator.message(idx if folder == "INBOX" else number * 10_000_000 + i, date,
                                     folder)  # fmt: skip
            if append:
                flags, sub = "", "new"
            else:
                flags = "S" if rng.random() < 0.85 else ""
                if rng.random() < 0.04:
                    flags = "F" + flags
                if rng.random() < 0.1 and "S" in flags:
                    flags = "R" + flags if "F" not in flags else "FRS"
                flags, sub = "".join(sorted(flags)), "cur"
            base = f"{int(stamp)}.M{i:06d}P{seed % 100000}Q{idx}.bench"
            created.append(_write_maildir_file(directory, base, data, int(stamp), flags, sub))
            sizes.append(len(data))
    # Written as root; Dovecot accesses mail as the mail owner.
    for path in [*created, mailbox.maildir, mailbox.maildir.parent]:
        os.chown(path, mailbox.uid, mailbox.gid)
    sizes.sort()
    return CorpusStats(
        count=len(sizes),
        total_bytes=sum(sizes),
        median=sizes[len(sizes) // 2],
        p90=sizes[int(len(sizes) * 0.9)],
        largest=sizes[-1],
    )


def index_corpus(doveadm: Callable[..., str], user: str) -> str:
    """Make Dovecot index everything and warm its cache; returns its per-mailbox counts."""
    doveadm("mailbox", "subscribe", "-u", user, *FOLDERS)
    doveadm("force-resync", "-u", user, "*")
    doveadm("fetch", "-u", user, WARM_FIELDS, "mailbox", "INBOX", "all")
    return doveadm("mailbox", "status", "-u", user, "messages", "*")


def write_outbox(count: int, directory: Path, sender: str, *, seed: int = OUTBOX_SEED) -> int:
    """Write ``count`` outgoing messages (From ``sender``) as DIRECTORY/NNNNNN.eml; total bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    random.seed(seed)
    generator = Generator(rng, sender)
    base = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    total = 0
    for i in range(count):
        data = generator.message(i, base + dt.timedelta(minutes=i), folder="Sent")
        (directory / f"{i:06d}.eml").write_bytes(data)
        total += len(data)
    return total


def _doveadm_for(config: str) -> Callable[..., str]:
    def doveadm(*args: str) -> str:
        return subprocess.run(
            ["doveadm", "-c", config, *args], check=True, capture_output=True, text=True
        ).stdout

    return doveadm


def main(argv: Sequence[str] | None = None) -> int:
    """Fill alice's INBOX on servers started with ``python -m tests.support.mailservers up DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("directory", type=Path, help="the server directory (holds servers.json)")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--append", action="store_true", help="add new unseen messages")
    args = parser.parse_args(argv)
    state = json.loads((args.directory / "servers.json").read_text())
    home = args.directory.resolve() / "home" / args.user
    owner = home.stat()
    mailbox = Mailbox(home / "Maildir", owner.st_uid, owner.st_gid,
                      f"{args.user}@{state['domain']}")  # fmt: skip
    started = time.monotonic()
    stats = write_corpus(mailbox, args.count, seed=args.seed, append=args.append)
    print(f"wrote {stats.summary()} in {time.monotonic() - started:.1f} s")
    if not args.append:  # appended mail is picked up by Dovecot on the next access
        print(index_corpus(_doveadm_for(state["dovecot_config"]), args.user), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
