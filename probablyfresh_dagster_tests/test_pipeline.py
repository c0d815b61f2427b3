"""The whole asset graph on the embedded backends, end to end, with its checks."""

import json
import shutil
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.pii import normalize_email, normalize_phone
from probablyfresh_dagster.raw_load import CLICKHOUSE_GROUP

from .foreign_entries import GENERATED_NAMES, plant_foreign_entries, snapshot
from .platforms import LOAD_PURCHASES, check_results, materialization, rows, triple_purchase_files
from .whole_graph import assert_whole_graph_passed


def mart_snapshot(platform) -> dict[str, list[tuple]]:
    tables = [table for entity in ENTITIES for table in entity.marts] + ["purchase_items_current"]
    return {table: rows(platform, f"SELECT * FROM {table} ORDER BY ALL") for table in tables}


def test_whole_graph_passes_every_check_with_the_expected_contents(loaded_run):
    platform, result = loaded_run
    assert_whole_graph_passed(platform, result)
    kafka_pii = check_results(result)["purchases_kafka_topic:no_clear_text_pii"].metadata
    assert (kafka_pii["messages_sampled"].value, kafka_pii["topic_offsets"].value) == (200, 200)


@pytest.mark.slow
def test_whole_graph_at_20k_purchases_in_jsonl_passes_the_same_assertions(platform):
    """Correctness at scale: one batch file per entity, the same assertions as at 200 in files."""
    result = platform.run(purchases=20_000, format="jsonl")
    assert materialization(result, "purchases_mongo_collection")["inserted"] == 20_000
    assert_whole_graph_passed(platform, result, purchases=20_000)


def test_raw_keeps_the_published_json_with_pii_encrypted_only(loaded_run):
    platform, _ = loaded_run
    cipher = Fernet(Path(platform.settings.state_dir / "fernet.key").read_bytes())
    data = platform.settings.data_dir
    payloads = rows(platform, "SELECT topic, partition, offset, key, payload FROM customers_raw ORDER BY offset")
    assert len(payloads) == 45
    for topic, partition, _offset, key, payload in payloads:
        published = json.loads(payload)
        source = json.loads((data / "customers" / f"{key}.json").read_text(encoding="utf-8"))
        assert (topic, partition, published["customer_id"]) == ("customers", 0, key)
        assert cipher.decrypt(published.pop("phone").encode()).decode() == normalize_phone(source.pop("phone"))
        assert cipher.decrypt(published.pop("email").encode()).decode() == normalize_email(source.pop("email"))
        assert published == source
        assert list(json.loads(payload)) == list(json.loads((data / "customers" / f"{key}.json").read_text()))


def test_every_asset_rerun_twice_leaves_the_marts_identical(loaded_copy):
    before = mart_snapshot(loaded_copy)
    for _ in range(2):
        result = loaded_copy.run()
        assert result.success
        assert all(check.passed for check in check_results(result).values())
        assert materialization(result, "purchases_kafka_topic")["published"] == 0
    assert mart_snapshot(loaded_copy) == before
    assert rows(loaded_copy, "SELECT entity, count(), max(duplicate_percentage) FROM duplicates_log GROUP BY 1 ORDER BY 1") == [
        (entity.name, 3, 0.0) for entity in sorted(ENTITIES, key=lambda e: e.name)
    ]


def test_redelivery_after_a_crash_before_commit_adds_no_raw_row(loaded_copy):
    with loaded_copy.resource("kafka").open() as log:
        log.commit("purchases", CLICKHOUSE_GROUP, {0: 0})  # as if no batch had ever been committed
    result = loaded_copy.run("purchases_clickhouse_raw")
    figures = materialization(result, "purchases_clickhouse_raw")
    assert (figures["inserted"], figures["dagster/row_count"], figures["consumer_lag"]) == (0, 200, 0)
    assert rows(loaded_copy, "SELECT count() FROM purchases_raw")[0][0] == 200


def test_duplicated_purchase_files_above_half_fail_the_duplicate_check(loaded_copy):
    triple_purchase_files(loaded_copy)
    result = loaded_copy.run(LOAD_PURCHASES)
    checks = check_results(result)
    share = checks["purchases_mart:duplicate_share"]
    assert not share.passed
    assert share.severity.value == "ERROR"
    assert share.metadata["duplicate_percentage"].value == 66.67
    assert checks["purchases_mart:counts_reconcile"].passed
    assert rows(loaded_copy, "SELECT count() FROM purchases_mart FINAL")[0][0] == 200


def test_a_changed_file_is_republished_and_the_mart_keeps_the_latest_version(loaded_copy):
    path = loaded_copy.settings.data_dir / "purchases" / "ord-00007.json"
    purchase = json.loads(path.read_text(encoding="utf-8"))
    purchase["payment_method"] = "CASH" if purchase["payment_method"] != "cash" else "CARD"
    path.write_text(json.dumps(purchase, ensure_ascii=False), encoding="utf-8")
    result = loaded_copy.run(LOAD_PURCHASES)
    assert materialization(result, "purchases_kafka_topic")["published"] == 1
    assert materialization(result, "purchases_mart")["duplicate_percentage"] == round(100 / 201, 2)
    assert rows(loaded_copy, "SELECT payment_method FROM purchases_mart FINAL WHERE purchase_id = 'ord-00007'") == [
        (purchase["payment_method"].lower(),)
    ]
    assert all(check.passed for check in check_results(result).values())


def test_bad_files_are_set_aside_with_file_and_field_while_good_ones_flow(loaded_copy):
    folder = loaded_copy.settings.data_dir / "customers"
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "nokey.json").write_text(json.dumps({"first_name": "x"}), encoding="utf-8")
    good = json.loads((folder / "cus-1000.json").read_text(encoding="utf-8"))
    (folder / "badphone.json").write_text(json.dumps({**good, "customer_id": "cus-9999", "phone": 79123456789}))
    result = loaded_copy.run("customers_mongo_collection customers_kafka_topic customers_clickhouse_raw customers_mart")
    assert result.success
    assert materialization(result, "customers_mongo_collection")["rejected"] == 3
    rejects = [json.loads(line) for line in (loaded_copy.settings.data_dir / "_rejected" / "customers.jsonl").open()]
    assert {(Path(r["file"]).name, r["field"]) for r in rejects} == {
        ("broken.json", "(file)"),
        ("nokey.json", "customer_id"),
        ("badphone.json", "phone"),
    }
    checks = check_results(result)
    assert checks["customers_mart:counts_reconcile"].passed
    assert checks["customers_mart:counts_reconcile"].metadata["rejected_files"].value == 3
    assert rows(loaded_copy, "SELECT count() FROM customers_mart FINAL")[0][0] == 45


def test_what_the_generator_did_not_write_survives_a_pipeline_run(platform, tmp_path):
    planted = plant_foreign_entries(platform.settings.data_dir, tmp_path / "outside")
    before = snapshot(planted)
    result = platform.run()
    assert result.success
    assert snapshot(planted) == before
    for folder, (user_file, *_) in GENERATED_NAMES.items():
        generated = materialization(result, f"{folder}_json_files")
        assert generated["names_left_alone"] == 5
        assert generated["first_names_left_alone"].startswith(f"{user_file} (a file the generator did not write")


def test_a_removed_file_keeps_its_documents_and_counts_reconcile_counts_them_apart(loaded_copy):
    folder = loaded_copy.settings.data_dir / "purchases"
    for name in ("ord-00007.json", "ord-00008.json"):
        (folder / name).unlink()  # the user cleans up the inbox
    result = loaded_copy.run(LOAD_PURCHASES)
    reconcile = check_results(result)["purchases_mart:counts_reconcile"]
    assert reconcile.passed, reconcile.description
    assert reconcile.metadata["documents_without_record"].value == 2
    assert reconcile.description.startswith("valid files 198 = MongoDB documents 200 − 2 whose file or line is gone")
    assert rows(loaded_copy, "SELECT count() FROM purchases_mart FINAL")[0][0] == 200

    for name in ("new-1.json", "new-2.json"):  # as many new records as gone ones, not loaded yet
        shutil.copy(folder / "ord-00001.json", folder / name)
    reconcile = check_results(loaded_copy.check())["purchases_mart:counts_reconcile"]
    assert not reconcile.passed
    assert reconcile.description.startswith("valid files 200 ≠ MongoDB documents 200 − 2 whose file or line is gone")
    assert "not loaded yet" in reconcile.description


def test_lines_gone_from_a_shorter_batch_file_are_counted_apart(platform):
    assert platform.run(format="jsonl").success
    path = platform.settings.data_dir / "purchases" / "purchases.jsonl"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:190]))
    reconcile = check_results(platform.run(LOAD_PURCHASES))["purchases_mart:counts_reconcile"]
    assert reconcile.passed, reconcile.description
    assert reconcile.metadata["documents_without_record"].value == 10
