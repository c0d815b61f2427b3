"""Stopping a process group for good: a signal to ask, GRACE_SECONDS to obey, then SIGKILL.

Shared by `make dev`'s wrapper (dagster_dev) and its watchdog (dev_watchdog).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil

GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1
ENDED = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
RESOURCE_TRACKER = "multiprocessing.resource_tracker"
"""multiprocessing's resource tracker (it ignores SIGINT) unlinks the named semaphores
(`/dev/shm/sem.mp-*`) of spawned processes that died without doing it themselves, once every one
of them is gone. So it is killed last, only if it has not ended by itself by then: killed along
with a run, it left 8 semaphores behind each time `make dev` stopped one."""


def stop_group(group: int) -> list[str]:
    """Send SIGINT to `group`, wait up to GRACE_SECONDS for every process in it to exit, then
    SIGKILL what is left, resource trackers last (see RESOURCE_TRACKER), and wait for it to end;
    the command lines of the killed processes. A KeyboardInterrupt while waiting (a second
    Ctrl-C) kills at once."""
    signal_group(group, signal.SIGINT)
    try:
        _wait_for_end(group)
    except KeyboardInterrupt:
        pass
    killed = []
    for process in _members(group):
        if RESOURCE_TRACKER not in " ".join(process.info["cmdline"] or []):
            killed.append(_kill(process))
    _wait_for_end(group)  # the trackers end once the processes they track are gone
    killed += [_kill(process) for process in _members(group)]
    signal_group(group, signal.SIGKILL)  # and whatever was started meanwhile
    _wait_for_end(group)  # SIGKILL is not instant: what is killed here is gone when we return
    return killed


def _kill(process: psutil.Process) -> str:
    """SIGKILL `process`; its command line."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process.kill()
    return " ".join(process.info["cmdline"] or [])


def _wait_for_end(group: int) -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    while group_alive(group) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def group_alive(group: int) -> bool:
    return bool(_members(group))


def _members(group: int) -> list[psutil.Process]:
    """The group's running processes. Zombies do not count: the exited processes that `dagster
    dev` left to init may wait a while to be reaped (a container's init may never)."""
    return [
        process
        for process in psutil.process_iter(["status", "cmdline"])
        if process.info["status"] not in ENDED and _process_group(process.pid) == group
    ]


def signal_group(group: int, signal_number: int) -> None:
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:
        pass


def _process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:  # ended while we looked
        return None
