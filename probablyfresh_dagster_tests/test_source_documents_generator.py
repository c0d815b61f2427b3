"""The data of the source documents' own generator (seed 001's `scripts/generate_data.py`, run
unchanged from the document), loaded by everything but our generator, with the expectations the
README documents for it: every check passes but `products_per_category`, which says why."""

import json
import re
import subprocess
import sys

import pytest

from probablyfresh_dagster.entities import ENTITIES, LOAD_STAGES
from probablyfresh_dagster.resources.expectations import EXPECTATIONS_ENV
from probablyfresh_dagster.settings import PROJECT_ROOT

from .platforms import check_results, make_platform

SEED = PROJECT_ROOT.parent / "shared" / "seeds" / "001_20d9d3f2274baf99.txt"
README_SETTING = {"store_networks": {"Большая Пикча": 30, "Маленькая Пикча": 15}}


def generator_script() -> str:
    text = SEED.read_text(encoding="utf-8")
    (script,) = re.findall(r"```python\n(# scripts/generate_data\.py\n.*?)```", text, flags=re.S)
    return script


@pytest.mark.skipif(not SEED.exists(), reason=f"the source documents are not beside the repo ({SEED})")
def test_the_source_documents_data_passes_every_check_but_the_one_it_breaks(tmp_path, monkeypatch):
    subprocess.run([sys.executable, "-c", generator_script()], cwd=tmp_path, check=True, capture_output=True)
    assert "PROBABLYFRESH_EXPECTATIONS='" + json.dumps(README_SETTING, ensure_ascii=False) + "'" in (
        PROJECT_ROOT / "README.md"
    ).read_text(encoding="utf-8")
    monkeypatch.setenv(EXPECTATIONS_ENV, json.dumps(README_SETTING))
    monkeypatch.delenv("FERNET_KEY", raising=False)
    platform = make_platform(tmp_path)  # its data folder is where the script wrote: tmp_path/data

    result = platform.run(selection=" ".join(e.asset_name(stage) for e in ENTITIES for stage in LOAD_STAGES))

    checks = check_results(result)
    # Nothing set aside: its ids, INNs, barcodes, coordinates and amounts are not taken for phones.
    assert [path.read_text(encoding="utf-8") for path in (tmp_path / "data" / "_rejected").iterdir()] == [""] * 4
    assert set(checks) == {key.to_user_string() for key in platform.defs.resolve_asset_graph().asset_check_keys}
    assert [key for key, check in checks.items() if not check.passed] == ["products_mart:products_per_category"]
    described = checks["products_mart:products_per_category"].description
    # The script draws each product's category at random, unseeded: all 5 are there only most times.
    drawn = {json.loads(path.read_text(encoding="utf-8"))["group"] for path in (tmp_path / "data" / "products").iterdir()}
    assert described.startswith(f"20 products in {len(drawn)} categories (")
    assert "expected 20 in each of the 5 categories" in described
    assert checks["stores_mart:stores_count"].description == (
        "45 stores: большая пикча 30, маленькая пикча 15 — expected большая пикча 30, маленькая пикча 15"
    )
    assert checks["customers_mart:every_store_has_a_customer"].description == (
        "45 of 45 stores have at least 1 customer; 0 customers match no store"
    )
