"""`make dev`'s watchdog: stops the `dagster dev` group once the wrapper is gone, however it went.

The wrapper (dagster_dev) stops the group itself on Ctrl-C or when `dagster dev` ends, but a
SIGKILL (or a crash) of the wrapper would leave the whole group running on its port, with a
daemon that a second `make dev` would run beside. This process, in a session of its own (out of
reach of the terminal's Ctrl-C and of the group's SIGKILL), holds the read end of a pipe whose
only write end the wrapper holds: the kernel closes it when the wrapper dies, the read returns,
and the group is stopped as on Ctrl-C. It also holds the instance lock (dev_lock) until then, so
no second `make dev` starts while the group is still on its way out.

Usage (by dagster_dev only): python -m probablyfresh_dagster.local_runs.dev_watchdog GROUP PIPE_FD
"""

from __future__ import annotations

import os
import signal
import sys

from probablyfresh_dagster.local_runs.process_group import group_alive, stop_group


def main(argv: list[str]) -> int:
    group, pipe = int(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the wrapper, if sent to the session
    while os.read(pipe, 4096):  # returns b"" once the wrapper's end is closed
        pass
    if group_alive(group):
        print(f"make dev: its process is gone; stopping dagster dev (process group {group})", file=sys.stderr)
        stop_group(group)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
