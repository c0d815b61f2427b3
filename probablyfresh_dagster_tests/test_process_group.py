"""`stop_group`, which stops `make dev`'s process group: a process that ignores SIGINT (a run stuck
in a step) is killed after the grace, and the named semaphore it held is unlinked by its resource
tracker, which is killed last, not with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from probablyfresh_dagster.local_runs.process_group import RESOURCE_TRACKER, group_alive, stop_group

from .support import wait_for

STUCK = """
import multiprocessing, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
lock = multiprocessing.get_context("spawn").Lock()
print(lock._semlock.name, flush=True)
time.sleep(600)
"""
"""Holds a semaphore of multiprocessing's spawn context (a named one, in /dev/shm) and only dies of SIGKILL."""


def test_a_killed_process_leaves_no_named_semaphore_and_nothing_of_its_group(tmp_path):
    stuck = subprocess.Popen([sys.executable, "-c", STUCK], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert stuck.stdout is not None
    semaphore = Path("/dev/shm") / f"sem.{stuck.stdout.readline().strip().lstrip('/')}"
    assert semaphore.exists()

    killed = stop_group(stuck.pid)
    stuck.wait()

    assert not group_alive(stuck.pid)
    assert [command for command in killed if "time.sleep(600)" in command]
    assert not [command for command in killed if RESOURCE_TRACKER in command]
    wait_for(lambda: not semaphore.exists(), 5, f"{semaphore} to be unlinked")
