from __future__ import annotations

import fcntl
import gzip
import json
import random
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from probablyfresh_dagster.generator import (
    CATEGORIES,
    LOCK_FILE,
    GeneratorConfig,
    exclusive,
    generate,
    iter_purchases,
    main,
    make_customers,
    make_products,
    make_purchase_parts,
    make_stores,
    resolve_seed,
)
from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.landing import landing_entries
from probablyfresh_dagster.resources.expectations import Expectations

FOLDERS = ("stores", "products", "customers", "purchases")


def read_folder(root: Path, folder: str) -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((root / folder).glob("*.json"))
    }


def file_contents(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.json"))}


def kopecks(amount: float) -> int:
    return round(amount * 100)


@pytest.fixture(scope="module")
def default_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("default")
    counts = generate(GeneratorConfig(seed=42), root)
    assert counts == {"stores": 45, "products": 100, "customers": 45, "purchases": 200}
    return root


@pytest.fixture(scope="module")
def data(default_root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    return {folder: read_folder(default_root, folder) for folder in FOLDERS}


def test_same_seed_gives_byte_identical_files(default_root: Path, tmp_path: Path) -> None:
    generate(GeneratorConfig(seed=42), tmp_path)
    assert file_contents(tmp_path) == file_contents(default_root)


def test_different_seed_gives_different_files(default_root: Path, tmp_path: Path) -> None:
    generate(GeneratorConfig(seed=43), tmp_path)
    ours, theirs = file_contents(tmp_path), file_contents(default_root)
    assert ours.keys() == theirs.keys()
    differing = [name for name in ours if ours[name] != theirs[name]]
    assert len(differing) > 0.9 * len(ours)


def test_files_are_pretty_printed_utf8_json(default_root: Path) -> None:
    for path in default_root.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n", path
    assert "Россия" in (default_root / "stores" / "store-001.json").read_text(encoding="utf-8")


def test_default_stores(data: dict[str, Any]) -> None:
    stores = data["stores"]
    assert list(stores) == [f"store-{n:03d}" for n in range(1, 46)]
    networks = [store["store_network"] for store in stores.values()]
    assert networks == ["Almost"] * 30 + ["Maybe"] * 15
    for store_id, store in stores.items():
        assert store["store_id"] == store_id
        assert store["type"] == "offline"
        assert store["categories"] == list(CATEGORIES)
        assert set(store["manager"]) == {"name", "phone", "email"}
        assert set(store["location"]["coordinates"]) == {"latitude", "longitude"}
        assert set(store["opening_hours"]) == {"mon_fri", "sat", "sun"}
        assert store["location"]["street"] in store["store_name"]
        size = "более 200" if store["store_network"] == "Almost" else "менее 100"
        assert size in store["store_type_description"]


def test_default_products(data: dict[str, Any]) -> None:
    products = data["products"]
    assert list(products) == [f"prd-{n}" for n in range(1000, 1100)]
    assert len(CATEGORIES) == 5
    assert Counter(product["group"] for product in products.values()) == {
        category: 20 for category in CATEGORIES
    }
    for product in products.values():
        assert set(product["kbju"]) == {"calories", "protein", "fat", "carbohydrates"}
        assert re.fullmatch(r"\d{13}", product["barcode"])
        assert re.fullmatch(r"\d{10}", product["manufacturer"]["inn"])
        assert product["price"] > 0 and kopecks(product["price"]) / 100 == product["price"]


def test_default_customers_belong_to_existing_stores(data: dict[str, Any]) -> None:
    stores, customers = data["stores"], data["customers"]
    assert list(customers) == [f"cus-{n}" for n in range(1000, 1045)]
    home_stores = [c["purchase_location"]["store_id"] for c in customers.values()]
    assert sorted(home_stores) == sorted(stores)  # one customer per store
    for customer in customers.values():
        location = customer["purchase_location"]
        store = stores[location["store_id"]]
        assert location["store_name"] == store["store_name"]
        assert location["store_network"] == store["store_network"]
        assert {k: v for k, v in location.items() if k in store["location"]} == store["location"]
        assert customer["delivery_address"]["city"] == store["location"]["city"]
        assert customer["gender"] in {"male", "female"}
        if customer["is_loyalty_member"]:
            assert re.fullmatch(r"LOYAL-[0-9A-F]{10}", customer["loyalty_card_number"])


def test_default_purchases_reference_existing_records(data: dict[str, Any]) -> None:
    stores, customers, products = data["stores"], data["customers"], data["products"]
    purchases = data["purchases"]
    assert list(purchases) == [f"ord-{n:05d}" for n in range(1, 201)]
    own_store = 0
    for purchase in purchases.values():
        buyer = purchase["customer"]
        customer = customers[buyer["customer_id"]]
        assert buyer == {key: customer[key] for key in buyer}
        assert purchase["delivery_address"] == customer["delivery_address"]
        store = stores[purchase["store"]["store_id"]]
        assert purchase["store"]["location"] == store["location"]
        own_store += store["store_id"] == customer["purchase_location"]["store_id"]
        assert 1 <= len(purchase["items"]) <= 5
        product_ids = [item["product_id"] for item in purchase["items"]]
        assert len(set(product_ids)) == len(product_ids)
        for item in purchase["items"]:
            product = products[item["product_id"]]
            assert item["category"] == product["group"]
            assert item["price_per_unit"] == product["price"]
    assert 0.6 * len(purchases) < own_store < len(purchases)  # mostly, not always, at home


def test_money_adds_up_to_the_kopeck(tmp_path: Path) -> None:
    generate(GeneratorConfig(seed=5, purchases=3000), tmp_path)
    for purchase in read_folder(tmp_path, "purchases").values():
        for item in purchase["items"]:
            unit_price = kopecks(item["price_per_unit"])
            assert kopecks(item["total_price"]) == unit_price * item["quantity"]
            assert kopecks(item["total_price"]) / 100 == item["total_price"]  # whole kopecks
        line_sum = sum(kopecks(item["total_price"]) for item in purchase["items"])
        assert kopecks(purchase["total_amount"]) == line_sum
        assert purchase["total_amount"] == line_sum / 100


def test_no_date_after_as_of(tmp_path: Path) -> None:
    as_of = date(2025, 3, 15)
    generate(GeneratorConfig(seed=9, purchases=2000, as_of=as_of.isoformat()), tmp_path)
    for store in read_folder(tmp_path, "stores").values():
        assert date.fromisoformat(store["last_inventory_date"]) <= as_of
    for customer in read_folder(tmp_path, "customers").values():
        birth_date = date.fromisoformat(customer["birth_date"])
        assert birth_date <= as_of.replace(year=as_of.year - 18)  # adults only
        assert datetime.fromisoformat(customer["registration_date"]).date() <= as_of
    purchased = [
        datetime.fromisoformat(purchase["purchase_datetime"])
        for purchase in read_folder(tmp_path, "purchases").values()
    ]
    assert all(moment.utcoffset() is not None for moment in purchased)
    assert max(moment.date() for moment in purchased) <= as_of
    assert min(moment.date() for moment in purchased) >= as_of - timedelta(days=90)
    assert max(moment.date() for moment in purchased) >= as_of - timedelta(days=3)


def test_personal_data_is_messy_on_purpose(data: dict[str, Any]) -> None:
    emails = [c["email"] for c in data["customers"].values()] + [
        s["manager"]["email"] for s in data["stores"].values()
    ]
    messy = [e for e in emails if e != e.strip() or e != e.lower()]
    assert 0 < len(messy) < len(emails) / 3
    phones = [c["phone"] for c in data["customers"].values()]
    shapes = {re.sub(r"\d", "9", phone) for phone in phones}
    assert len(shapes) >= 3  # e.g. "+7 (999) 999-99-99", "8 999 999 99 99", "89999999999"


def test_rerun_removes_stale_json_only(tmp_path: Path) -> None:
    purchases = tmp_path / "purchases"
    purchases.mkdir()
    kept = {purchases / ".gitkeep": "", purchases / "notes.txt": "keep me"}
    for path, text in kept.items():
        path.write_text(text, encoding="utf-8")
    (purchases / "ord-99999.json").write_text("{}", encoding="utf-8")

    generate(GeneratorConfig(purchases=10), tmp_path)
    generate(GeneratorConfig(purchases=3, maybe_stores=0), tmp_path)

    assert sorted(p.name for p in purchases.glob("*.json")) == [
        "ord-00001.json", "ord-00002.json", "ord-00003.json"
    ]
    assert len(list((tmp_path / "stores").glob("*.json"))) == 30
    assert {path: path.read_text(encoding="utf-8") for path in kept} == kept


def test_resolve_seed_prefers_explicit_then_env_then_42(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEED", raising=False)
    assert resolve_seed(None) == 42
    monkeypatch.setenv("SEED", "7")
    assert resolve_seed(None) == 7
    assert resolve_seed(3) == 3
    monkeypatch.setenv("SEED", "seven")
    with pytest.raises(ValueError, match="SEED must be an integer"):
        resolve_seed(None)


def test_seed_env_is_used_when_no_seed_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = {"almost_stores": 2, "maybe_stores": 1, "products_per_category": 2, "purchases": 5}
    monkeypatch.setenv("SEED", "7")
    generate(GeneratorConfig(**small), tmp_path / "from_env")
    generate(GeneratorConfig(seed=8, **small), tmp_path / "explicit")
    monkeypatch.delenv("SEED")
    generate(GeneratorConfig(seed=7, **small), tmp_path / "seven")
    generate(GeneratorConfig(seed=8, **small), tmp_path / "eight")

    assert file_contents(tmp_path / "from_env") == file_contents(tmp_path / "seven")
    assert file_contents(tmp_path / "explicit") == file_contents(tmp_path / "eight")
    assert file_contents(tmp_path / "seven") != file_contents(tmp_path / "eight")


def test_cli_writes_files_with_custom_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data"
    counts = main([
        "--seed", "7", "--almost-stores", "3", "--maybe-stores", "2",
        "--products-per-category", "4", "--customers-per-store", "2",
        "--purchases", "25", "--as-of", "2026-01-31", "--out", str(out),
    ])  # fmt: skip
    expected = {"stores": 5, "products": 20, "customers": 10, "purchases": 25}
    assert counts == expected
    assert {folder: len(list((out / folder).glob("*.json"))) for folder in FOLDERS} == expected
    assert "purchases=25" in capsys.readouterr().out
    purchases = read_folder(out, "purchases").values()
    assert all(p["purchase_datetime"] <= "2026-02" for p in purchases)


def test_purchases_are_streamed_not_accumulated(tmp_path: Path) -> None:
    """Peak traced memory while writing 15,000 purchases stays below what a list of them takes.

    Measured: about 2.5 MB while streaming (stores, products, customers and their rendered
    JSON), about 8 MB for a list of 15,000 purchase dicts, even though they share all their
    nested parts; rendered texts would take about 160 MB.
    """
    count, bound = 15_000, 5_000_000
    generate(GeneratorConfig(purchases=1), tmp_path)  # imports and Faker's lazy set-up
    tracemalloc.start()
    try:
        generate(GeneratorConfig(purchases=count), tmp_path)
        _, streamed_peak = tracemalloc.get_traced_memory()

        tracemalloc.reset_peak()
        config, as_of, rng = GeneratorConfig(), date(2026, 11, 1), random.Random(1)
        fake = Faker("ru_RU")
        fake.seed_instance(1)
        stores = make_stores(config, rng, fake, as_of)
        products = make_products(config, rng, fake)
        customers = make_customers(stores, config, rng, fake, as_of)
        parts = make_purchase_parts(stores, customers, products)
        before, _ = tracemalloc.get_traced_memory()
        all_purchases = list(iter_purchases(count, parts, rng, as_of))
        list_size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "purchases").glob("*.json"))) == len(all_purchases) == count
    assert streamed_peak < bound < list_size


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"almost_stores": -1}, "almost_stores must be >= 0"),
        ({"purchases": -5}, "purchases must be >= 0"),
        ({"customers_per_store": -2, "maybe_stores": -1}, "maybe_stores must be >= 0"),
        ({"almost_stores": 0, "maybe_stores": 0}, "purchases need at least one store"),
        ({"products_per_category": 0}, "at least one product"),
        ({"customers_per_store": 0}, "at least one customer"),
        ({"as_of": "01.11.2026"}, "as_of must be a YYYY-MM-DD date"),
    ],
)
def test_invalid_config_is_rejected_before_touching_files(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    (tmp_path / "stores").mkdir()
    existing = tmp_path / "stores" / "store-001.json"
    existing.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        generate(GeneratorConfig(**overrides), tmp_path)
    assert existing.exists()


def test_empty_dataset_without_purchases_is_allowed(tmp_path: Path) -> None:
    config = GeneratorConfig(almost_stores=0, maybe_stores=0, products_per_category=0, purchases=0)
    assert generate(config, tmp_path) == {
        "stores": 0, "products": 0, "customers": 0, "purchases": 0
    }
    assert all((tmp_path / folder).is_dir() for folder in FOLDERS)


def start_generator(root: Path, purchases: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "probablyfresh_dagster.generator", "--out", str(root), "--purchases", str(purchases)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def lock_is_held(root: Path) -> bool:
    with open(root / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def test_two_generators_at_once_take_turns_and_leave_one_complete_generation(tmp_path: Path) -> None:
    root, reference = tmp_path / "data", tmp_path / "reference"
    generate(GeneratorConfig(purchases=500), reference)
    with exclusive(root):  # both start while the lock is taken, so both must queue for it
        generators = [start_generator(root, 500) for _ in range(2)]
        for generator in generators:
            assert generator.stderr is not None
            assert any("Waiting for the generator" in line for line in iter(generator.stderr.readline, ""))
    assert [generator.wait(timeout=120) for generator in generators] == [0, 0]
    assert file_contents(root) == file_contents(reference)
    assert not list(root.rglob("*.partial"))


def test_a_killed_generator_frees_the_lock_and_its_partial_files_are_never_input(tmp_path: Path) -> None:
    generator = start_generator(tmp_path, 200_000)
    deadline = time.monotonic() + 60
    while not lock_is_held(tmp_path):
        assert generator.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    generator.send_signal(signal.SIGKILL)
    assert generator.wait(timeout=30) == -signal.SIGKILL
    assert not lock_is_held(tmp_path)
    folder = tmp_path / "purchases"
    folder.mkdir(exist_ok=True)
    partial = folder / "ord-00001.json.partial"
    partial.write_text('{"purchase_id": "ord-0', encoding="utf-8")
    assert partial.name not in {entry.name for entry in landing_entries(folder)}

    generate(GeneratorConfig(purchases=5), tmp_path)
    assert sorted(path.name for path in folder.iterdir()) == [f"ord-{n:05d}.json" for n in range(1, 6)]


@pytest.mark.parametrize("file_format", ["jsonl", "jsonl.gz"])
def test_a_batch_format_holds_the_same_records_replaces_the_files_and_is_reproducible(tmp_path, file_format):
    generate(GeneratorConfig(purchases=50), tmp_path / "json")
    generate(GeneratorConfig(purchases=50), tmp_path / "batch")
    main(["--purchases", "50", "--format", file_format, "--out", str(tmp_path / "batch")])
    first = {path: path.read_bytes() for path in (tmp_path / "batch").rglob(f"*.{file_format}")}
    generate(GeneratorConfig(purchases=50, format=file_format), tmp_path / "batch")
    assert {path: path.read_bytes() for path in (tmp_path / "batch").rglob(f"*.{file_format}")} == first
    for entity in ENTITIES:
        folder = tmp_path / "batch" / entity.name
        assert [path.name for path in folder.iterdir()] == [f"{entity.name}.{file_format}"]
        opener = gzip.open if file_format.endswith(".gz") else open
        with opener(folder / f"{entity.name}.{file_format}", "rb") as lines:
            records = [json.loads(line) for line in lines]
        files = sorted((tmp_path / "json" / entity.name).glob("*.json"))
        assert records == [json.loads(path.read_bytes()) for path in files]


def test_the_generator_writes_the_categories_the_checks_expect_by_default() -> None:
    assert list(CATEGORIES) == Expectations().product_categories
