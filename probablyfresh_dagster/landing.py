"""Reads the landing zone's JSON files into source documents, setting bad files aside.

Nothing a file holds stops the load. A file is set aside, with its file, record (the natural key
when it is known), field and reason, when it is over the size limit, cannot be read, is not
strict JSON (RFC 8259 in UTF-8, a leading BOM allowed), holds what a store downstream cannot
(`storable`) or breaks its entity's schema (`schema`). The file itself stays where it is.

The rejects file lists the folder as it is now: each load writes it to a temporary file beside it
and renames that over the old list at the end, so a load that dies leaves the previous complete
list, never a half-written one.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.resources.documents import SourceDocument
from probablyfresh_dagster.schema import Clock, Invalid
from probablyfresh_dagster.storable import check_storable

FILE = "(file)"
"""The field of a refusal that concerns the file as a whole."""


@dataclass(frozen=True)
class Rejection:
    file: str
    record: str | None
    """The natural key, when the file holds one."""
    field: str
    reason: str


class RejectLog:
    """Streams rejections to a JSON-lines handle, keeping only the first few in memory."""

    def __init__(self, handle: IO[str], keep: int = 10) -> None:
        self._handle = handle
        self._keep = keep
        self.count = 0
        self.first: list[Rejection] = []

    def add(self, rejection: Rejection) -> None:
        self.count += 1
        if len(self.first) < self._keep:
            self.first.append(rejection)
        self._handle.write(json.dumps(asdict(rejection), ensure_ascii=False) + "\n")


@contextmanager
def replacing_reject_log(path: Path) -> Iterator[RejectLog]:
    """A `RejectLog` whose lines replace the file at `path` only when the block ends normally."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        try:
            yield RejectLog(handle)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


def json_files(folder: Path) -> Iterator[Path]:
    """The folder's `*.json` files, streamed in directory order (a missing folder has none)."""
    return (Path(entry.path) for entry in _json_entries(folder))


def _json_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".json") and entry.is_file():
                yield entry


def read_documents(
    entity: Entity, folder: Path, rejects: RejectLog, max_file_bytes: int
) -> Iterator[SourceDocument]:
    """The documents of the folder's valid files; every other file goes to `rejects`."""
    clock = Clock.current()
    for entry in _json_entries(folder):
        body = None
        try:
            body = parse(read_file(entry.path, max_file_bytes))
            check_storable(body)
            entity.schema.check(body, clock)
        except Invalid as invalid:
            rejects.add(Rejection(file_label(entry.path), natural_key(entity, body), invalid.field, invalid.reason))
        else:
            yield SourceDocument(entry.name.removesuffix(".json"), body[entity.key], body)


def read_file(path: str | Path, max_file_bytes: int) -> bytes:
    """The file's bytes; `Invalid` when its name is not UTF-8, it is too big or unreadable.

    The size is checked on the open file before reading it, so an oversized file costs nothing.
    Opened non-blocking, so that a FIFO put in place of a file cannot hang the load.
    """
    if not _is_utf8(os.fsencode(os.path.basename(path))):
        raise Invalid("file name is not UTF-8", (FILE,))
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise Invalid("not a regular file", (FILE,))
            if status.st_size > max_file_bytes:
                raise Invalid(f"{status.st_size} bytes, over the limit of {max_file_bytes}", (FILE,))
            data = os.read(descriptor, status.st_size + 1)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise Invalid(f"cannot be read: {error.strerror or error}", (FILE,)) from None
    if len(data) > status.st_size:
        raise Invalid("changed while being read", (FILE,))
    return data


def parse(data: bytes) -> Any:
    """Strict JSON: orjson refuses NaN, ±Infinity, lone surrogates, invalid UTF-8 and more."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        reason = f"not valid JSON: {error}" if _is_utf8(data) else "not UTF-8"
        raise Invalid(reason, (FILE,)) from None


def natural_key(entity: Entity, body: Any) -> str | None:
    key = body.get(entity.key) if isinstance(body, dict) else None
    return key if isinstance(key, str) and key.strip() else None


def file_label(path: str | Path) -> str:
    """The path as text, with any byte of a non-UTF-8 name shown as an escape (`\\xe9`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
