"""One winner per key: of the versions of a key (files, lines of a batch file, with or without
`updated_at`), the MART keeps the latest `updated_at`, then the greatest source id, then the highest
offset, whatever the order in which the versions were written or loaded (`mart_version` in
infra/clickhouse/mart_common.sql)."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from probablyfresh_dagster import mart_load
from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, PURCHASES
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate

from .past_the_rules import land_past_the_rules, load_downstream
from .platforms import Platform, check_results, local_platform, rows

LOAD = " ".join(PURCHASES.asset_name(stage) for stage in LOAD_STAGES)
BATCH = "purchases.jsonl"


@dataclass(frozen=True)
class Version:
    key: str
    source: str
    """Where it lands: `<name>` for data/purchases/<name>.json, `purchases.jsonl/<line>` for a line."""
    lines: int
    updated_at: str | None = None


VERSIONS = [
    Version("ord-a", "ord-a", lines=1),
    Version("ord-a", "ord-a-copy", lines=2),
    Version("ord-a", f"{BATCH}/3", lines=3, updated_at="2024-01-01T00:00:00Z"),
    # The same instant as line 3's: the greater source wins, line 10 after line 3 as numbers ("10" < "3" as text).
    Version("ord-a", f"{BATCH}/10", lines=1, updated_at="2024-01-01T03:00:00+03:00"),
    Version("ord-b", "ord-b", lines=2, updated_at="2024-05-01T00:00:00Z"),
    Version("ord-b", "zzz-b", lines=1),  # the greatest source, but no updated_at: older than any
    Version("ord-b", f"{BATCH}/5", lines=3, updated_at="2024-04-30T23:59:59.999Z"),
    Version("ord-c", "ord-c", lines=3),
    Version("ord-c", "ord-c-2", lines=1),  # fewer lines than the version it beats: none of those may show
    Version("ord-d", "ord-d", lines=2),
    Version("ord-d", f"{BATCH}/7", lines=1),  # "purchases.jsonl" > "ord-d"
]
WINNERS = {"ord-a": f"{BATCH}/10", "ord-b": "ord-b", "ord-c": "ord-c-2", "ord-d": f"{BATCH}/7"}


def orders() -> dict[str, list[list[Version]]]:
    """The versions split into loads, each load in the order its files are written."""
    winners = [v for v in VERSIONS if WINNERS[v.key] == v.source]
    losers = [v for v in VERSIONS if v not in winners]
    shuffled = {}
    for seed in (1, 2):
        versions = random.Random(seed).sample(VERSIONS, len(VERSIONS))
        shuffled[f"shuffled {seed}"] = [versions[:3], versions[3:7], versions[7:]]
    return {
        "all in one load": [VERSIONS[::-1]],
        "winners first": [winners, losers[:4], losers[4:]],
        "winners last": [losers[4:], losers[:4], winners[::-1]],
        **shuffled,
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A generated purchase (its store, customer and products are the generator's first)."""
    root = tmp_path_factory.mktemp("template")
    generate(GeneratorConfig(almost_stores=1, maybe_stores=0, products_per_category=1, purchases=1), root)
    return json.loads(next((root / "purchases").glob("*.json")).read_text(encoding="utf-8"))


def document(template: dict, version: Version) -> dict:
    """The version's purchase: its source as the payment method (to tell the versions apart), and
    `lines` item lines (line n sells n of the generator's product n), the total theirs."""
    purchase = copy.deepcopy(template)
    line = purchase["items"][0]
    purchase["items"] = [
        {**line, "product_id": product(n), "quantity": n, "price_per_unit": 10.0, "total_price": 10.0 * n}
        for n in range(1, version.lines + 1)
    ]
    purchase.update(
        purchase_id=version.key,
        payment_method=version.source,
        total_amount=sum(item["total_price"] for item in purchase["items"]),
    )
    if version.updated_at:
        purchase["updated_at"] = version.updated_at
    return purchase


def product(n: int) -> str:
    return f"prd-{999 + n}"


def land(folder: Path, template: dict, versions: list[Version], landed: dict[int, str]) -> None:
    """Write the versions' files; the batch file is rewritten with every line landed so far (the
    lines not landed yet are blank, which count as lines)."""
    for version in versions:
        body = json.dumps(document(template, version))
        if version.source.startswith(f"{BATCH}/"):
            landed[int(version.source.rpartition("/")[2])] = body
        else:
            (folder / f"{version.source}.json").write_text(body, encoding="utf-8")
    if landed:
        lines = [landed.get(number, "") for number in range(1, max(landed) + 1)]
        (folder / BATCH).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_in_order(root: Path, template: dict, loads: list[list[Version]]) -> Platform:
    with local_platform(root) as platform:
        folder = platform.settings.data_dir / PURCHASES.name
        folder.mkdir(parents=True)
        landed: dict[int, str] = {}
        for versions in loads:
            land(folder, template, versions, landed)
            result = platform.run(LOAD)
            assert result.success
            assert check_results(result)["purchases_mart:counts_reconcile"].passed
    return platform


def kept(platform: Platform) -> dict[str, list[tuple]]:
    """The purchases MART and the current lines, without the Kafka coordinates and ingest times
    that depend on the order of loading."""
    return {
        "purchases_mart": rows(
            platform, "SELECT * EXCEPT (_partition, _offset, _ingested_at) FROM purchases_mart FINAL ORDER BY ALL"
        ),
        "purchase_items_current": rows(
            platform, "SELECT * EXCEPT (_partition, _offset) FROM purchase_items_current ORDER BY ALL"
        ),
    }


def columns(platform: Platform, table: str) -> list[str]:
    sql = "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position"
    return [name for (name,) in rows(platform, sql, t=table)]


@pytest.mark.slow
def test_the_same_versions_loaded_in_any_order_leave_the_rule_winners(tmp_path, template):
    kept_by_order = {}
    for name, loads in orders().items():
        platform = load_in_order(tmp_path / name.replace(" ", "-"), template, loads)
        assert dict(rows(platform, "SELECT purchase_id, payment_method FROM purchases_mart FINAL")) == WINNERS, name
        assert dict(rows(platform, "SELECT purchase_id, _source FROM purchases_mart FINAL")) == WINNERS, name
        winners = {v.key: v for v in VERSIONS if WINNERS[v.key] == v.source}
        lines = [(key, n, product(n), n) for key, v in sorted(winners.items()) for n in range(1, v.lines + 1)]
        sql = "SELECT purchase_id, line_no, product_id, quantity FROM purchase_items_current ORDER BY ALL"
        assert rows(platform, sql) == lines, name
        assert rows(platform, "SELECT count() FROM purchases_raw")[0][0] == len(VERSIONS)
        with platform.resource("clickhouse").client() as client:
            fates = mart_load.key_fates(client, PURCHASES)
        assert {fate: found.keys for fate, found in fates.items()} == {mart_load.KEPT: len(WINNERS)}, name
        kept_by_order[name] = kept(platform)
    first = next(iter(kept_by_order.values()))
    assert {name: snapshot == first for name, snapshot in kept_by_order.items()} == dict.fromkeys(kept_by_order, True)


def test_a_version_the_mart_refuses_never_wins(loaded_copy):
    """The latest updated_at, but a total of 0 (landed past the landing zone's rules): the MART
    records why and keeps the version it had."""
    platform = loaded_copy
    before = rows(platform, "SELECT * FROM purchases_mart FINAL WHERE purchase_id = 'ord-00001'")
    latest_but_free = {"updated_at": "2025-01-01T00:00:00Z", "total_amount": 0}
    land_past_the_rules(platform, [("purchases", "ord-00001", latest_but_free)])
    assert load_downstream(platform).success
    assert rows(platform, "SELECT * FROM purchases_mart FINAL WHERE purchase_id = 'ord-00001'") == before
    assert rows(platform, "SELECT key, reason FROM mart_rejects FINAL") == [
        ("ord-00001", "total_amount: not a positive amount that fits Decimal(12, 2)")
    ]


def test_tables_made_before_the_rule_gain_its_columns_and_follow_it(loaded_copy, template):
    """RAW and MART tables as the code before made them (no source, _updated_at, _source) gain the
    columns in place, where CREATE puts them; their rows count as the oldest versions."""
    platform = loaded_copy
    with platform.resource("clickhouse").client() as client:
        for entity in ENTITIES:
            client.command(f"ALTER TABLE {entity.raw_table} DROP COLUMN source")
            client.command(f"ALTER TABLE {entity.mart_table} DROP COLUMN _updated_at, DROP COLUMN _source")
    folder = platform.settings.data_dir / PURCHASES.name
    old = json.loads((folder / "ord-00007.json").read_text(encoding="utf-8"))
    (folder / "ord-00007-fix.json").write_text(json.dumps({**old, "payment_method": "fixed"}), encoding="utf-8")
    land(folder, template, [Version("ord-00008", "ord-00008-late", lines=1, updated_at="2024-01-01T00:00:00Z")], {})

    result = platform.run(" ".join(entity.asset_name(stage) for entity in ENTITIES for stage in LOAD_STAGES))
    assert result.success and all(check.passed for check in check_results(result).values())
    for entity in ENTITIES:
        assert columns(platform, entity.mart_table)[-4:] == ["_offset", "_ingested_at", "_updated_at", "_source"]
        assert columns(platform, entity.raw_table)[:5] == ["topic", "partition", "offset", "key", "source"]
    assert rows(
        platform,
        "SELECT purchase_id, payment_method, _source FROM purchases_mart FINAL"
        " WHERE purchase_id IN ('ord-00006', 'ord-00007', 'ord-00008') ORDER BY 1",
    ) == [
        ("ord-00006", old_payment(folder, "ord-00006"), ""),  # loaded before: kept as it was
        ("ord-00007", "fixed", "ord-00007-fix"),
        ("ord-00008", "ord-00008-late", "ord-00008-late"),
    ]


def old_payment(folder: Path, key: str) -> str:
    return json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))["payment_method"].lower()
