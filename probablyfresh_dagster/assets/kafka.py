"""`E_kafka_topic`: pending MongoDB documents, PII normalized and encrypted, keyed by natural key."""

import dagster as dg
import orjson

from probablyfresh_dagster.assets.catalog import stage_spec
from probablyfresh_dagster.checks.pipeline import KAFKA_PII_SAMPLE, kafka_checks, kafka_pii
from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.heap import collecting_new_objects_only
from probablyfresh_dagster.outbox import publish_pending
from probablyfresh_dagster.pii import protect
from probablyfresh_dagster.resources.documents import MongoResource
from probablyfresh_dagster.resources.events import KafkaResource
from probablyfresh_dagster.resources.fernet import FernetResource


class KafkaTopicConfig(dg.Config):
    pii_sample_size: int = KAFKA_PII_SAMPLE
    """Messages `no_clear_text_pii` reads back: a bounded cost however large the topic (see `sample`)."""


def build_kafka_topic(entity: Entity) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=entity.asset("kafka_topic"),
        specs=[
            stage_spec(
                entity,
                "kafka_topic",
                "kafka",
                f"Kafka topic `{entity.name}`: each new or changed document once, keyed by "
                f"`{entity.key}`, phone and email normalized and Fernet-encrypted.",
            )
        ],
        check_specs=kafka_checks(entity),
        can_subset=True,
    )
    def kafka_topic(
        context: dg.AssetExecutionContext,
        config: KafkaTopicConfig,
        mongo: MongoResource,
        kafka: KafkaResource,
        fernet: FernetResource,
    ):
        if context.selected_asset_keys:
            yield _publish(context, entity, mongo, kafka, fernet)
        if context.selected_asset_check_keys:
            with kafka.open() as log:
                yield kafka_pii(entity, log, config.pii_sample_size)

    return kafka_topic


def _publish(
    context: dg.AssetExecutionContext, entity: Entity, mongo: MongoResource, kafka: KafkaResource, fernet: FernetResource
) -> dg.MaterializeResult:
    cipher = fernet.cipher()  # before anything is published: a bad key stops here
    with mongo.open() as store, kafka.open() as log, collecting_new_objects_only():
        log.ensure_topic(entity.name)
        # orjson writes a NaN or ±Infinity as null: the landing refuses them, so only a document
        # another program wrote to MongoDB holds one, and the MART rejects the field.
        publication = publish_pending(
            entity, store, log, lambda document: orjson.dumps(protect(document.body, entity.pii, cipher))
        )
        end_offsets = log.end_offsets(entity.name)
        newest = log.tail(entity.name, 1)
    context.log.info(f"Published {publication.published} messages to {entity.name}")
    if publication.recovered:
        context.log.warning(
            f"{publication.recovered} messages of {entity.name} had been published by an interrupted "
            "run without being marked in MongoDB: marked now, not published again"
        )
    metadata = {
        "published": publication.published,
        "recovered": publication.recovered,
        # Offsets, not a message count: on Kafka they also number transaction markers.
        "end_offsets": dg.MetadataValue.json({str(p): o for p, o in end_offsets.items()}),
    }
    if newest:
        metadata["sample_message"] = dg.MetadataValue.json(orjson.loads(newest[-1].value))
    return dg.MaterializeResult(asset_key=entity.asset("kafka_topic"), metadata=metadata)
