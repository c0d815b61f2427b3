"""Which fields are personal is configuration: a declared field is normalized and encrypted like
`phone`, and a document that would still publish a phone or email in clear is withheld."""

from __future__ import annotations

import json

import dagster as dg
import orjson
from cryptography.fernet import Fernet

from probablyfresh_dagster.documents import SourceDocument
from probablyfresh_dagster.entities import CUSTOMERS, Stage
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.resources.expectations import EXPECTATIONS_ENV, expectations_from_env

from .platforms import check_results, local_platform, materialization, rows, table_rows

LOAD_CUSTOMERS = "customers_mongo_collection customers_kafka_topic customers_clickhouse_raw customers_mart"
SECOND_PHONE = "8 (912) 345-67-89"


def with_second_phone(platform) -> dict:
    folder = platform.settings.data_dir / "customers"
    customer = json.loads((folder / "cus-1000.json").read_text(encoding="utf-8"))
    customer["contacts"] = [{"kind": "work", "phone": SECOND_PHONE}]
    (folder / "cus-1000.json").write_text(json.dumps(customer, ensure_ascii=False), encoding="utf-8")
    return customer


def test_a_declared_field_is_normalized_and_encrypted_like_phone(tmp_path, monkeypatch):
    declared = {"pii_fields": {"customers": ["phone", "email", "contacts[].phone"]}}
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        with_second_phone(platform)
        undeclared = platform.run(LOAD_CUSTOMERS)
        assert materialization(undeclared, CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))["rejected"] == 1

        monkeypatch.setenv(EXPECTATIONS_ENV, json.dumps(declared))
        assert expectations_from_env().personal_fields(CUSTOMERS).covers(("contacts", 0, "phone"))
        result = platform.defs.resolve_job_def(pipeline_job.name).execute_in_process(
            instance=platform.instance,
            asset_selection=[dg.AssetKey(name) for name in LOAD_CUSTOMERS.split()],
            run_config={"resources": {"expectations": {"config": declared}}},
        )
    assert result.success
    assert materialization(result, CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))["rejected"] == 0
    ((payload,),) = rows(platform, "SELECT payload FROM customers_raw WHERE key = 'cus-1000' ORDER BY offset DESC LIMIT 1")
    assert "345-67-89" not in payload
    key = (platform.settings.state_dir / "fernet.key").read_bytes()
    token = orjson.loads(payload)["contacts"][0]["phone"]
    assert Fernet(key).decrypt(token.encode()) == b"+79123456789"
    assert all(check.passed for check in check_results(result).values())


def test_a_document_that_would_publish_clear_text_is_withheld_and_the_rest_flow(tmp_path):
    with local_platform(tmp_path) as platform:
        assert platform.run().success
        with platform.resource("mongo").open() as store:  # another program, or an older version
            body = {"customer_id": "cus-9000", "first_name": "x", "note": f"звонить {SECOND_PHONE}"}
            store.upsert("customers", [SourceDocument("cus-9000", "cus-9000", body)])
            store.upsert("customers", [SourceDocument("cus-9001", "cus-9001", {**body, "customer_id": "cus-9001", "note": ""})])
        result = platform.run("customers_kafka_topic customers_clickhouse_raw")
        published = materialization(result, CUSTOMERS.asset_name(Stage.KAFKA_TOPIC))
        assert (published["published"], published["withheld"]) == (1, 1)
        cells = [str(value) for row in table_rows(published["first_withheld"]) for value in row]
        assert any("cus-9000" in cell for cell in cells) and any("note" in cell for cell in cells)
        assert not any("345-67-89" in cell for cell in cells)
        assert rows(platform, "SELECT count() FROM customers_raw WHERE position(payload, '345-67-89') > 0")[0][0] == 0
        assert check_results(result)["customers_clickhouse_raw:no_clear_text_pii"].passed
        assert rows(platform, "SELECT key FROM customers_raw WHERE key LIKE 'cus-90%'") == [("cus-9001",)]
        again = platform.run("customers_kafka_topic")
        assert materialization(again, CUSTOMERS.asset_name(Stage.KAFKA_TOPIC))["withheld"] == 1  # still pending, still held
