"""`catch_up_sensor` on a real instance and the embedded backends: what is behind is requested,
exactly those stages, from the state alone."""

import os

import dagster as dg
import pytest
from filelock import FileLock

from probablyfresh_dagster.documents import SourceDocument
from probablyfresh_dagster.entities import ENTITIES, Stage
from probablyfresh_dagster.events import OutgoingMessage
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import checks_job
from probablyfresh_dagster.resources.documents import MongoDocumentStoreResource
from probablyfresh_dagster.sensors import UNFINISHED_STATUSES

from .platforms import Platform, local_platform, make_platform, materialization, rows
from .sensor_ticks import (
    LOAD_ALL_MONGO,
    add_purchase,
    chdb_lock,
    entities,
    requested,
    run_record,
    run_request,
    selected,
    tick,
)
from .support import free_port

PUBLISH_PURCHASES = "purchases_mongo_collection purchases_kafka_topic"
STAGES_AFTER = {
    "purchases_mongo_collection": {"purchases_kafka_topic", "purchases_clickhouse_raw", "purchases_mart"},
    PUBLISH_PURCHASES: {"purchases_clickhouse_raw", "purchases_mart"},
    f"{PUBLISH_PURCHASES} purchases_clickhouse_raw": {"purchases_mart"},
}
"""A run of purchases stopped after these stages: what is behind."""
MART_PURCHASES = "SELECT count(), uniqExact(purchase_id) FROM purchases_mart FINAL"


@pytest.fixture(scope="module")
def caught_up_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    with local_platform(tmp_path_factory.mktemp("caught_up")) as platform:
        assert platform.run(purchases=20).success
    return platform


@pytest.fixture
def caught_up(caught_up_platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """A loaded platform, up to date: each test using it leaves it so."""
    monkeypatch.delenv("FERNET_KEY", raising=False)
    assert tick(caught_up_platform).skip_message.startswith("Up to date")
    return caught_up_platform


def test_one_changed_file_loads_the_whole_entity(caught_up):
    platform = caught_up
    path = platform.settings.data_dir / "purchases" / "ord-00003.json"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (request,) = requested(tick(platform))
    assert request.job_name == "load_purchases"
    assert request.run_key is None
    assert request.tags["probablyfresh/entity"] == "purchases"
    assert selected(request) == {f"purchases_{stage}" for stage in Stage if stage != Stage.JSON_FILES}

    assert run_request(platform, request).success
    assert tick(platform).skip_message.startswith("Up to date")


@pytest.mark.parametrize("done", list(STAGES_AFTER), ids=["after-mongo", "after-kafka", "after-raw"])
def test_a_load_stopped_after_a_stage_requests_exactly_the_stages_behind_and_lands_once(caught_up, done):
    platform = caught_up
    (before,) = rows(platform, MART_PURCHASES)
    add_purchase(platform, f"ord-9999{list(STAGES_AFTER).index(done)}")
    assert platform.run(done).success  # a run of purchases that stopped there

    first = tick(platform)
    (request,) = requested(first)
    assert selected(request) == STAGES_AFTER[done]
    assert "Up to date" not in str(first)
    assert run_request(platform, request).success
    assert tick(platform).skip_message.startswith("Up to date")
    assert rows(platform, MART_PURCHASES) == [(before[0] + 1, before[1] + 1)]


def test_a_document_withheld_from_kafka_does_not_keep_its_entity_behind(caught_up):
    platform = caught_up
    with platform.resource("mongo").open() as store:  # another program wrote it to MongoDB
        body = {"id": "prd-elsewhere", "name": "Tea", "note": "write to a.buyer@example.com"}
        store.upsert("products", [SourceDocument("elsewhere.json", "prd-elsewhere", body)])
    (request,) = requested(tick(platform))
    assert selected(request) == {"products_kafka_topic", "products_clickhouse_raw", "products_mart"}
    result = run_request(platform, request)
    assert result.success
    assert materialization(result, "products_kafka_topic")["withheld"] == 1
    assert tick(platform).skip_message.startswith("Up to date")


def test_never_loaded_folders_are_requested_and_empty_ones_are_not(platform):
    assert tick(platform).skip_message.startswith("Up to date")
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert sorted(entities(tick(platform))) == sorted(e.name for e in ENTITIES)


def test_a_removed_file_a_non_utf8_name_and_a_changed_batch_file_are_noticed(platform):
    generate(GeneratorConfig(purchases=5, format="jsonl"), platform.settings.data_dir)
    assert platform.run(LOAD_ALL_MONGO).success
    path = platform.settings.data_dir / "purchases" / "purchases.jsonl"
    with path.open("ab") as handle:
        handle.write(path.read_bytes().splitlines(keepends=True)[0])
    with open(os.path.join(os.fsencode(platform.settings.data_dir / "stores"), b"caf\xe9.json"), "wb") as handle:
        handle.write(b"{}")
    os.remove(platform.settings.data_dir / "products" / "products.jsonl")
    reloads = [
        r.tags["probablyfresh/entity"] for r in requested(tick(platform)) if r.tags["probablyfresh/behind"] == "mongo_collection"
    ]
    assert sorted(reloads) == ["products", "purchases", "stores"]  # customers: only its outbox waits


def test_kafka_messages_not_in_raw_request_raw_and_mart(platform):
    with platform.resource("kafka").open() as log:
        log.ensure_topic("products")
        log.publish("products", [OutgoingMessage("prd-1", b"{}"), OutgoingMessage("prd-2", b"{}")])
    (request,) = requested(tick(platform))
    assert selected(request) == {"products_clickhouse_raw", "products_mart"}
    assert request.tags["probablyfresh/behind"] == "clickhouse_raw"


@pytest.mark.parametrize("status", UNFINISHED_STATUSES, ids=lambda s: s.value)
def test_an_unfinished_run_that_loads_the_stage_holds_its_entity_back(platform, status):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert platform.run(f"{LOAD_ALL_MONGO} {PUBLISH_PURCHASES}").success  # stores, products, customers: outbox
    run_record(platform, status, "stores_mongo_collection stores_kafka_topic")  # holds the outbox of stores back
    assert sorted(entities(tick(platform))) == ["customers", "products", "purchases"]

    loading = run_record(platform, status, "purchases_clickhouse_raw purchases_mart")
    skipped = tick(platform)
    assert sorted(entities(skipped)) == ["customers", "products"]

    platform.instance.report_run_failed(loading)
    assert sorted(entities(tick(platform))) == ["customers", "products", "purchases"]


def test_a_whole_job_run_holds_every_entity_back_and_a_checks_run_none(platform):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    run_record(platform, dg.DagsterRunStatus.STARTED, None, job=checks_job.name)
    assert len(requested(tick(platform))) == len(ENTITIES)
    load_stores = run_record(platform, dg.DagsterRunStatus.STARTED, None, job="load_stores")
    assert "stores" not in entities(tick(platform))
    platform.instance.report_run_canceled(load_stores)
    whole = run_record(platform, dg.DagsterRunStatus.STARTED, None)
    assert tick(platform).skip_message.count(f"run {whole.run_id} will load it") == len(ENTITIES)


def test_a_failed_run_that_dagster_will_retry_holds_its_entity_back_until_its_retry_exists(platform):
    generate(GeneratorConfig(purchases=20), platform.settings.data_dir)
    assert platform.run(LOAD_ALL_MONGO).success
    lost = run_record(platform, dg.DagsterRunStatus.FAILURE, None, job="load_purchases", tags={"dagster/will_retry": "true"})
    assert "purchases" not in entities(tick(platform))
    platform.instance.add_run_tags(lost.run_id, {"dagster/auto_retry_run_id": "retried"})
    assert "purchases" in entities(tick(platform))


def test_requests_that_keep_failing_are_spaced_out_and_a_success_resets_them(caught_up):
    platform = caught_up
    add_purchase(platform, "ord-99989")
    assert platform.run(PUBLISH_PURCHASES).success  # purchases: a message not in RAW
    cursor = None

    def after_a_failed_run() -> str:
        nonlocal cursor
        run_record(platform, dg.DagsterRunStatus.FAILURE, "purchases_mart", tags={"probablyfresh/entity": "purchases"})
        result = tick(platform, cursor)
        cursor = result.cursor
        return str(result)

    assert after_a_failed_run() == "requested purchases"  # the first failure: again on the next tick
    assert "2 runs failed in a row, requesting clickhouse_raw, mart again in 30 s" in after_a_failed_run()
    assert "3 runs failed in a row, requesting clickhouse_raw, mart again in 60 s" in after_a_failed_run()
    assert "again in" in str(tick(platform, cursor))  # no new failure: still waiting
    run_record(platform, dg.DagsterRunStatus.SUCCESS, "purchases_mart", tags={"probablyfresh/entity": "purchases"})
    (request,) = requested(tick(platform, cursor))
    assert run_request(platform, request).success


def test_a_busy_clickhouse_is_said_busy_never_up_to_date(caught_up):
    platform = caught_up
    with FileLock(chdb_lock(platform)):
        skipped = tick(platform)
    assert "ClickHouse busy" in skipped.skip_message
    assert "Up to date" not in skipped.skip_message
    assert tick(platform).skip_message.startswith("Up to date")


def test_a_server_away_is_said_so_never_up_to_date(tmp_path, monkeypatch):
    monkeypatch.delenv("FERNET_KEY", raising=False)
    port = free_port()
    platform = make_platform(tmp_path, mongo=MongoDocumentStoreResource(url=f"mongodb://127.0.0.1:{port}"))
    assert tick(platform).skip_message == (
        f"State not read (ConnectionError): MongoDB at mongodb://127.0.0.1:{port} is not reachable. The next tick reads it again."
    )
