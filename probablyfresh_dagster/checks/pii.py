"""The checks that no phone or email leaves MongoDB in clear (the rule is `pii_scan`'s).

- On `E_kafka_topic`: a sample of the topic, read back. Not blocking: RAW guards itself, since the
  loader sets aside any message holding clear text, so a leak in the log never stops the entity.
- On `E_clickhouse_raw`, blocking: RAW's rows, scanned by ClickHouse. A RAW row holding clear
  text (loaded by an older version) fails it with severity ERROR, which keeps the MART from copying
  it. Set-aside messages still in the log fail it with severity WARN, which names their
  coordinates and the command removing them (`make purge-pii`) and lets the MART load the rest.
"""

from __future__ import annotations

import dagster as dg
from clickhouse_connect.driver.client import Client

from probablyfresh_dagster.entities import Entity, Stage
from probablyfresh_dagster.events import EventLog, sample
from probablyfresh_dagster.examples import EXAMPLES_SHOWN
from probablyfresh_dagster.pii_scan import SQL_EMAIL, SQL_PHONE, clear_text_in_message
from probablyfresh_dagster.sql import one_row, run_script

NO_CLEAR_TEXT_PII = "no_clear_text_pii"
KAFKA_PII_SAMPLE = 500


def purge_command(entity: Entity) -> str:
    return f"make purge-pii ENTITY={entity.name}"


def kafka_checks(entity: Entity) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            NO_CLEAR_TEXT_PII,
            asset=entity.asset_key(Stage.KAFKA_TOPIC),
            description=(
                f"A sample of the topic's messages (by default {KAFKA_PII_SAMPLE}, spread evenly over every "
                "partition from its first offset to its last) holds no clear-text email or phone. Not "
                "blocking: RAW sets such a message aside and loads the rest."
            ),
        )
    ]


def raw_checks(entity: Entity) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            NO_CLEAR_TEXT_PII,
            asset=entity.asset_key(Stage.CLICKHOUSE_RAW),
            blocking=True,
            description=(
                "No RAW payload holds a clear-text email or phone (a failure with severity ERROR keeps "
                "the MART from copying it), and no message set aside for holding one is still in the topic "
                f"(severity WARN: the MART loads the rest; `{purge_command(entity)}` removes them)."
            ),
        )
    ]


def kafka_pii(entity: Entity, log: EventLog, sample_size: int) -> dg.AssetCheckResult:
    sampled = sample(log, entity.name, sample_size)
    leaks = [(m, found) for m in sampled.messages if (found := clear_text_in_message(m.value))]
    described = f"{len(leaks)} of {len(sampled.messages)} sampled messages hold a clear-text email or phone"
    if leaks:
        message, found = leaks[0]
        described += (
            f" (first at partition:offset {message.partition}:{message.offset}, {found.field}); "
            f"RAW sets them aside; `{purge_command(entity)}` removes them from the log"
        )
    return dg.AssetCheckResult(
        asset_key=entity.asset_key(Stage.KAFKA_TOPIC),
        check_name=NO_CLEAR_TEXT_PII,
        passed=not leaks,
        description=described,
        metadata={
            "messages_sampled": len(sampled.messages),
            "topic_offsets": sampled.positions,
            "messages_with_clear_text_pii": len(leaks),
            "first_offsets": ", ".join(f"{m.partition}:{m.offset}" for m, _ in leaks[:EXAMPLES_SHOWN]),
        },
    )


def raw_pii(entity: Entity, client: Client, log: EventLog) -> dg.AssetCheckResult:
    run_script(client, "raw_set_aside")  # a state from before the set-aside table has none yet
    leaks, scanned = one_row(client, "queries/pii_leaks", table=entity.raw_table, email=SQL_EMAIL, phone=SQL_PHONE)
    starts = log.beginning_offsets(entity.name)
    in_log, first = one_row(
        client,
        "queries/set_aside_in_log",
        entity=entity.name,
        partitions=list(starts),
        starts=list(starts.values()),
        limit=EXAMPLES_SHOWN,
    )
    named = "; ".join(f"{partition}:{offset} {field}: {reason}" for partition, offset, field, reason in first)
    described = f"{leaks} of {scanned} RAW rows hold a clear-text email or phone"
    described += f"; {in_log} messages set aside for holding one are still in topic {entity.name}"
    if in_log:
        described += f" ({named}): `{purge_command(entity)}` removes them"
    return dg.AssetCheckResult(
        asset_key=entity.asset_key(Stage.CLICKHOUSE_RAW),
        check_name=NO_CLEAR_TEXT_PII,
        passed=leaks == 0 and in_log == 0,
        severity=dg.AssetCheckSeverity.ERROR if leaks else dg.AssetCheckSeverity.WARN,
        description=described,
        metadata={
            "rows_scanned": scanned,
            "rows_with_clear_text_pii": leaks,
            "set_aside_still_in_log": in_log,
            "first_set_aside": named,
        },
    )
