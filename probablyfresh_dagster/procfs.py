"""What Linux's /proc says about a process: state, process group, start time.

Used to tell a live process from a zombie (exited, not yet reaped: it holds nothing) and from
an unrelated process that got the same pid later. Callers fall back to `os.kill(pid, 0)` where
there is no /proc (macOS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    state: str
    process_group: int
    start_ticks: int  # clock ticks after boot

    @property
    def running(self) -> bool:
        return self.state not in ("Z", "X")  # zombie, dead

    def started_at(self) -> float:
        """When the process started, in epoch seconds (to the boot time's whole second)."""
        return _boot_time() + self.start_ticks / os.sysconf("SC_CLK_TCK")


def available() -> bool:
    return PROC.is_dir()


def process_stat(pid: int) -> ProcessStat | None:
    """The process's /proc/<pid>/stat, or None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses.
    fields = text.rsplit(")", 1)[1].split()
    return ProcessStat(pid, state=fields[0], process_group=int(fields[2]), start_ticks=int(fields[19]))


def all_processes() -> Iterator[ProcessStat]:
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := process_stat(int(entry.name))) is not None:
            yield stat


def _boot_time() -> float:
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime line")
