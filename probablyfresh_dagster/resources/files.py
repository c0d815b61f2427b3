"""The landing zone: one folder per entity under a root folder, of one-record JSON files and
JSON-lines batch files (see `landing`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.settings import resolved
from probablyfresh_dagster.shards import WHOLE, Shard

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
"""Generated records are about 3 KB; a megabyte is far beyond any real record."""


class FilesResource(dg.ConfigurableResource):
    root: str
    """The landing zone's folder; `{project}/…` is under the project folder (`settings.resolved`)."""
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        gt=0,
        description=(
            "A larger one-record file is set aside unread, and so is a longer line of a batch file,"
            " which has no limit as a whole (env PROBABLYFRESH_MAX_FILE_BYTES)."
        ),
    )

    @property
    def root_folder(self) -> Path:
        return Path(resolved(self.root))

    def folder(self, entity: Entity) -> Path:
        return self.root_folder / entity.name

    def rejects(self, entity: Entity, shard: Shard = WHOLE) -> Path:
        """Where the records of `shard` refused on the way into MongoDB are listed, one JSON line each."""
        return self.root_folder / "_rejected" / f"{entity.name}{shard.suffix}.jsonl"
