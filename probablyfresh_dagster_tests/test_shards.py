"""Shards (`shards`, `assets.sharding`): each record belongs to one shard, a shard reads only its own
records, and two shards loaded side by side by two processes give the MARTs of one shard."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from probablyfresh_dagster import landing
from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES, PURCHASES, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import load_job_name
from probablyfresh_dagster.landing import sources
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource
from probablyfresh_dagster.settings import Settings
from probablyfresh_dagster.shards import WHOLE, Shard

from .platforms import make_platform
from .processes import run_together
from .run_state import delivery_figures, marts
from .sensor_ticks import add_purchase, requested, run_request, selected, tick
from .support import local_run_env

PURCHASES_GENERATED = 1200
LATER_VERSIONS = 60
BROKEN = 8


def test_each_source_belongs_to_exactly_one_shard() -> None:
    ids = [f"ord-{n:05d}" for n in range(2000)] + [f"batch.jsonl/{n}" for n in range(1, 2001)]
    for count in (1, 2, 3):
        owners = [[shard for shard in Shard.all(count) if shard.owns_source(source)] for source in ids]
        assert all(len(owner) == 1 for owner in owners)
        shares = [sum(owner == [shard] for owner in owners) for shard in Shard.all(count)]
        assert min(shares) > 0.8 * len(ids) / count  # crc32 spreads them
    assert [p for p in range(7) if Shard(1, 3).owns_partition(p)] == [1, 4]


def test_a_shard_is_named_by_its_partition_key_and_whole_keeps_the_old_names() -> None:
    assert [Shard.from_key(shard.key) for shard in Shard.all(3)] == Shard.all(3)
    assert WHOLE.suffix == "" and Shard(1, 2).suffix == ".shard-1-of-2"
    with pytest.raises(ValueError, match="shard 2 of 2 does not exist"):
        Shard(2, 2)


def test_a_bad_shard_count_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, reason in (("two", "must be a whole number"), ("0", "must be at least 1")):
        monkeypatch.setenv("PROBABLYFRESH_SHARDS", value)
        with pytest.raises(ValueError, match=f"PROBABLYFRESH_SHARDS {reason}"):
            Settings.from_env()


def test_the_shards_split_the_landing_zone_and_read_only_their_own_files(tmp_path: Path, monkeypatch) -> None:
    """One-record files, a batch file's lines and a link named like a landing file: each record in
    one shard only, the shards together what one shard reads; a one-record file is opened by its
    own shard alone."""
    folder = tmp_path / PURCHASES.name
    folder.mkdir()
    for n in range(40):
        (folder / f"p-{n:03d}.json").write_text(json.dumps({"purchase_id": f"p-{n:03d}"}))
    (folder / "batch.jsonl").write_text("".join(json.dumps({"purchase_id": f"b-{n}"}) + "\n" for n in range(40)))
    (folder / "elsewhere.json").symlink_to(tmp_path / "nowhere.json")
    opened: list[str] = []
    read_file = landing.read_file

    def reading(folder: int, name: str, limit: int) -> bytes:
        opened.append(name)
        return read_file(folder, name, limit)

    monkeypatch.setattr(landing, "read_file", reading)

    def found(shard: Shard) -> list[str]:
        opened.clear()
        ids = [source.source_id for source in sources(folder, 10_000, shard)]
        assert sorted(opened) == sorted(f"{i}.json" for i in ids if "/" not in i and i != "elsewhere")
        return ids

    whole = found(WHOLE)
    assert len(whole) == 40 + 40 + 1
    parts = [found(shard) for shard in Shard.all(2)]
    assert sorted(parts[0] + parts[1]) == sorted(whole) and not set(parts[0]) & set(parts[1])
    assert all(parts) and all(any("/" in i for i in part) and any("/" not in i for i in part) for part in parts)


def landing_zone(data: Path) -> None:
    """A generation, plus later versions of some purchases in files of their own (other source
    ids, so often another shard): the MART must keep the later version whichever shard loads it;
    and files that are not JSON, which each shard sets aside in its own rejects list."""
    generate(GeneratorConfig(purchases=PURCHASES_GENERATED, seed=7), data)
    folder = data / PURCHASES.name
    for path in sorted(folder.glob("*.json"))[:LATER_VERSIONS]:
        record = json.loads(path.read_text())
        record["payment_method"] = "cash" if record["payment_method"] == "card" else "card"
        record["updated_at"] = "2026-11-01T00:00:00+00:00"
        (folder / f"later-{path.name}").write_text(json.dumps(record, ensure_ascii=False))
    for n in range(BROKEN):
        (folder / f"broken-{n}.json").write_text('{"purchase_id": ')


@pytest.mark.slow
def test_two_shards_loaded_side_by_side_give_the_marts_of_one_shard(tmp_path: Path) -> None:
    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    landing_zone(sharded / "data")
    shutil.copytree(sharded / "data", whole / "data")
    env = local_run_env(sharded) | {"PROBABLYFRESH_SHARDS": "2"}
    run_together(env, sharded, [shard.key for shard in Shard.all(2)])  # each shard in a process, both at once
    rejects = sorted(path.name for path in (sharded / "data" / "_rejected").iterdir())
    assert rejects == sorted(f"{entity.name}.shard-{shard.key}.jsonl" for entity in ENTITIES for shard in Shard.all(2))
    lists = [sharded / "data" / "_rejected" / f"purchases.shard-{shard.key}.jsonl" for shard in Shard.all(2)]
    set_aside = [path.read_text().count("\n") for path in lists]
    assert sum(set_aside) == BROKEN and all(set_aside)  # counts_reconcile below must read both lists

    # `make load` then judges both shards' RAW rows into the MARTs, every check passing.
    for environment in (env, local_run_env(whole)):
        load = subprocess.run([sys.executable, "-m", "probablyfresh_dagster.run", "--load"], env=environment, capture_output=True)
        assert load.returncode == 0, load.stdout.decode()[-3000:] + load.stderr.decode()[-3000:]

    expected = {entity.name: len(list((sharded / "data" / entity.name).iterdir())) for entity in ENTITIES}
    expected[PURCHASES.name] -= BROKEN
    assert expected[PURCHASES.name] == PURCHASES_GENERATED + LATER_VERSIONS
    assert delivery_figures(sharded / "state") == {
        name: {"messages": count, "republished_versions": 0, "raw_rows": count, "repeated_raw_offsets": 0}
        for name, count in expected.items()
    }
    assert marts(sharded / "state") == marts(whole / "state")
    with ClickHouseResource(dsn=f"chdb:///{sharded / 'state' / 'clickhouse'}").client() as client:
        kept = {
            row[0]: row[1] for row in client.query("SELECT purchase_id, payment_method FROM purchases_mart FINAL").result_rows
        }
    assert kept == payment_methods(sharded / "data" / PURCHASES.name)


def payment_methods(folder: Path) -> dict[str, str]:
    """Each purchase's payment method as its latest version in the folder says."""
    records = (json.loads(path.read_text()) for path in folder.iterdir() if not path.name.startswith("broken-"))
    versions = sorted(records, key=lambda r: r.get("updated_at", ""))
    return {record["purchase_id"]: record["payment_method"] for record in versions}


def test_the_sensor_loads_a_shard_whose_load_missed_a_file_though_another_shards_did_not(tmp_path, monkeypatch) -> None:
    """A new file of shard s, and a load of the other shard only (as when shard s's run failed):
    the folder matches the latest load of the asset, not that of shard s, and the sensor asks."""
    monkeypatch.delenv("FERNET_KEY", raising=False)
    platform = make_platform(tmp_path, shards=2)
    assert platform.run(purchases=20).success
    assert tick(platform).skip_message.startswith("Up to date")

    add_purchase(platform, "ord-late")
    owner = next(shard for shard in Shard.all(2) if shard.owns_source("ord-late"))
    other = Shard(1 - owner.index, 2)
    job = platform.defs.resolve_job_def(load_job_name(PURCHASES))
    loads_other = job.execute_in_process(
        instance=platform.instance, partition_key=other.key, asset_selection=[PURCHASES.asset_key(Stage.MONGO_COLLECTION)]
    )
    assert loads_other.success

    request = requested(tick(platform))[0]
    assert selected(request) == {PURCHASES.asset_name(stage) for stage in LOAD_STAGES}
    assert run_request(platform, request).success  # over every shard, as the daemon launches it
    assert tick(platform).skip_message.startswith("Up to date")
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'state' / 'clickhouse'}").client() as client:
        assert client.query("SELECT count() FROM purchases_mart FINAL").first_row == (21,)
