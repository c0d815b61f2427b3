"""The generator's own landing files: it writes, replaces and removes only the files it wrote.

The landing zone belongs to the user, who may copy, edit or add files there (copies of the
purchase files, to try the duplicate alert). So the generator keeps a manifest of what it wrote,
SQLite in `<data root>/.generator/`, one row per file with the file's identity: folder, name,
inode, size and mtime in nanoseconds. A file is the generator's while the entry at its name is a
regular file of that identity: one the user replaced, edited or even touched since is theirs. A
name the generator wants that something else holds (a user's file, a directory, a link, dangling
or not, a FIFO...) is left exactly as it is and reported, never an error. Its own files of an
earlier generation that this one did not write again (fewer records, the other format) are
removed, each only while it is still the file it wrote. Nothing else is ever removed.

Each file is written in `.generator/scratch/`, on the data root's file system, then renamed into
place, or linked there for a name that was free (a link never replaces what appeared meanwhile):
an entity's folder never holds a partial file, and a reader sees every file whole, old or new. A
killed generator leaves partial files in the scratch folder only, which the next one empties.

The manifest learns an identity before its file is in place: a batch's identities are journaled
(`moving`) and committed before the batch is moved, then become the files' rows. The next
generator settles a journal that a kill left behind: an identity found at its name is the
generator's file, the others are dropped. So no file of the generator's is ever in place without
its row, which would make it the user's for good.

Memory stays flat whatever the number of files: names are looked up, journaled and recorded a
batch at a time, and the stale rows read a batch at a time.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from probablyfresh_dagster.documents import batched
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.landing_folder import kind_of
from probablyfresh_dagster.private_files import DIR_MODE, FILE_MODE, private_dir
from probablyfresh_dagster.resources.sqlite import connect, write_transaction

OWN_FOLDER = ".generator"
"""The generator's folder under the data root: the manifest, the scratch folder, the lock."""
MANIFEST = "manifest.sqlite3"
SCRATCH = "scratch"
BATCH_SIZE = 1000
NOT_THE_GENERATORS = "a file the generator did not write, or changed since"
_COLUMNS = """(
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (folder, name)
) WITHOUT ROWID"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files {_COLUMNS};
CREATE INDEX IF NOT EXISTS files_by_generation ON files (generation);
CREATE TABLE IF NOT EXISTS moving {_COLUMNS};
"""
"""`files`: the generator's files; `moving`: the journal of the batch being moved into place."""
_RECORD = "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)"
_FORGET = "DELETE FROM files WHERE folder = ? AND name = ?"

Content = Callable[[IO[bytes]], int]
"""Writes a file's content to the handle it is given; returns the number of records written."""


class Identity(NamedTuple):
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> Identity:
        return cls(status.st_ino, status.st_size, status.st_mtime_ns)


class Staged(NamedTuple):
    """A file written in the scratch folder under its final name, not yet in place."""

    name: str
    identity: Identity
    records: int


@dataclass
class Written:
    """What one generation did in one folder."""

    records: int = 0
    """Records in the files it put in place."""
    taken: int = 0
    """Names it left alone: something it did not write holds them."""
    first_taken: list[str] = field(default_factory=list)
    """The first few of those, with what holds them: `ord-00001.json (a symbolic link)`."""

    def leave(self, name: str, holder: str) -> None:
        self.taken += 1
        if len(self.first_taken) < EXAMPLES_SHOWN:
            self.first_taken.append(f"{name} ({holder})")


def left_alone(written: dict[str, Written]) -> str | None:
    """One line naming the first few names the generation left alone, None if it left none."""
    taken = sum(entity.taken for entity in written.values())
    if not taken:
        return None
    names = [f"{folder}/{first}" for folder, entity in written.items() for first in entity.first_taken][:EXAMPLES_SHOWN]
    more = f" and {taken - len(names)} more" if taken > len(names) else ""
    return f"left alone {taken} names held by what the generator did not write: {', '.join(names)}{more}"


def lock_path(root: Path) -> Path:
    """The generator's lock file under the data root: one generator at a time."""
    return root / OWN_FOLDER / "lock"


@contextmanager
def generated_files(root: Path, folders: Iterable[str]) -> Iterator[GeneratedFiles]:
    """The generator's files in `folders` under `root`, for one generation (under the generator's lock)."""
    files = GeneratedFiles(root, folders)
    try:
        yield files
    finally:
        files.close()


class GeneratedFiles:
    """Writes a generation's files under a data root, replacing and removing only its own."""

    def __init__(self, root: Path, folders: Iterable[str]) -> None:
        """Open (creating them owner-only if missing) the folders a generation writes, before it
        writes anything: one the generator cannot write into fails now, not half-way."""
        own = private_dir(root / OWN_FOLDER)
        self._root = root
        self._folders: dict[str, int] = {}
        scratch = own / SCRATCH
        # What a killed generator left half written goes first: it may hold the space the free-space
        # check of the manifest's connection asks for.
        shutil.rmtree(scratch, ignore_errors=True)
        self._db = connect(str(own / MANIFEST), SCHEMA)
        self._scratch = os.open(private_dir(scratch), os.O_RDONLY | os.O_DIRECTORY)
        self._scratch_path = scratch
        try:
            for folder in folders:
                self._folder(folder)
            self._settle_moves()
        except BaseException:
            self.close()
            raise
        (self._generation,) = self._db.execute("SELECT coalesce(max(generation), 0) + 1 FROM files").fetchone()

    def close(self) -> None:
        for descriptor in (self._scratch, *self._folders.values()):
            os.close(descriptor)
        self._db.close()

    def write(self, folder: str, files: Iterable[tuple[str, Content]]) -> Written:
        """Put each named file in `folder` (under the root), unless its name holds what the
        generator did not write; `content` is called only for a file that will be written."""
        written = Written()
        for batch in batched(files, BATCH_SIZE):
            recorded = self._recorded(folder, [name for name, _ in batch])
            staged, forgotten = [], []
            for name, content in batch:
                holder = _holder(self._lstat(folder, name), recorded.get(name))
                if holder is None:
                    staged.append(self._stage(name, content))
                else:
                    written.leave(name, holder)
                    forgotten.append(name)
            self._journal(folder, staged)
            moved = []
            for file in staged:
                holder = self._move(folder, file, recorded.get(file.name))
                if holder is None:
                    moved.append(file)
                    written.records += file.records
                else:
                    written.leave(file.name, holder)
                    forgotten.append(file.name)
            self._record(folder, moved, forgotten)
        return written

    def remove_stale(self) -> int:
        """Remove the generator's files of earlier generations that this one did not write again,
        each only while it is still the file the generator wrote, and forget them all; the number
        removed. A generation that writes nothing removes every file the generator wrote."""
        stale = "SELECT folder, name, inode, size, mtime_ns FROM files WHERE generation < ? LIMIT ?"
        removed = 0
        while rows := self._db.execute(stale, (self._generation, BATCH_SIZE)).fetchall():
            for folder, name, *identity in rows:
                status = self._lstat(folder, name)
                if status is not None and _holder(status, Identity(*identity)) is None:
                    os.unlink(name, dir_fd=self._folder(folder))
                    removed += 1
            with write_transaction(self._db):
                self._db.executemany(_FORGET, [(folder, name) for folder, name, *_ in rows])
        return removed

    def _stage(self, name: str, content: Content) -> Staged:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        descriptor = os.open(name, flags, FILE_MODE, dir_fd=self._scratch)
        try:
            with open(descriptor, "wb") as handle:
                records = content(handle)
                handle.flush()
                return Staged(name, Identity.of(os.fstat(descriptor)), records)
        except BaseException:
            os.unlink(name, dir_fd=self._scratch)  # a file cut short (a full disk) gives its space back now
            raise

    def _move(self, folder: str, file: Staged, recorded: Identity | None) -> str | None:
        """Put a staged file in place; None once done, or what took its name since it was checked
        (the staged file is then dropped)."""
        target = self._folder(folder)
        status = self._lstat(folder, file.name)
        holder = _holder(status, recorded)
        if holder is None and status is not None:
            os.rename(file.name, file.name, src_dir_fd=self._scratch, dst_dir_fd=target)
            return None
        if holder is None:
            try:
                os.link(file.name, file.name, src_dir_fd=self._scratch, dst_dir_fd=target)
            except FileExistsError:
                holder = _holder(self._lstat(folder, file.name), None) or "an entry that came and went meanwhile"
        os.unlink(file.name, dir_fd=self._scratch)
        return holder

    def _recorded(self, folder: str, names: list[str]) -> dict[str, Identity]:
        rows = self._db.execute(
            f"SELECT name, inode, size, mtime_ns FROM files WHERE folder = ? AND name IN ({','.join('?' * len(names))})",
            [folder, *names],
        )
        return {name: Identity(*identity) for name, *identity in rows}

    def _journal(self, folder: str, staged: list[Staged]) -> None:
        with write_transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO moving VALUES (?, ?, ?, ?, ?, ?)",
                [(folder, file.name, *file.identity, self._generation) for file in staged],
            )

    def _record(self, folder: str, moved: list[Staged], forgotten: list[str]) -> None:
        """The moved files become the generator's; names held by others are no longer its own."""
        with write_transaction(self._db):
            self._db.executemany(_RECORD, [(folder, file.name, *file.identity, self._generation) for file in moved])
            self._db.executemany(_FORGET, [(folder, name) for name in forgotten])
            self._db.execute("DELETE FROM moving")

    def _settle_moves(self) -> None:
        """Settle the journal of a generator killed while moving a batch into place."""
        rows = self._db.execute("SELECT folder, name, inode, size, mtime_ns, generation FROM moving").fetchall()
        with write_transaction(self._db):
            for folder, name, *identity, generation in rows:
                status = self._lstat(folder, name)
                if status is not None and _holder(status, Identity(*identity)) is None:
                    self._db.execute(_RECORD, (folder, name, *identity, generation))
            self._db.execute("DELETE FROM moving")

    def _lstat(self, folder: str, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self._folder(folder), follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _folder(self, name: str) -> int:
        """A descriptor of the entity folder `name`, created owner-only if missing. It may be a link
        to a folder elsewhere, on the scratch folder's file system (a file is renamed into place)."""
        if name not in self._folders:
            path = self._root / name
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                pass
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            if os.fstat(descriptor).st_dev != os.fstat(self._scratch).st_dev:
                os.close(descriptor)
                raise OSError(
                    f"{path} is on another file system than {self._scratch_path}: the generator writes each"
                    " file there and renames it into place, so both must be on one file system"
                )
            self._folders[name] = descriptor
        return self._folders[name]


def _holder(status: os.stat_result | None, recorded: Identity | None) -> str | None:
    """What holds a name, for the report; None when nothing does or the generator's own file
    (a regular file of the `recorded` identity)."""
    if status is None:
        return None
    if not stat.S_ISREG(status.st_mode):
        return kind_of(status.st_mode)
    return None if Identity.of(status) == recorded else NOT_THE_GENERATORS
