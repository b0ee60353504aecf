"""The timer process: run one command, print its wall, CPU and peak RSS as one JSON object.

``python -I -S bench/launch.py TIMEOUT LOG COMMAND [ARG ...]``

Kept to a handful of standard modules on purpose: a spawned child starts with its parent's
resident pages, and Linux keeps that high-water mark in the child's ru_maxrss across exec, so
the timer's own size is the floor of every peak RSS it reports (about 8 MiB here). The command
runs in its own session (stdin /dev/null, stdout and stderr appended to LOG) and is reaped with
``os.wait4``; whatever it leaves behind in its process group is killed afterwards. Prints
``null`` if TIMEOUT seconds passed first (the group is killed).
"""

import contextlib
import json
import os
import signal
import sys
import time

POLL_SECONDS = 0.002


def main() -> int:
    """Run the command once and print its figures."""
    timeout, log, command = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
    output = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    stdin = os.open(os.devnull, os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, output, 1),
               (os.POSIX_SPAWN_DUP2, output, 2)]  # fmt: skip
    started = time.monotonic()
    pid = os.posix_spawnp(command[0], command, os.environ, file_actions=actions, setsid=True)
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            break
        if time.monotonic() - started > timeout:
            os.killpg(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            print("null")
            return 0
        time.sleep(POLL_SECONDS)
    wall = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError):  # anything it left running in its group
        os.killpg(pid, signal.SIGKILL)
    figures = {
        "started": started,  # CLOCK_MONOTONIC, the same clock in every process: for watchers
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024.0,  # Linux reports KiB
        "exit_code": os.waitstatus_to_exitcode(status),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
