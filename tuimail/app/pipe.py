"""Running a command a message is piped to (`|`): in a worker thread of the app, never the UI's.

The command gets the bytes on its standard input and no terminal; its standard output and error
are read together, the first `limit` bytes kept and the rest drained so the command is never
stuck on a full pipe. It runs in a session of its own, so a cancel or a timeout stops it with
whatever it started (`sh -c 'a | b'`): SIGTERM first, SIGKILL when it lingers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO

from tuimail.mail.sanitize import sanitize_line
from tuimail.ui.pipe import PipeJob, PipeOutcome

_POLL = 0.05  # seconds between looks at the cancel flag
_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def _feed(stdin: IO[bytes] | None, data: bytes) -> None:
    """Write the data and close the command's input; a command that stops reading early (`head`)
    is no error."""
    if stdin is None:
        return
    with contextlib.suppress(OSError):  # BrokenPipeError: it stopped reading
        stdin.write(data)
    with contextlib.suppress(OSError):
        stdin.close()


def _drain(stdout: IO[bytes] | None, limit: int, kept: bytearray) -> None:
    """Keep the first `limit` bytes of the output in `kept`; read and drop the rest."""
    if stdout is None:
        return
    dropped = 0
    while chunk := os.read(stdout.fileno(), 65536):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        dropped += max(0, len(chunk) - max(room, 0))
    if dropped:
        kept += b"\0"  # a marker past the limit: more came than was kept (cut off below)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the command and everything it started (its own session)."""
    for sig, wait in ((signal.SIGTERM, _GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pipe(job: PipeJob) -> PipeOutcome:
    """Run `job` to its end, its timeout or its cancel; never raises."""
    try:
        process = subprocess.Popen(
            job.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal; its own process group, stopped whole
        )
    except FileNotFoundError:
        return PipeOutcome(error=f"no command {sanitize_line(job.argv[0])!r} found")
    except PermissionError:
        return PipeOutcome(error=f"{sanitize_line(job.argv[0])!r} cannot be run (permission)")
    except OSError as exc:
        return PipeOutcome(error=sanitize_line(exc.strerror or str(exc)).lower())
    kept = bytearray()
    writer = threading.Thread(target=_feed, args=(process.stdin, job.data), daemon=True)
    reader = threading.Thread(target=_drain, args=(process.stdout, job.limit, kept), daemon=True)
    writer.start()
    reader.start()
    deadline = time.monotonic() + job.timeout
    timed_out = cancelled = False
    while process.poll() is None:
        if job.cancel.wait(_POLL):
            cancelled = True
        elif time.monotonic() >= deadline:
            timed_out = True
        else:
            continue
        _stop(process)
        break
    # Something the command left running in the background may hold the output open: the
    # reader is not waited for long.
    reader.join(timeout=_GRACE)
    writer.join(timeout=_GRACE)
    output = bytes(kept)
    truncated = len(output) > job.limit
    return PipeOutcome(
        output=output[: job.limit],
        truncated=truncated,
        status=process.wait(),
        timed_out=timed_out,
        cancelled=cancelled,
    )
