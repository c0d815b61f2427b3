"""How records become landing files: a file per record (`json`), or one batch file per entity,
a record a line, streamed (`jsonl`, `jsonl.gz`). See `landing` for how each is read."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from contextlib import nullcontext
from typing import IO

import orjson

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.generator.calendar import Record
from probablyfresh_dagster.generator.own_files import Content, GeneratedFiles, Written
from probablyfresh_dagster.landing_folder import ONE_RECORD_SUFFIX

GZIP_LEVEL = 1
"""Fast over small: level 6 would make compression the generator's bottleneck."""


def write_records(files: GeneratedFiles, entity: Entity, records: Iterable[Record], file_format: str) -> Written:
    """Write the records in the format: a file per record (`json`), or one batch file streamed."""
    if file_format == "json":
        named = ((f"{record[entity.key]}{ONE_RECORD_SUFFIX}", _one_record(record)) for record in records)
        return files.write(entity.name, named)
    lines = ((1, orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)) for record in records)
    return write_lines(files, entity, lines, file_format)


def write_lines(files: GeneratedFiles, entity: Entity, blocks: Iterable[tuple[int, bytes]], file_format: str) -> Written:
    """Write one batch file of records already rendered as JSON lines, given a block at a time as
    (records, their lines)."""
    return files.write(entity.name, [(f"{entity.name}.{file_format}", _batch(blocks, file_format))])


def _one_record(record: Record) -> Content:
    def write(handle: IO[bytes]) -> int:
        handle.write((json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode())
        return 1

    return write


def _batch(blocks: Iterable[tuple[int, bytes]], file_format: str) -> Content:
    def write(raw: IO[bytes]) -> int:
        written = 0
        with _compressed(raw, file_format) as handle:
            for records, lines in blocks:
                handle.write(lines)
                written += records
        return written

    return write


def _compressed(raw: IO[bytes], file_format: str) -> gzip.GzipFile | nullcontext[IO[bytes]]:
    """`raw` itself, or a gzip stream onto it dated 0, so that a seed still yields identical bytes."""
    if file_format.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
    return nullcontext(raw)
