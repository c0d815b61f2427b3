"""`E_kafka_topic`: pending MongoDB documents, PII normalized and encrypted, keyed by natural key."""

from dataclasses import dataclass
from typing import Any

import dagster as dg
import orjson
from cryptography.fernet import Fernet

from probablyfresh_dagster.assets.catalog import stage_spec
from probablyfresh_dagster.assets.sharding import covers_all, shard_partitions, shards_of
from probablyfresh_dagster.checks.pii import KAFKA_PII_SAMPLE, kafka_checks, kafka_pii
from probablyfresh_dagster.documents import PendingDocument
from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.example_tables import examples_table
from probablyfresh_dagster.heap import collecting_new_objects_only
from probablyfresh_dagster.outbox import Publication, publish_pending
from probablyfresh_dagster.pii import NO_FIELDS, PiiFields, protect
from probablyfresh_dagster.pii_scan import undeclared_clear_text
from probablyfresh_dagster.progress import Progress
from probablyfresh_dagster.resources.documents import DocumentStoreResource
from probablyfresh_dagster.resources.events import EventLogResource
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.resources.fernet import FernetResource
from probablyfresh_dagster.verdicts import with_verdicts

WITHHELD = "outside the declared personal fields: not published (fix its file, or declare the field in pii_fields)"


class KafkaTopicConfig(dg.Config):
    pii_sample_size: int = KAFKA_PII_SAMPLE
    """Messages `no_clear_text_pii` reads back: a bounded cost however large the topic (see `sample`)."""


def build_kafka_topic(entity: Entity, shards: int) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset_name(Stage.KAFKA_TOPIC),
        specs=[
            stage_spec(
                entity,
                Stage.KAFKA_TOPIC,
                "kafka",
                f"Kafka topic `{entity.name}`: each new or changed document once, keyed by "
                f"`{entity.key}`, phone and email normalized and Fernet-encrypted.",
            )
        ],
        check_specs=kafka_checks(entity),
        can_subset=True,
        partitions_def=shard_partitions(shards),
    )
    def kafka_topic(
        context: dg.AssetExecutionContext,
        config: KafkaTopicConfig,
        mongo: DocumentStoreResource,
        kafka: EventLogResource,
        fernet: FernetResource,
        expectations: Expectations,
    ):
        if context.selected_asset_keys:
            cipher = fernet.cipher()  # before anything is published: a bad key stops here
            yield _publish(context, entity, mongo, kafka, Protector(expectations.personal_fields(entity), cipher))
        if context.selected_asset_check_keys:
            with kafka.open() as log:
                yield from with_verdicts(context, [kafka_pii(entity, log, config.pii_sample_size)])

    return kafka_topic


@dataclass
class Protector:
    """A document's message: its declared personal values normalized and encrypted, refused
    (`Invalid`) when a phone or email would still be in clear (a document an older version loaded,
    or another program wrote to MongoDB)."""

    personal: PiiFields
    cipher: Fernet
    kept_as_written: int = 0
    """Personal values that are neither a phone nor an email, encrypted as written (see `pii`)."""

    def __call__(self, document: PendingDocument) -> bytes:
        self.kept_as_written += protect(document.body, self.personal, self.cipher)
        # orjson writes a NaN or ±Infinity as null: the landing refuses them, so only a document
        # another program wrote to MongoDB holds one, and the MART rejects the field.
        value = orjson.dumps(document.body)
        if found := undeclared_clear_text(value, document.body, NO_FIELDS):
            raise found.invalid(WITHHELD)
        return value


def _publish(
    context: dg.AssetExecutionContext, entity: Entity, mongo: DocumentStoreResource, kafka: EventLogResource, protector: Protector
) -> dg.MaterializeResult:
    with mongo.open() as store, kafka.open() as log, collecting_new_objects_only():
        log.ensure_topic(entity.name)
        shards = shards_of(context)
        pending = store.pending_count(entity.name) if covers_all(shards) else None
        progress = Progress(context.log, entity.asset_name(Stage.KAFKA_TOPIC), pending)
        publication = sum(
            (publish_pending(entity, store, log, protector, on_batch=progress.advance, shard=shard) for shard in shards),
            Publication(0, 0),
        )
        end_offsets = log.end_offsets(entity.name)
        newest = log.tail(entity.name, 1)
    context.log.info(f"Published {publication.published} messages to {entity.name}")
    if publication.recovered:
        context.log.warning(
            f"{publication.recovered} messages of {entity.name} had been published by an interrupted "
            "run without being marked in MongoDB: marked now, not published again"
        )
    for source, refused in publication.first_withheld:
        context.log.warning(f"Withheld {source} of {entity.name}: {refused.field}: {refused.reason}")
    metadata: dict[str, Any] = {
        "published": publication.published,
        "recovered": publication.recovered,
        "withheld": publication.withheld,
        "personal_values_kept_as_written": protector.kept_as_written,
        # Offsets, not a message count: on Kafka they also number transaction markers.
        "end_offsets": dg.MetadataValue.json({str(p): o for p, o in end_offsets.items()}),
    }
    if newest:
        metadata["sample_message"] = dg.MetadataValue.json(orjson.loads(newest[-1].value))
    if publication.first_withheld:
        rows = [(source, refused.field, refused.reason) for source, refused in publication.first_withheld]
        metadata["first_withheld"] = examples_table(("source", "field", "reason"), rows)
    return dg.MaterializeResult(asset_key=entity.asset_key(Stage.KAFKA_TOPIC), metadata=metadata)
