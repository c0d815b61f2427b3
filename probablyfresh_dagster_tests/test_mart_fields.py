"""The MART reads each payload whole once per statement: `mart_fields` splits it into its top-level
fields, and every rule and column reads one field's raw text from there (mart_common.sql)."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.sql import run_script, statements

# The only places a checked view may hand a whole payload to a function: the split itself, and the
# first rule, which names why a payload that is not a JSON object is refused.
WHOLE_PAYLOAD_READS = ("mart_fields(payload)", "JSONType(payload) != 'Object'", "mart_payload_reason(payload)")


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda entity: entity.name)
def test_a_checked_view_parses_the_payload_once(entity):
    views = [s for s in statements(f"marts/{entity.name}") if "CREATE OR REPLACE VIEW" in s]
    assert views
    for view in views:
        code = "\n".join(line.split("--")[0] for line in view.splitlines())
        for allowed in WHOLE_PAYLOAD_READS:
            code = code.replace(allowed, "")
        assert not re.search(r"\bpayload\b", code), f"a checked view of {entity.name} reads the whole payload again:\n{view}"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with ClickHouseResource(dsn=f"chdb:///{tmp_path_factory.mktemp('mart-fields') / 'ch'}").client() as client:
        run_script(client, "mart_common")
        yield client


def read(client, expression: str, payload: str):
    return client.query(
        f"SELECT {expression} FROM (SELECT mart_fields({{payload:String}}) AS fields)", parameters={"payload": payload}
    ).result_rows[0][0]


def test_fields_keep_the_first_of_a_repeated_name_and_read_absent_as_empty(client):
    payload = '{"id": "first", "nested": {"city": "Пермь"}, "id": "second"}'
    assert read(client, "JSONExtractString(fields['id'])", payload) == "first"
    assert read(client, "JSONExtractString(fields['nested'], 'city')", payload) == "Пермь"
    assert read(client, "fields['absent']", payload) == ""
    assert read(client, "length(fields)", "[1, 2]") == 0
    assert read(client, "length(fields)", "not json") == 0


@pytest.mark.parametrize(
    "value, is_text, number, amount, boolean",
    [
        ("x", True, 0, 0, False),
        (" \u00a0\u2003", False, 0, 0, False),
        ("12.5", True, 0, 0, False),
        (12.345, False, 12.345, 12.35, False),
        (1.0, False, 1, 1, False),
        (1, False, 1, 1, False),
        (1e10, False, 1e10, 0, False),
        (True, False, 0, 0, True),
        (False, False, 0, 0, False),
        (None, False, 0, 0, False),
        ({"a": 1}, False, 0, 0, False),
    ],
)
def test_a_field_is_judged_by_its_own_json_type(client, value, is_text, number, amount, boolean):
    payload = json.dumps({"field": value})
    got = read(
        client,
        "(mart_is_text(fields['field']), mart_number(fields['field']), mart_amount(fields['field']), mart_bool(fields['field']))",
        payload,
    )
    assert got == (is_text, number, Decimal(str(amount)), boolean)
    absent = read(
        client,
        "(mart_is_text(fields['none']), mart_number(fields['none']), mart_amount(fields['none']), mart_bool(fields['none']))",
        payload,
    )
    assert absent == (False, 0, 0, False)
