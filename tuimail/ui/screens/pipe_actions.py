"""Piping the highlighted message to a command (`|`, as in mutt and aerc).

With attachments, it first asks what to pipe: the whole message (its exact bytes, as stored)
or one attachment, decoded. Then it asks for the command, which runs without a shell (the
line is split like a shell's words; `sh -c '...'` gives a shell to whoever wants one). The app
runs it in a worker (`PipeWanted`); the output screen shows its output and exit status, and
stops it on escape. The whole message is downloaded first when only its text is local.
"""

from __future__ import annotations

from textual.screen import Screen

from tuimail.mail.attachments import attachment_payload
from tuimail.mail.sanitize import sanitize_line
from tuimail.store import read
from tuimail.ui.messages import PipeWanted
from tuimail.ui.pipe import PipeJob, split_command
from tuimail.ui.screens.body_waits import BodyWaits
from tuimail.ui.screens.pipe_output import PipeOutputScreen
from tuimail.ui.screens.prompt import LinePrompt

WHOLE = "the message"


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

    def _ask_command(self, row: read.MessageRow, index: int | None, label: str) -> None:
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
            self.waits.with_whole_body(row, lambda raw: self._run(line, argv, raw, index, label))

        title = f"Pipe {label} to the command (no shell; for one: sh -c '…')"
        self.screen.app.push_screen(LinePrompt(title, value=self.last_command), answered)

    def _run(self, line: str, argv: list[str], raw: bytes, index: int | None, label: str) -> None:
        data = raw if index is None else attachment_payload(raw, index)
        if data is None:
            self.screen.notify("That attachment is not in the message.", markup=False)
            return
        job = PipeJob(argv, data, label)
        output = PipeOutputScreen(line, job)
        self.screen.app.push_screen(output)
        self.screen.post_message(PipeWanted(job, output.finished))
