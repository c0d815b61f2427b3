"""Reads the landing zone into source documents, setting bad records aside.

The landing zone holds two kinds of file, side by side in an entity's folder:

- `*.json`: one record per file (the source documents' format). Its source id, the identity of
  its MongoDB document, is the file name without `.json`. A file over `max_file_bytes` is set
  aside unread.
- `*.jsonl` and `*.jsonl.gz`: one record per line, read a line at a time, so memory does not grow
  with the file. Each line is a source of its own, with source id `<file name>/<line number>`
  (lines numbered from 1, blank lines skipped but counted, so an editor finds the line). A `/`
  never occurs in a file name, so a line never takes the id of a `*.json` file. The limit applies
  to each line: a batch file has none as a whole. A re-run over the same file finds every id with
  the same content and publishes nothing; a rewritten file republishes only the lines whose
  content changed at their line number (a line inserted early shifts, and so republishes, every
  line after it). A line gone from a shorter file keeps its document, as a removed `*.json` file
  does, and `counts_reconcile` counts it apart (see `checks.reconcile`).

Only regular files inside the folder are read, and nothing is skipped silently. The entries come
from `landing_folder`'s listing; each is opened relative to its folder (`dir_fd`) with
`O_NOFOLLOW | O_NONBLOCK` and read only if the open file is a regular one, so a link is never
followed, neither at the listing nor at the open. An entry named like a landing file that is a
link (to anything), a directory, a FIFO, a socket or a device is set aside unread, as `(file)` with
what it is for reason.

Nothing a record holds stops the load. A record is set aside, with its file, line, record (the
natural key when it is known), field and reason, when it is over the size limit, cannot be read,
is not strict JSON (RFC 8259 in UTF-8, a leading BOM allowed), repeats a field name within an
object (JSON parsers keep the last value: which one was meant is unknown), holds what a store
downstream cannot (`storable`), breaks its entity's schema (`schema`), holds a declared personal
field that is not a string, or holds a phone or an email outside its declared personal fields
(`pii_scan`), which would otherwise be published in clear. A compressed file that breaks
(truncated, corrupt) is set aside at the line where it broke; the lines read before flow on. The
file itself stays where it is.

The rejects file lists the folder as it is now: each load writes it to a temporary file beside it
and renames that over the old list at the end, so a load that dies leaves the previous complete
list, never a half-written one.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import io
import json
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from probablyfresh_dagster.documents import SourceDocument
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.failure_causes import naming_the_cause
from probablyfresh_dagster.free_space import require_free_space
from probablyfresh_dagster.landing_folder import (
    BATCH_SUFFIXES,
    ONE_RECORD_SUFFIX,
    SYMBOLIC_LINK,
    entries,
    file_label,
    kind_of,
    opened_folder,
)
from probablyfresh_dagster.pii import PiiFields, check_declared_are_text
from probablyfresh_dagster.pii_scan import clear_text_kind, undeclared_clear_text
from probablyfresh_dagster.private_files import private_dir
from probablyfresh_dagster.schema import Clock, FieldPath, Invalid
from probablyfresh_dagster.shards import WHOLE, Shard
from probablyfresh_dagster.storable import check_storable

FILE = "(file)"
"""The field of a refusal that concerns the file as a whole."""
LINE = "(line)"
"""The field of a refusal that concerns a batch file's line as a whole."""
_SKIP_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    file: str
    record: str | None
    """The natural key, when the file holds one."""
    field: str
    reason: str
    line: int | None = None
    """The line of a batch file; None for a one-record file or a batch file refused as a whole."""


class Source(NamedTuple):
    """One record as found in the landing zone: its bytes, or why they could not be read."""

    source_id: str
    file: str
    """The path as `file_label` shows it."""
    line: int | None
    data: bytes | Invalid


class RejectLog:
    """Streams rejections to a JSON-lines handle, keeping only the first few in memory."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.count = 0
        self.first: list[Rejection] = []

    def add(self, rejection: Rejection) -> None:
        self.count += 1
        if len(self.first) < EXAMPLES_SHOWN:
            self.first.append(rejection)
        self._handle.write(json.dumps(asdict(rejection), ensure_ascii=False) + "\n")


@dataclass
class RejectCount:
    """The rejections of several `RejectLog`s (a step's shards): their number and the first few."""

    count: int = 0
    first: list[Rejection] = field(default_factory=list)

    def __iadd__(self, log: RejectLog) -> RejectCount:
        self.count += log.count
        self.first = (self.first + log.first)[:EXAMPLES_SHOWN]
        return self


@contextmanager
def replacing_reject_log(path: Path) -> Iterator[RejectLog]:
    """A `RejectLog` whose lines replace the file at `path` only when the block ends normally.

    The folder is the platform's and owner-only (the lines name records, whose keys may be
    personal); the temporary file, hence the list, is 0600. Nothing is written when the folder
    has less free space than the margin (`free_space`)."""
    with naming_the_cause(path.parent, f"the rejects list {path.name}", catching=OSError):
        require_free_space(path.parent)
        private_dir(path.parent)
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


def source_id(file_name: str, line: int | None) -> str:
    """The identity of a record's MongoDB document: `<stem>` of a one-record file, `<file name>/<line>`
    of a batch file's line (see the module docstring)."""
    return f"{file_name}/{line}" if line is not None else file_name.removesuffix(ONE_RECORD_SUFFIX)


def source_label(source: str) -> str:
    """How a report names a record: the file name of a one-record file, the id of a line."""
    return source if "/" in source else source + ONE_RECORD_SUFFIX


def _not_read(kind: str) -> Invalid:
    """The refusal of an entry named like a landing file that is not a regular file."""
    return Invalid(f"{kind}: not followed" if kind == SYMBOLIC_LINK else f"{kind}: not read", (FILE,))


def sources(folder: Path, max_record_bytes: int, shard: Shard = WHOLE) -> Iterator[Source]:
    """Every record of the folder in `shard`: one per `*.json` file, one per non-blank line of a
    batch file, and one for each entry named like a landing file that is not a regular file (set
    aside). A one-record file of another shard is not read; a batch file's lines are, and only the
    shard's own are yielded (see `shards`)."""
    with opened_folder(folder) as descriptor:
        if descriptor is None:
            return
        for entry in entries(descriptor):
            label = file_label(os.path.join(folder, entry.name))
            name = os.path.basename(label)
            if entry.kind is None and entry.name.endswith(BATCH_SUFFIXES):
                lines = _batch_lines(descriptor, entry.name, label, max_record_bytes)
                yield from (line for line in lines if shard.owns_source(line.source_id))
            elif not shard.owns_source(source_id(name, None)):
                continue
            elif entry.kind is not None:
                yield Source(source_id(name, None), label, None, _not_read(entry.kind))
            else:
                try:
                    data: bytes | Invalid = read_file(descriptor, entry.name, max_record_bytes)
                except Invalid as invalid:
                    data = invalid
                yield Source(source_id(name, None), label, None, data)


def source_ids(folder: Path, max_record_bytes: int) -> Iterator[str]:
    """The id of every record `sources` yields, set aside or not, without reading one-record files."""
    with opened_folder(folder) as descriptor:
        if descriptor is None:
            return
        for entry in entries(descriptor):
            label = file_label(os.path.join(folder, entry.name))
            if entry.kind is None and entry.name.endswith(BATCH_SUFFIXES):
                lines = _batch_lines(descriptor, entry.name, label, max_record_bytes)
                yield from (source.source_id for source in lines)
            else:
                yield source_id(os.path.basename(label), None)


UNDECLARED = "outside the declared personal fields (expectations: pii_fields)"


def read_documents(
    entity: Entity, folder: Path, rejects: RejectLog, max_record_bytes: int, personal: PiiFields, shard: Shard = WHOLE
) -> Iterator[SourceDocument]:
    """The documents of the folder's valid records in `shard`; every other record of it goes to
    `rejects`. `personal`: the entity's declared personal fields, the only ones that may hold a
    phone or email."""
    clock = Clock.current()
    for source in sources(folder, max_record_bytes, shard):
        body = None
        try:
            if isinstance(source.data, Invalid):
                raise source.data
            body = parse(source.data, FILE if source.line is None else LINE)
            check_unique_names(source.data, body, check_storable(body))
            entity.schema.check(body, clock)
            check_declared_are_text(body, personal)
            if found := undeclared_clear_text(source.data, body, personal):
                raise found.invalid(UNDECLARED)
        except Invalid as invalid:
            key = natural_key(entity, body)
            rejects.add(Rejection(source.file, key, invalid.field, invalid.reason, source.line))
        else:
            yield SourceDocument(source.source_id, body[entity.key], body)


def check_unique_names(data: bytes, document: Any, strings: int) -> None:
    """`Invalid` at a field name that an object of the document's JSON text holds twice.

    In a text without `\\`, each `"` opens or closes one of its strings (field names included), so
    it has exactly twice as many `"` as the parsed document has strings (`check_storable` counts
    them), unless a repeated name was dropped, and with it whatever it held. Only a text with an
    escape or a repeated name is parsed again, by the standard library, which sees every name.
    """
    if b"\\" not in data and data.count(b'"') == 2 * strings:
        return
    repeated = _repeated_name(json.loads(data.decode("utf-8-sig"), object_pairs_hook=_NamesChecked), ())
    if repeated is not None:
        raise Invalid("field name repeated in one object: which value was meant is unknown", repeated)


class _NamesChecked(dict):
    """An object as the standard library parses it, with the first field name it repeats, if any."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.repeated: str | None = None
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                self.repeated = name
                break
            seen.add(name)


def _repeated_name(value: Any, path: FieldPath) -> FieldPath | None:
    """The path of the first repeated field name under `value`."""
    if isinstance(value, _NamesChecked) and value.repeated is not None:
        return (*path, value.repeated)
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for part, child in children:
        if (found := _repeated_name(child, (*path, part))) is not None:
            return found
    return None


def read_file(folder: int, name: str, max_file_bytes: int) -> bytes:
    """The bytes of the file `name` in the open folder `folder`; `Invalid` when its name is not
    UTF-8, it is not a regular file (now), too big or unreadable.

    The size is checked on the open file before reading it, so an oversized file costs nothing.
    """
    descriptor, status = _open_regular_file(folder, name)
    try:
        if status.st_size > max_file_bytes:
            raise Invalid(f"{status.st_size} bytes, over the limit of {max_file_bytes}", (FILE,))
        data = os.read(descriptor, status.st_size + 1)
    except OSError as error:
        raise Invalid(f"cannot be read: {error.strerror or error}", (FILE,)) from None
    finally:
        os.close(descriptor)
    if len(data) > status.st_size:
        raise Invalid("changed while being read", (FILE,))
    return data


def _open_regular_file(folder: int, name: str) -> tuple[int, os.stat_result]:
    """An open descriptor of `name` in `folder` and its status; `Invalid` when the name is not
    UTF-8, or the entry cannot be opened or is not a regular file.

    The listing already set aside what is not a regular file; this holds for an entry replaced
    since: `O_NOFOLLOW` refuses a link, `O_NONBLOCK` keeps a FIFO from hanging the load, and the
    open file's own type decides."""
    if not _is_utf8(os.fsencode(name)):
        raise Invalid("file name is not UTF-8", (FILE,))
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _not_read(SYMBOLIC_LINK) from None
        raise Invalid(f"cannot be read: {error.strerror or error}", (FILE,)) from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise _not_read(kind_of(status.st_mode))
    return descriptor, status


def _batch_lines(folder: int, name: str, label: str, max_line_bytes: int) -> Iterator[Source]:
    """The non-blank lines of the batch file `name` in the open folder `folder`, one `Source` each,
    read a line at a time; `label` is how a report names the file.

    A file that cannot be opened is one `Source` without a line. A file that breaks while being read
    (a truncated or corrupt `.gz`) ends with a `Source` at the line where it broke: the lines read
    before it stand.
    """
    file_name = os.path.basename(label)
    number = 0
    try:
        with _open_batch(folder, name) as handle:
            for number, data in enumerate(_bounded_lines(handle, max_line_bytes), start=1):
                if isinstance(data, Invalid) or not data.isspace():
                    yield Source(source_id(file_name, number), label, number, data)
    except Invalid as invalid:
        yield Source(source_id(file_name, None), label, None, invalid)
    except (OSError, EOFError, zlib.error) as error:
        broken = Invalid(f"cannot be read past line {number}: {error}", (FILE,))
        yield Source(source_id(file_name, number + 1), label, number + 1, broken)


@contextmanager
def _open_batch(folder: int, name: str) -> Iterator[io.BufferedIOBase]:
    """The file's bytes, decompressed if it is a `.gz`."""
    descriptor, _ = _open_regular_file(folder, name)
    with open(descriptor, "rb") as raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped
        else:
            yield raw


def _bounded_lines(handle: io.BufferedIOBase, limit: int) -> Iterator[bytes | Invalid]:
    """Each line of the handle; a line over `limit` bytes (its newline not counted) comes as
    `Invalid`, skipped a piece at a time, never held whole."""
    while line := handle.readline(limit + 1):
        if line.endswith(b"\n") or len(line) <= limit:
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n") and (line := handle.readline(_SKIP_CHUNK)):
            size += len(line)
        size -= line.endswith(b"\n")
        yield Invalid(f"line of {size} bytes, over the limit of {limit}", (LINE,))


def parse(data: bytes, whole: str = FILE) -> Any:
    """Strict JSON: orjson refuses NaN, ±Infinity, lone surrogates, invalid UTF-8 and more.

    `whole` is the field a refusal names: the file, or a batch file's line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        reason = f"not valid JSON: {error}" if _is_utf8(data) else "not UTF-8"
        raise Invalid(reason, (whole,)) from None


def natural_key(entity: Entity, body: Any) -> str | None:
    """The record's key as a report may show it: None when missing, blank, or holding a phone or an
    email (a report never shows one)."""
    key = body.get(entity.key) if isinstance(body, dict) else None
    if not isinstance(key, str) or not key.strip() or clear_text_kind(key.encode()):
        return None
    return key


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
