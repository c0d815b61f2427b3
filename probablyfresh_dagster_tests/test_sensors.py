import os

import dagster as dg

from probablyfresh_dagster.generator import GeneratorConfig, generate
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP
from probablyfresh_dagster.resources.events import OutgoingMessage
from probablyfresh_dagster.sensors import json_files_sensor, kafka_lag_sensor


def _evaluate(sensor, platform, cursor=None, resource="files"):
    context = dg.build_sensor_context(
        cursor=cursor, resources={resource: platform.resource(resource)}, definitions=platform.defs
    )
    return sensor(context), context.cursor


def _selected(request: dg.RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection}


def test_file_sensor_requests_each_changed_entity_once(platform):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    first, cursor = _evaluate(json_files_sensor, platform)
    assert {r.tags["probablyfresh/entity"] for r in first} == {"stores", "products", "customers", "purchases"}
    purchases = next(r for r in first if r.tags["probablyfresh/entity"] == "purchases")
    assert _selected(purchases) == {
        "purchases_mongo_collection",
        "purchases_kafka_topic",
        "purchases_clickhouse_raw",
        "purchases_mart",
    }

    unchanged, cursor = _evaluate(json_files_sensor, platform, cursor)
    assert isinstance(unchanged, dg.SkipReason)

    path = platform.settings.data_dir / "purchases" / "ord-00003.json"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    changed, cursor = _evaluate(json_files_sensor, platform, cursor)
    assert [r.tags["probablyfresh/entity"] for r in changed] == ["purchases"]
    assert changed[0].run_key != purchases.run_key

    os.remove(path)
    removed, _ = _evaluate(json_files_sensor, platform, cursor)
    assert [r.tags["probablyfresh/entity"] for r in removed] == ["purchases"]


def test_file_sensor_sees_a_file_whose_name_is_not_utf8(platform):
    generate(GeneratorConfig(purchases=1), platform.settings.data_dir)
    _, cursor = _evaluate(json_files_sensor, platform)
    folder = os.fsencode(platform.settings.data_dir / "stores")
    with open(os.path.join(folder, b"caf\xe9.json"), "wb") as handle:
        handle.write(b"{}")
    changed, _ = _evaluate(json_files_sensor, platform, cursor)
    assert [r.tags["probablyfresh/entity"] for r in changed] == ["stores"]


def test_kafka_lag_sensor_requests_raw_and_mart_only_while_messages_wait(platform):
    nothing_published, _ = _evaluate(kafka_lag_sensor, platform, resource="kafka")
    assert isinstance(nothing_published, dg.SkipReason)

    with platform.resource("kafka").open() as log:
        log.ensure_topic("stores")
        log.ensure_topic("products")
        log.publish("products", [OutgoingMessage("prd-1", b"{}"), OutgoingMessage("prd-2", b"{}")])

    waiting, _ = _evaluate(kafka_lag_sensor, platform, resource="kafka")
    assert len(waiting) == 1
    assert _selected(waiting[0]) == {"products_clickhouse_raw", "products_mart"}
    assert waiting[0].run_key == "products-lag-0:2"

    with platform.resource("kafka").open() as log:
        log.commit("products", CLICKHOUSE_GROUP, {0: 2})
    caught_up, _ = _evaluate(kafka_lag_sensor, platform, resource="kafka")
    assert isinstance(caught_up, dg.SkipReason)


def test_file_sensor_notices_a_changed_batch_file(platform):
    generate(GeneratorConfig(purchases=5, format="jsonl"), platform.settings.data_dir)
    _, cursor = _evaluate(json_files_sensor, platform)
    path = platform.settings.data_dir / "purchases" / "purchases.jsonl"
    with path.open("ab") as handle:
        handle.write(path.read_bytes().splitlines(keepends=True)[0])
    changed, _ = _evaluate(json_files_sensor, platform, cursor)
    assert [r.tags["probablyfresh/entity"] for r in changed] == ["purchases"]
