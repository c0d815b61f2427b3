"""Owner-only folders and files for the local state, and processes that create nothing else.

The state folder holds clear personal data (the embedded document store keeps the source
documents as they came) and the dev Fernet key, so it is 0700 and what the platform creates in
it is 0600, whatever the umask. Folders and files created before this existed are narrowed when
the platform next uses them.

Every entry point starts with `owner_only_process`, whoever starts it (make, a scheduler, an IDE,
`python -m ...`, Dagster's CLI through `definitions`): the landing files hold clear phones and
emails, Dagster's run history and logs may quote them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
OWNER_ONLY_UMASK = 0o077
DAGSTER_INSTANCE_ENTRIES = (
    "history",
    "history/runs.db",
    "history/runs",
    "history/runs/index.db",
    "schedules",
    "schedules/schedules.db",
)
"""What loading a local Dagster instance creates in DAGSTER_HOME. Dagster's CLI loads it before it
imports a code location, so before `definitions` can set the umask."""


def owner_only_process() -> None:
    """For an entry point's first line: what this process and its children create is owner-only
    (`umask 077`), and so is what Dagster created in DAGSTER_HOME before this ran (DAGSTER_HOME
    itself and `DAGSTER_INSTANCE_ENTRIES`, those this user owns)."""
    os.umask(OWNER_ONLY_UMASK)
    home = os.environ.get("DAGSTER_HOME")
    if home and os.path.isdir(home):
        home_folder = Path(home).resolve()  # DAGSTER_HOME may be a link: the folder is narrowed
        for path in (home_folder, *(home_folder / entry for entry in DAGSTER_INSTANCE_ENTRIES)):
            _narrow_own(path)


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


def _narrow_own(path: Path) -> None:
    """Narrow a folder or file of this user's to owner-only; leave links, shared folders (sticky,
    like /tmp) and what others own as they are."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return
    mode = status.st_mode
    if status.st_uid != os.geteuid() or stat.S_ISLNK(mode) or mode & stat.S_ISVTX:
        return
    _narrow(path, mode, DIR_MODE if stat.S_ISDIR(mode) else FILE_MODE)
