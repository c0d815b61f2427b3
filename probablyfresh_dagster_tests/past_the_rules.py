"""Documents that bypassed the landing zone's rules, written straight into the document store, and
what loads them downstream to RAW and the MART."""

from __future__ import annotations

import copy
import json

from probablyfresh_dagster.documents import SourceDocument
from probablyfresh_dagster.entities import BY_NAME, CLICKHOUSE_STAGES, ENTITIES, Stage

from .platforms import Platform

DROP = object()
"""A change that removes the field."""


def changed(document: dict, changes: dict) -> dict:
    """A deep copy with each dotted path (list indexes as numbers) set, or dropped for DROP."""
    result = copy.deepcopy(document)
    for path, value in changes.items():
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        holder = result
        for part in parents:
            holder = holder[part]
        if value is DROP:
            del holder[last]
        else:
            holder[last] = value
    return result


def template(platform: Platform, entity: str) -> dict:
    """A generated document of the entity (for purchases, one with at least two lines)."""
    for path in sorted((platform.settings.data_dir / entity).glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if entity != "purchases" or len(document["items"]) >= 2:
            return document
    raise AssertionError(f"no usable {entity} document")


def land_past_the_rules(platform: Platform, documents: list[tuple[str, str, dict]]) -> None:
    """Write each document as a file and straight into the document store, as a landing zone
    without the MART's rules would have (the files keep files = MongoDB documents)."""
    with platform.resource("mongo").open() as store:
        for entity, name, changes in documents:
            body = changed(template(platform, entity), changes)
            key_field = BY_NAME[entity].key
            if key_field not in changes:
                body[key_field] = name
            (platform.settings.data_dir / entity / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")
            store.upsert(entity, [SourceDocument(name, body[key_field], body)])


def load_downstream(platform: Platform):
    """Kafka, RAW and MART of every entity (the landing step is not re-run)."""
    stages = (Stage.KAFKA_TOPIC, *CLICKHOUSE_STAGES)
    return platform.run(" ".join(entity.asset_name(stage) for entity in ENTITIES for stage in stages))
