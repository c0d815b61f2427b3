"""`E_kafka_topic`: pending MongoDB documents, PII normalized and encrypted, keyed by natural key."""

import json

import dagster as dg

from probablyfresh_dagster.entities import Entity
from probablyfresh_dagster.pii import protect
from probablyfresh_dagster.resources.documents import MongoResource
from probablyfresh_dagster.resources.events import KafkaResource
from probablyfresh_dagster.resources.fernet import FernetResource


def build_kafka_topic(entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        name=entity.asset("kafka_topic"),
        deps=[entity.asset("mongo_collection")],
        group_name=entity.name,
        kinds={"kafka"},
        description=(
            f"Kafka topic `{entity.name}`: each new or changed document once, keyed by "
            f"`{entity.key}`, phone and email normalized and Fernet-encrypted."
        ),
    )
    def kafka_topic(
        context: dg.AssetExecutionContext,
        mongo: MongoResource,
        kafka: KafkaResource,
        fernet: FernetResource,
    ) -> dg.MaterializeResult:
        cipher = fernet.cipher()  # before anything is published: a bad key stops here
        published, sample = 0, None
        with mongo.open() as store, kafka.open() as log:
            log.ensure_topic(entity.name)
            for batch in store.pending(entity.name):
                messages = [
                    (document.body[entity.key], _encode(protect(document.body, entity.pii, cipher)))
                    for document in batch
                ]
                published += log.publish(entity.name, messages)
                store.mark_published(entity.name, batch)
                sample = sample or messages[0][1].decode()
            end_offsets = log.end_offsets(entity.name)
        context.log.info(f"Published {published} messages to {entity.name}")
        metadata = {
            "published": published,
            "dagster/row_count": sum(end_offsets.values()),
            "end_offsets": dg.MetadataValue.json({str(p): o for p, o in end_offsets.items()}),
        }
        if sample:
            metadata["sample_message"] = dg.MetadataValue.json(json.loads(sample))
        return dg.MaterializeResult(metadata=metadata)

    return kafka_topic


def _encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
