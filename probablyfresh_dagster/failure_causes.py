"""A failure to write a state folder says in its first line why and where.

The libraries say it in their own words, and often not first: SQLite reports a full disk as
`disk I/O error` (it keeps the errno to itself) or, once it rolled back by itself, an explicit
rollback reports `cannot rollback - no transaction is active` over it; chDB's `Cannot reserve
1.00 MiB, not enough space` names no folder. Where the platform opens or writes a state folder
(`naming_the_cause`), such an error becomes one `StateFailure`: disk full (the folder, its free
space), file too large (the size limit), permission denied (the path, the user). The original
stays its `__cause__`: these libraries' texts hold paths and error codes, no secret. A cause the
library does not tell is read from the file system at once: a file at the process's size limit,
a path this user may not write, or free space under the margin (or 1 MiB).
"""

from __future__ import annotations

import errno
import os
import resource
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from probablyfresh_dagster.free_space import NotEnoughSpace, free_bytes, min_free_bytes, size
from probablyfresh_dagster.scrub import error_chain

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
CAUSES = (*DISK_FULL, errno.EFBIG, *DENIED)
CAUSES_IN_TEXT = (
    ("database or disk is full", errno.ENOSPC),
    ("(NOT_ENOUGH_SPACE)", errno.ENOSPC),
    ("No space left on device", errno.ENOSPC),
    ("File too large", errno.EFBIG),
    ("Permission denied", errno.EACCES),
    ("attempt to write a readonly database", errno.EACCES),
    ("Read-only file system", errno.EROFS),
)
"""How SQLite and ClickHouse word a cause they do know."""
UNTOLD = (
    "disk I/O error",
    "unable to open database file",
    "(CANNOT_GET_CREATE_TABLE_QUERY)",
    "Error initializing EmbeddedServer",
)
"""SQLite's and chDB's words for a failure whose cause they do not give (chDB's two, for a table
created or an engine opened while the disk filled up)."""
NEARLY_FULL_BYTES = 1 << 20
"""Free space under which an untold write failure is taken for a full disk, with a margin under it."""


class StateFailure(Exception):
    """A state folder could not be opened or written; the message says why and where."""


@contextmanager
def naming_the_cause(
    folder: Path,
    what: str,
    files: Sequence[Path] = (),
    catching: type[Exception] | tuple[type[Exception], ...] = Exception,
) -> Iterator[None]:
    """Raise an error of `catching` met in the block, whose cause is one of `CAUSES`, as a
    `StateFailure` naming it; others go through as they are.

    `what` is written in `folder` (`files`, those of them that exist, when the library does not
    say which one failed). Catch only `OSError` where the block runs code that talks to a server:
    its words about the server's disk must not be read as this folder's."""
    try:
        yield
    except (StateFailure, NotEnoughSpace):
        raise
    except catching as error:
        headline = _headline(error, folder, what, _sizes(files))
        if headline is None:
            raise
        raise StateFailure(headline) from error


@contextmanager
def naming_the_server(service: str, url: str, catching: type[Exception]) -> Iterator[None]:
    """Raise an error of `catching` met in the block that comes from a connection failing (refused,
    reset, timed out, a host name that does not resolve) as a `ConnectionError` naming `service`
    and its host and port, never the URL's credentials; others go through as they are."""
    try:
        yield
    except catching as error:
        if not any(isinstance(c, (ConnectionError, TimeoutError, socket.gaierror)) for c in error_chain(error)):
            raise
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        raise ConnectionError(f"{service} at {where} is not reachable") from error


def _headline(error: BaseException, folder: Path, what: str, files: dict[Path, int]) -> str | None:
    code = _told(error)
    if code is None and any(text in str(chained) for chained in error_chain(error) for text in UNTOLD):
        code = _found(folder, files)
    if code in DISK_FULL:
        return f"Disk full: {folder} has {size(free_bytes(folder))} free ({what})"
    if code == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        shown = "unlimited" if limit == resource.RLIM_INFINITY else size(limit)
        return f"File too large: {what} in {folder} reached this process's file size limit, {shown} (RLIMIT_FSIZE, ulimit -f)"
    if code in DENIED:
        path = _filename(error) or next((p for p in (folder, *files) if not _writable(p)), folder)
        return f"Permission denied: {path} (uid {os.geteuid()}; {what})"
    return None


def _told(error: BaseException) -> int | None:
    """The cause an error of the chain gives, as an errno or in `CAUSES_IN_TEXT`'s words."""
    for chained in error_chain(error):
        if isinstance(chained, OSError) and chained.errno in CAUSES:
            return chained.errno
        for text, code in CAUSES_IN_TEXT:
            if text in str(chained):
                return code
    return None


def _filename(error: BaseException) -> str | None:
    return next((c.filename for c in error_chain(error) if isinstance(c, OSError) and c.filename), None)


def _sizes(files: Sequence[Path]) -> dict[Path, int]:
    """The size of each of `files` that this user can see (a folder it may not enter hides them)."""
    sizes = {}
    for path in files:
        try:
            sizes[path] = path.stat().st_size
        except OSError:
            pass
    return sizes


def _found(folder: Path, files: dict[Path, int]) -> int | None:
    """The cause of a failure the library did not name, read from the file system now."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and any(length >= limit for length in files.values()):
        return errno.EFBIG
    if not all(_writable(path) for path in (folder, *files)):
        return errno.EACCES
    if free_bytes(folder) < max(min_free_bytes(), NEARLY_FULL_BYTES):
        return errno.ENOSPC
    return None


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0))
