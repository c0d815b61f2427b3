"""An entity's folder in the landing zone as the platform lists it: which entries are landing
files, what each one is, and what else the folder holds.

An entry is named like a landing file when its name ends in `.json`, `.jsonl` or `.jsonl.gz` and is
not hidden. The folder itself may be a symbolic link (a user's layout); the entries inside are
never followed: the listing says what each one is by its own type (`lstat`), so a link is a link,
whatever it points to. Other entries (hidden files, other extensions, subfolders) are not records,
but they are counted and the first few named, so that nothing is skipped silently.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from probablyfresh_dagster.examples import EXAMPLES_SHOWN

ONE_RECORD_SUFFIX = ".json"
BATCH_SUFFIXES = (".jsonl", ".jsonl.gz")
LANDING_SUFFIXES = (ONE_RECORD_SUFFIX, *BATCH_SUFFIXES)


def is_landing_file(name: str) -> bool:
    """Whether an entry of an entity's folder is named like a landing file: `*.json`, `*.jsonl` or
    `*.jsonl.gz`, and not hidden (an editor's `.x.json.swp`, macOS's `._x.json`)."""
    return name.endswith(LANDING_SUFFIXES) and not name.startswith(".")


SYMBOLIC_LINK = "a symbolic link"
_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFLNK: SYMBOLIC_LINK,
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def kind_of(mode: int) -> str:
    """What a file system entry is, for a message (`a symbolic link`, `a FIFO`, ...)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


class LandingEntry(NamedTuple):
    """An entry of an entity's folder named like a landing file, whatever it is."""

    name: str
    """As the file system gives it (a byte that is not UTF-8 as a surrogate, see `os.fsdecode`)."""
    kind: str | None
    """None for a regular file, else what it is (`kind_of`): never read, set aside."""


@dataclass
class Ignored:
    """The entries of a folder whose names are not landing files' (hidden, other extensions,
    subfolders): counted, and the first few named as `file_label` shows them (a folder with `/`)."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, entry: os.DirEntry[str]) -> None:
        self.count += 1
        if len(self.first) < EXAMPLES_SHOWN:
            self.first.append(file_label(entry.name) + ("/" if entry.is_dir(follow_symlinks=False) else ""))


class FolderSurvey(NamedTuple):
    """What the MongoDB load and the file sensor see of a folder, listed once."""

    fingerprint: str
    ignored: Ignored


def landing_entries(folder: Path) -> Iterator[LandingEntry]:
    """The folder's entries named like landing files, streamed in directory order (a missing
    folder has none). The folder itself may be a symbolic link; what is inside is never followed."""
    with opened_folder(folder) as descriptor:
        yield from entries(descriptor)


def survey_folder(folder: Path) -> FolderSurvey:
    """The folder's fingerprint and the entries it ignores, in constant memory.

    The fingerprint is a digest of the names, sizes and mtimes of the entries named like landing
    files, each by its own `lstat` (a link as a link, so adding one starts the load that sets it
    aside). The MongoDB load records it and the file sensor compares it, so both see a folder
    alike. Per-entry digests are summed, so directory order does not matter and nothing is sorted.
    Names are taken as bytes (a name need not be UTF-8), and an entry gone since the listing is
    skipped.
    """
    total, count, ignored = 0, 0, Ignored()
    with opened_folder(folder) as descriptor:
        for entry in entries(descriptor, ignored):
            try:
                info = os.stat(entry.name, dir_fd=descriptor, follow_symlinks=False)
            except FileNotFoundError:
                continue
            digest = os.fsencode(entry.name) + f"\0{info.st_size}\0{info.st_mtime_ns}".encode()
            total = (total + int.from_bytes(hashlib.blake2b(digest, digest_size=8).digest(), "big")) % 2**64
            count += 1
    return FolderSurvey(f"{count}-{total:016x}", ignored)


def folder_fingerprint(folder: Path) -> str:
    """The fingerprint of `survey_folder`, for the file sensor."""
    return survey_folder(folder).fingerprint


@contextmanager
def opened_folder(folder: Path) -> Iterator[int | None]:
    """A descriptor of the folder (following the folder itself if it is a link), None if missing.

    Every entry is then opened relative to it (`dir_fd`), so the folder read is the folder listed."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def entries(descriptor: int | None, ignored: Ignored | None = None) -> Iterator[LandingEntry]:
    """The landing entries of an open folder (none without one); the others go to `ignored`."""
    if descriptor is None:
        return
    with os.scandir(descriptor) as listed:
        for entry in listed:
            if is_landing_file(entry.name):
                yield LandingEntry(entry.name, _kind(entry))
            elif ignored is not None:
                ignored.add(entry)


def _kind(entry: os.DirEntry[str]) -> str | None:
    """None for a regular file, else what the entry is, without following a link. The listing's
    own file types answer for most entries without a system call."""
    if entry.is_file(follow_symlinks=False):
        return None
    try:
        return kind_of(entry.stat(follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None  # gone since the listing: opening it says so


def file_label(path: str | Path) -> str:
    """The path as text, with any byte of a non-UTF-8 name shown as an escape (`\\xe9`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
