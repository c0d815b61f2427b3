"""The checks judged in an entity's MART step: what each is, and what the step gives it to judge."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.mart_load import KeyFate
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.resources.files import FilesResource
from probablyfresh_dagster.shards import Shard


@dataclass(frozen=True)
class MartStep:
    """The step's ClickHouse client, open for the whole step, and the resources a check opens itself."""

    entity: Entity
    client: Client
    expectations: Expectations
    files: FilesResource
    mongo: DocumentStoreResource
    kafka: EventLogResource
    fates: Callable[[], dict[str, KeyFate]]
    """`mart_load.key_fates` of the entity: it scans all of RAW, so the step reads it once, after the load."""
    shards: int
    """The shards the landing zone is loaded in: each lists its own rejects."""

    @property
    def rejects_files(self) -> list[Path]:
        """The lists of the records the latest load of each shard set aside."""
        return [self.files.rejects(self.entity, shard) for shard in Shard.all(self.shards)]


@dataclass(frozen=True)
class MartCheck:
    name: str
    description: str
    judge: Callable[[MartStep], dg.AssetCheckResult]

    def spec(self, entity: Entity) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=entity.asset_key(Stage.MART), description=self.description)
