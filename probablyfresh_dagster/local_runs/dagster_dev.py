"""`make dev`: `dagster dev` (arguments passed on), one per instance, never left behind.

- **Stopped for good.** On Ctrl-C, `dagster dev` stops its webserver and daemon, but the code
  server it started waits for the runs in flight to finish before it exits, and a run waits for
  its step processes; a step in a long chDB query, or waiting for the chDB lock, keeps the lot
  alive, at times for more than a minute (see the README's Performance). So `dagster dev` runs
  here in its own process group: Ctrl-C (or SIGTERM, SIGHUP) is passed on to the group, whatever
  of it is still alive GRACE_SECONDS later is killed (process_group), and the exit code is 0.
  A run killed that way is a dead run: run monitoring or the next `make run` fails it.
- **Even when this process is killed.** A watchdog in a session of its own stops the group when
  this process dies, SIGKILL included (dev_watchdog).
- **Ctrl-C without `make: *** Error`.** On a terminal, this process takes the terminal's
  foreground for its own process group, so Ctrl-C reaches it and not `make`, which would
  otherwise die of the signal whatever this process returns; the foreground goes back on exit.
- **One per instance.** A second `make dev` on the same DAGSTER_HOME is refused with one line
  naming the first (dev_lock): two daemons on one instance would each tick every sensor.
- **Calm.** What the group prints goes through this process, which ends a canceled run with one
  line instead of a stack trace (dev_output).
- **A half stack is restarted.** When `dagster dev` ends by itself (it stops everything once its
  daemon or webserver dies), the rest of its group is stopped and it is started again, once it
  had been up for RESTART_AFTER_SECONDS; one that ends sooner (a port in use, a broken
  workspace) ends `make dev` with its exit code, as a restart would not help, and so does the
  MAX_RESTARTS + 1st end within RESTARTS_WINDOW_SECONDS (a fault that takes longer to show).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from probablyfresh_dagster.local_runs.dev_lock import AlreadyRunning, lock_instance, name_holder
from probablyfresh_dagster.local_runs.dev_output import pass_on
from probablyfresh_dagster.local_runs.process_group import GRACE_SECONDS, stop_group
from probablyfresh_dagster.private_files import owner_only_process

# The `dagster` command, without the warning `dagster dev` prints to advise `dg dev` (not installed).
# `-W` filters in this process only, not in those it starts, and runs before site-packages are on
# sys.path, so it names the warning by its message and by dagster.SupersessionWarning's base class.
DAGSTER = (sys.executable, "-W", "ignore:Function `dev_command` is superseded:FutureWarning", "-m", "dagster")
WATCHDOG = (sys.executable, "-m", "probablyfresh_dagster.local_runs.dev_watchdog")
RESTART_AFTER_SECONDS = 20.0
MAX_RESTARTS, RESTARTS_WINDOW_SECONDS = 3, 600.0
# A run's processes: the code server starts each run in a process of its own (multiprocessing's
# spawn), whose steps fork from a forkserver. What else the stop may kill (a code server slow to
# stop, a resource tracker after its run) holds nothing a later run needs: not worth a line.
RUN_PROCESSES = ("multiprocessing.spawn", "multiprocessing.forkserver")
DEFAULT_PORT = "3000"  # dagster-webserver's


def main(argv: list[str] | None = None) -> int:
    owner_only_process()  # inherited by `dagster dev`, its webserver, daemon, code server and runs
    arguments = sys.argv[1:] if argv is None else argv
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        print("make dev: DAGSTER_HOME is not set; run `make dev`, which sets it", file=sys.stderr)
        return 2
    try:
        lock = lock_instance(Path(home))
    except AlreadyRunning as running:
        print(f"make dev: {running}", file=sys.stderr)
        return 1
    # Each raises KeyboardInterrupt here. Set before `dagster dev` starts, so that it does not
    # inherit a SIGINT ignored by a shell that started us in the background.
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, signal.default_int_handler)
    restarts: list[float] = []
    with terminal_foreground():
        while True:
            started = time.monotonic()
            try:
                code = _run_once(arguments, lock)
            except KeyboardInterrupt:
                return 0
            ended = time.monotonic()
            restarts = [at for at in restarts if at > ended - RESTARTS_WINDOW_SECONDS]
            if ended - started < RESTART_AFTER_SECONDS or len(restarts) >= MAX_RESTARTS:
                print(f"make dev: dagster dev ended by itself (exit {code}); not restarted", file=sys.stderr)
                return code or 1
            restarts.append(ended)
            print(
                f"make dev: dagster dev ended by itself (exit {code}: its daemon or webserver stopped); "
                "stopped the rest and starting it again",
                file=sys.stderr,
                flush=True,
            )


def _run_once(arguments: list[str], lock: int) -> int:
    """Run `dagster dev` with its watchdog until it ends or we are interrupted; stop its group after."""
    dev = subprocess.Popen(
        [*DAGSTER, "dev", *arguments],
        start_new_session=True,
        pass_fds=(lock,),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},  # a pipe: each line as it is written
    )
    assert dev.stdout is not None
    output = threading.Thread(target=pass_on, args=(dev.stdout, sys.stdout.buffer), daemon=True)
    output.start()
    name_holder(lock, f"pid {os.getpid()} (dagster dev {dev.pid}), UI on port {_port(arguments)}")
    watch, alive = os.pipe()  # `alive` stays open in this process only: its end is the watchdog's signal
    watchdog = subprocess.Popen([*WATCHDOG, str(dev.pid), str(watch)], start_new_session=True, pass_fds=(watch, lock))
    os.close(watch)
    try:
        return dev.wait()
    finally:
        dev.poll()  # reap `dagster dev` itself, so that it does not count as alive
        killed = sum(any(kind in command for kind in RUN_PROCESSES) for command in stop_group(dev.pid))
        os.close(alive)
        watchdog.wait()
        output.join(timeout=GRACE_SECONDS)  # the group's last lines: it is gone, its pipe ends
        if killed:
            print(
                f"make dev: killed {killed} process(es) of runs still running {GRACE_SECONDS:.0f} s after the "
                "stop; run monitoring (the daemon) or the next `make run` fails those runs",
                file=sys.stderr,
            )


def _port(arguments: list[str]) -> str:
    """The UI's port, as `dagster dev` will choose it: `-p`/`--port`, DAGSTER_CLI_DEV_PORT, 3000."""
    for index, argument in enumerate(arguments):
        if argument in ("-p", "--port") and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith("--port="):
            return argument.split("=", 1)[1]
    return os.environ.get("DAGSTER_CLI_DEV_PORT", DEFAULT_PORT)


@contextmanager
def terminal_foreground() -> Iterator[None]:
    """Make this process's own group the terminal's foreground while it runs, if it runs in the
    foreground of a terminal; Ctrl-Z is ignored meanwhile (it would stop this process and leave
    `make` waiting on a terminal that nobody reads)."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:  # no controlling terminal
        yield
        return
    try:
        previous = os.tcgetpgrp(terminal)
        if previous != os.getpgrp():  # in the background: leave the terminal alone
            yield
            return
        if os.getpgrp() != os.getpid():  # (a group leader, such as a session leader, cannot move)
            os.setpgid(0, 0)
        _set_foreground(terminal, os.getpgrp())
        signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        try:
            yield
        finally:
            _set_foreground(terminal, previous)
    finally:
        os.close(terminal)


def _set_foreground(terminal: int, group: int) -> None:
    # tcsetpgrp from a group that is not (or no longer) the foreground raises SIGTTOU: ignore it.
    ignored = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, group)
    except OSError:  # the previous group is gone (make killed): nothing to give back
        pass
    finally:
        signal.signal(signal.SIGTTOU, ignored)


if __name__ == "__main__":
    sys.exit(main())
