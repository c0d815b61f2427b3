"""The landing zone: one folder of JSON files per entity under a root folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from probablyfresh_dagster.entities import Entity


class FilesResource(dg.ConfigurableResource):
    root: str

    def folder(self, entity: Entity) -> Path:
        return Path(self.root) / entity.name

    def rejects(self, entity: Entity) -> Path:
        """Where the records refused on the way into MongoDB are listed, one JSON line each."""
        return Path(self.root) / "_rejected" / f"{entity.name}.jsonl"
