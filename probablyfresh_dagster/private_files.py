"""Owner-only folders and files for the local state.

The state folder holds clear personal data (the embedded document store keeps the source
documents as they came) and the dev Fernet key, so it is 0700 and what the platform creates in
it is 0600, whatever the umask. Folders and files created before this existed are narrowed when
the platform next uses them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter; missing parents are created owner-only too.

    An existing folder is narrowed, unless it has the sticky bit: a shared folder such as /tmp
    given as the state folder by mistake is left as it is.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    mode = path.stat().st_mode
    if not mode & stat.S_ISVTX:
        _narrow(path, mode, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read or write, created empty if it is missing."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    narrow_file(path)
    return path


def narrow_file(path: Path) -> None:
    """Make an existing file owner-only; a missing one is left missing."""
    try:
        _narrow(path, path.stat().st_mode, FILE_MODE)
    except FileNotFoundError:
        pass


def _narrow(path: Path, mode: int, wanted: int) -> None:
    if stat.S_IMODE(mode) & ~wanted:
        path.chmod(stat.S_IMODE(mode) & wanted)
