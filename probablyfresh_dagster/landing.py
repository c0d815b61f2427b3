"""Reads the landing zone's JSON files into source documents, setting bad records aside.

A bad file never stops the load: it is listed with its file, field and reason in the entity's
rejects file (rewritten on every load, so it shows the folder as it is now) and in the asset's
metadata, and the file itself stays where it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.pii import present_fields
from probablyfresh_dagster.resources.documents import SourceDocument


@dataclass(frozen=True)
class Rejection:
    file: str
    field: str
    error: str


class RejectLog:
    """Streams rejections to a JSON-lines file, keeping only the first few in memory."""

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


def json_files(folder: Path) -> Iterator[Path]:
    """The folder's `*.json` files, streamed in directory order (a missing folder has none)."""
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".json") and entry.is_file():
                yield Path(entry.path)


def read_documents(entity: Entity, folder: Path, rejects: RejectLog) -> Iterator[SourceDocument]:
    for path in json_files(folder):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            yield SourceDocument(path.stem, _validated_key(entity, body), body)
        except _Invalid as invalid:
            rejects.add(Rejection(str(path), invalid.field, invalid.reason))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            rejects.add(Rejection(str(path), "(file)", f"not UTF-8 JSON: {error}"))


class _Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _validated_key(entity: Entity, body: Any) -> str:
    if not isinstance(body, dict):
        raise _Invalid("(document)", f"expected a JSON object, got {type(body).__name__}")
    key = body.get(entity.key)
    if not isinstance(key, str) or not key.strip():
        raise _Invalid(entity.key, "missing or not a non-empty string")
    for path, _, value in present_fields(body, entity.pii):
        if not isinstance(value, str):
            raise _Invalid(".".join(path), f"must be a string, got {type(value).__name__}")
    return key
