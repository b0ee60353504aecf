"""Piping the highlighted message, or the marked ones, to a command (`|`, as in mutt and aerc).

With attachments, it first asks what to pipe: the whole message (its exact bytes, as stored)
or one attachment, decoded. Then it asks for the command, which runs without a shell (the
line is split like a shell's words; `sh -c '...'` gives a shell to whoever wants one). The app
runs it in a worker (`PipeWanted`); the output screen shows its output and exit status, and
stops it on escape. The whole message is downloaded first when only its text is local.

Marked messages go to one run of the command as an mbox (mboxrd: each message after a `From `
line, its own `From ` lines quoted `>From `), in the list's order, for `git am` or `formail`;
those not whole on this computer are downloaded first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.screen import Screen

from tuimail.mail.attachments import attachment_payload
from tuimail.mail.formats.export import mbox_bytes
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.messages import PipeWanted
from tuimail.ui.pipe import PipeJob, split_command
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.marked_actions import count_words
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.screens.prompt import LinePrompt

WHOLE = "the message"


def _envelope_sender(row: read.MessageRow) -> str | None:
    """The address a `From ` line names: the message's first From (None: it has none)."""
    return row.envelope.from_[0].email if row.envelope.from_ else None


class PipeActions:
    """The `|` key of `screen`; remembers the last command, offered again next time."""

    def __init__(self, screen: Screen[None], waits: BodyWaits) -> None:
        self.screen = screen
        self.waits = waits
        self.last_command = ""

    def pipe(self, row: read.MessageRow) -> None:
        """Ask what to pipe (with attachments) and to which command, then run it."""
        listed = self.waits.attachments_of(row)
        if listed is None:
            return
        if not listed:
            self._ask_command(row, None, WHOLE)
            return
        choices = "  ".join(
            f"{number}) {sanitize_line(item.info.filename) or item.info.content_type}"
            for number, item in enumerate(listed, 1)
        )

        def chosen(answer: str | None) -> None:
            if answer is None:
                return
            if not answer.isdigit() or not 0 <= int(answer) <= len(listed):
                self.screen.notify(f"There is no part {answer[:20]!r}.", markup=False)
                return
            index = int(answer) - 1
            if index < 0:
                self._ask_command(row, None, WHOLE)
                return
            info = listed[index].info
            label = f"“{sanitize_line(info.filename) or info.content_type}”"
            self._ask_command(row, index, label)

        self.screen.app.push_screen(
            LinePrompt(f"Pipe what? 0) the whole message  {choices}", value="0"), chosen
        )

    def pipe_many(self, rows: Sequence[read.MessageRow]) -> None:
        """Ask for a command and run it once with every message of `rows` on its input, in
        that order, as an mbox (their exact bytes; those not here yet are downloaded first)."""
        if not rows:
            return
        label = f"{count_words(len(rows))} (as one mbox)"

        def run(line: str, argv: list[str]) -> None:
            def with_bodies(bodies: list[bytes]) -> None:
                data = mbox_bytes(
                    (raw, _envelope_sender(row), row.internaldate or row.sort_date)
                    for row, raw in zip(rows, bodies, strict=True)
                )
                self._start(line, PipeJob(argv, data, label))

            self.waits.with_whole_bodies(rows, with_bodies)

        self._ask_for_command(label, run)

    def _ask_command(self, row: read.MessageRow, index: int | None, label: str) -> None:
        self._ask_for_command(
            label,
            lambda line, argv: self.waits.with_whole_body(
                row, lambda raw: self._run(line, argv, raw, index, label)
            ),
        )

    def _ask_for_command(self, label: str, then: Callable[[str, list[str]], None]) -> None:
        """Ask which command `label` goes to; `then` gets the line typed and its words."""

        def answered(line: str | None) -> None:
            if not line:
                return
            try:
                argv = split_command(line)
            except ValueError as exc:
                self.screen.notify(f"Not run: {exc}.", severity="error", markup=False)
                return
            if not argv:
                return
            self.last_command = line
            then(line, argv)

        title = f"Pipe {label} to the command (no shell; for one: sh -c '…')"
        self.screen.app.push_screen(LinePrompt(title, value=self.last_command), answered)

    def _run(self, line: str, argv: list[str], raw: bytes, index: int | None, label: str) -> None:
        data = raw if index is None else attachment_payload(raw, index)
        if data is None:
            self.screen.notify("That attachment is not in the message.", markup=False)
            return
        self._start(line, PipeJob(argv, data, label))

    def _start(self, line: str, job: PipeJob) -> None:
        """Show the output screen and have the app run `job` (typed as `line`)."""
        output = PipeOutputScreen(line, job)
        self.screen.app.push_screen(output)
        self.screen.post_message(PipeWanted(job, output.finished))
