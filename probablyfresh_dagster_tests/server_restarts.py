"""Stopping a server started by infra/testservers/ and starting it again on the same port and data,
as a broker restarting or MongoDB going away for a minute does to a running step."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .support import wait_for


@contextmanager
def paused(workdir: Path) -> Iterator[None]:
    """Freeze the server of `workdir` (SIGSTOP, its whole group) for the block: it holds its
    connections and answers nothing, as a broker stalled or cut off does; then SIGCONT."""
    group = int((workdir / "pid").read_text())
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


@contextmanager
def stopped(workdir: Path, started_line: str | None = None) -> Iterator[None]:
    """Kill the server of `workdir` (SIGKILL, its whole group) for the block, then start it again
    with the same command line, environment and folder; return once it answers (`started_line`
    written to its log again, if given)."""
    pid = int((workdir / "pid").read_text())
    proc = Path(f"/proc/{pid}")
    command = proc.joinpath("cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    environment = dict(line.split(b"=", 1) for line in proc.joinpath("environ").read_bytes().split(b"\0") if b"=" in line)
    folder = os.readlink(proc / "cwd")
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not proc.exists() or "Z" in proc.joinpath("stat").read_text().split()[2], 10, "the server to die")
    log = workdir / "server.log"
    starts = log.read_text(errors="replace").count(started_line) if started_line else 0
    yield
    with log.open("ab") as output:
        server = subprocess.Popen(
            command, env=environment, cwd=folder, stdout=output, stderr=output, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (workdir / "pid").write_text(str(server.pid))  # stop.sh stops this one at the end
    # Reaped as soon as it exits: a zombie child keeps its group alive for stop.sh's `kill -0`,
    # which then waits its whole 30 s before SIGKILL.
    threading.Thread(target=server.wait, daemon=True).start()
    port = int((workdir / "port").read_text())
    wait_for(lambda: _answers(port), 60, "the server to answer again")
    if started_line:
        wait_for(lambda: log.read_text(errors="replace").count(started_line) > starts, 60, "the server to start again")


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Heard(logging.Handler):
    """Sets `heard` when a record of the `dagster` logger holds `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.heard = text, threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.text in message:
            self.lines.append(message)
            self.heard.set()


@contextmanager
def listening(text: str) -> Iterator[Heard]:
    handler = Heard(text)
    logger = logging.getLogger("dagster")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
