"""`make dev`: `dagster dev` (arguments passed on), stopped for good within seconds of Ctrl-C.

On Ctrl-C, `dagster dev` stops its webserver and daemon, but the code server it started waits
for the runs in flight to finish before it exits, and a run waits for its step processes; a step
in a long chDB query, or waiting for the chDB lock, keeps the lot alive, at times for more than a minute
(see the README's Performance). So `dagster dev` runs here in its own process group: Ctrl-C (or
SIGTERM, SIGHUP) is passed on to the group, and whatever of the group is still alive
GRACE_SECONDS later is killed. A run killed that way is a dead run: run monitoring (the daemon of
the next `make dev`) or the next `make run` marks it failed and frees its pool slots.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from probablyfresh_dagster.private_files import owner_only_process

# The `dagster` command, without the warning `dagster dev` prints to advise `dg dev` (not installed).
# `-W` filters in this process only, not in those it starts, and runs before site-packages are on
# sys.path, so it names the warning by its message and by dagster.SupersessionWarning's base class.
DAGSTER = (sys.executable, "-W", "ignore:Function `dev_command` is superseded:FutureWarning", "-m", "dagster")
GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1
ENDED = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def main(argv: list[str] | None = None) -> int:
    owner_only_process()  # inherited by `dagster dev`, its webserver, daemon, code server and runs
    # Each raises KeyboardInterrupt here. Set before `dagster dev` starts, so that it does not
    # inherit a SIGINT ignored by a shell that started us in the background.
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, signal.default_int_handler)
    arguments = sys.argv[1:] if argv is None else argv
    dev = subprocess.Popen([*DAGSTER, "dev", *arguments], start_new_session=True)
    try:
        return dev.wait()
    except KeyboardInterrupt:
        _signal_group(dev.pid, signal.SIGINT)
        return 130  # the shell's code for "ended by SIGINT"
    finally:
        _stop_group(dev)


def _stop_group(dev: subprocess.Popen) -> None:
    """Give what is left of the group GRACE_SECONDS to exit, then kill it; a second Ctrl-C kills it at once."""
    deadline = time.monotonic() + GRACE_SECONDS
    try:
        while _group_alive(dev) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    if _group_alive(dev):
        print(
            f"make dev: killed what was still running {GRACE_SECONDS:.0f} s after the stop; runs cut "
            "short are failed by the next `make dev` (run monitoring) or `make run`",
            file=sys.stderr,
        )
        _signal_group(dev.pid, signal.SIGKILL)


def _group_alive(dev: subprocess.Popen) -> bool:
    """Whether a process of the group still runs. Zombies do not count: the exited processes that
    `dagster dev` left to init may wait a while to be reaped (a container's init may never)."""
    dev.poll()  # reap `dagster dev` itself
    return any(
        process.info["status"] not in ENDED and _process_group(process.pid) == dev.pid
        for process in psutil.process_iter(["status"])
    )


def _process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:  # ended while we looked
        return None


def _signal_group(group: int, signal_number: int) -> None:
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
