"""A command run as a user runs it in a terminal: the foreground job of a new pseudo-terminal, so
that Ctrl-C is the terminal's own (the line discipline signals the foreground process group)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import termios
import threading
from pathlib import Path

CTRL_C = b"\x03"


class Terminal:
    """`command` in a session of its own whose controlling terminal is a new pseudo-terminal;
    what it prints there is copied to `log` as it comes (a terminal nobody reads would block it)."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self._master, terminal = os.openpty()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            preexec_fn=_take_stdin_as_controlling_terminal,
        )
        os.close(terminal)
        self._copy = threading.Thread(target=self._copy_output, args=(log,), daemon=True)
        self._copy.start()

    def press_ctrl_c(self) -> None:
        os.write(self._master, CTRL_C)

    def close(self) -> None:
        """Once the command and whatever it left on the terminal ended: stop copying (idempotent)."""
        self._copy.join(timeout=5)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def _copy_output(self, log: Path) -> None:
        with log.open("ab") as sink:
            while True:
                try:
                    chunk = os.read(self._master, 65536)
                except OSError:  # EIO: every process of the terminal closed it
                    return
                if not chunk:
                    return
                sink.write(chunk)
                sink.flush()


def _take_stdin_as_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
