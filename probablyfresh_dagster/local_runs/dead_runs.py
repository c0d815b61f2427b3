"""Runs whose process is gone: found by the pid each run reports, failed, and their pool slots freed.

A run killed with SIGKILL (or by the OOM killer, or a closed laptop lid that never came back)
stays STARTED and keeps the concurrency slots its steps claimed, so every later run waits for a
slot that is never released. Every run's orchestrating process reports its pid in an engine
event (`EngineEventData` metadata "pid": "Started process for run (pid: N)" for runs the code
server launches, "Executing steps in process (pid: N)" for `make run`), so a run is dead when
that process no longer exists.

A pid can be reused by an unrelated process once the first one is gone, so the process's start
time must not be later than the event that reported the pid. A process the system will not
describe (another user's) reads as alive and its run is left alone: this module errs on the side
of never failing a live run.

Pids only mean something on the machine that wrote them: use this for an instance whose runs
all run here (the local profile), never for one shared with containers or other hosts.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import psutil

# How much later than its pid report a process may seem to have started and still be the same
# process: Linux counts start times from the boot time, which it gives in whole seconds, and
# wall-clock corrections shift it.
CLOCK_SLACK_SECONDS = 5.0
WATCH_INTERVAL_SECONDS = 5.0
IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class RunProcess:
    """The process a run reported as its own, and when it reported it (epoch seconds)."""

    pid: int
    reported_at: float


@dataclass(frozen=True)
class HeldSlot:
    pool: str
    step_key: str


@dataclass(frozen=True)
class DeadRun:
    run: dg.DagsterRun
    process: RunProcess
    held_slots: list[HeldSlot]

    def describe(self) -> str:
        """One line: which run, which process, what was freed."""
        slots = ", ".join(f"pool {slot.pool} (step {slot.step_key})" for slot in self.held_slots)
        return (
            f"run {self.run.run_id} ({self.run.job_name}) lost its process (pid {self.process.pid}): "
            f"marked it failed{' and freed ' + slots if slots else ''}"
        )


def reported_process(instance: dg.DagsterInstance, run_id: str) -> RunProcess | None:
    """The latest process the run reported (a resumed run reports its new worker), if any."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False).records
    for record in records:
        entry = record.event_log_entry
        pid = entry.dagster_event.engine_event_data.metadata.get("pid") if entry.dagster_event else None
        if isinstance(pid, dg.TextMetadataValue) and pid.value is not None:
            return RunProcess(int(pid.value), entry.timestamp)
    return None


def is_alive(process: RunProcess) -> bool:
    """Whether the process that reported itself is still running (a zombie is not)."""
    try:
        found = psutil.Process(process.pid)
        if found.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False
        return found.create_time() <= process.reported_at + CLOCK_SLACK_SECONDS
    except psutil.NoSuchProcess:  # also a zombie, where the system will not describe one
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def find_dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Starting or started runs whose reported process is gone.

    A run that has not reported a process yet is never dead here: it holds no pool slot before
    its executor starts, and run monitoring's start timeout covers a launch that never started.
    """
    dead = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT)):
        process = reported_process(instance, run.run_id)
        if process is None or is_alive(process):
            continue
        # Read the status again now that the process is known gone: it may have finished the
        # run between the first read and its exit, and a gone process writes nothing more.
        now = instance.get_run_by_id(run.run_id)
        if now is not None and now.status in IN_FLIGHT:
            dead.append(DeadRun(run, process, held_slots(instance, run.run_id)))
    return dead


def held_slots(instance: dg.DagsterInstance, run_id: str) -> list[HeldSlot]:
    storage = instance.event_log_storage
    return [
        HeldSlot(pool, slot.step_key)
        for pool in sorted(storage.get_concurrency_keys())
        for slot in storage.get_concurrency_info(pool).claimed_slots
        if slot.run_id == run_id
    ]


def fail_dead_runs(instance: dg.DagsterInstance, noticed_by: str) -> list[DeadRun]:
    """Mark every dead run failed and free its concurrency slots; the runs handled."""
    dead = find_dead_runs(instance)
    for run in dead:
        instance.report_run_failed(
            run.run,
            f"The run's process (pid {run.process.pid}) is gone: it was killed or crashed "
            f"before the run finished. Noticed by {noticed_by}, which freed the run's pool slots.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run.run_id)
    return dead


@contextmanager
def failing_dead_runs(instance: dg.DagsterInstance, noticed_by: str, report: Callable[[DeadRun], None]) -> Iterator[None]:
    """Fail dead runs now, then every WATCH_INTERVAL_SECONDS while the block runs.

    The watch matters to a run waiting for a pool slot: when the run holding the slot dies
    during the wait, nothing else may be there to release it (no daemon outside `make dev`).
    """
    for dead in fail_dead_runs(instance, noticed_by):
        report(dead)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(WATCH_INTERVAL_SECONDS):
            try:
                for dead in fail_dead_runs(instance, noticed_by):
                    report(dead)
            except Exception as error:  # e.g. storage busy: try again next time
                print(f"checking for dead runs failed, will retry: {error}", file=sys.stderr)

    watcher = threading.Thread(target=watch, name="dead-run-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
