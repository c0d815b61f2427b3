from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from contextlib import suppress
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from faker import Faker

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.free_space import MIN_FREE_BYTES_ENV
from probablyfresh_dagster.generator.__main__ import main
from probablyfresh_dagster.generator.config import GeneratorConfig, resolve_seed
from probablyfresh_dagster.generator.own_files import NOT_THE_GENERATORS, OWN_FOLDER, SCRATCH, Written, lock_path
from probablyfresh_dagster.generator.purchase_workers import rendered_blocks
from probablyfresh_dagster.generator.purchases import PURCHASES_PER_BLOCK, PurchaseDraw, iter_purchases, make_purchase_parts
from probablyfresh_dagster.generator.records import CATEGORIES, make_customers, make_products, make_stores
from probablyfresh_dagster.generator.writing import exclusive, generate
from probablyfresh_dagster.resources.expectations import Expectations
from probablyfresh_dagster.settings import PROJECT_ROOT

from .failing_steps import fill, small_filesystem
from .foreign_entries import GENERATED_NAMES, names, plant_foreign_entries, snapshot

FOLDERS = ("stores", "products", "customers", "purchases")


def read_folder(root: Path, folder: str) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((root / folder).glob("*.json"))}


def file_contents(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.json"))}


def records(written: dict[str, Written]) -> dict[str, int]:
    return {name: entity.records for name, entity in written.items()}


def kopecks(amount: float) -> int:
    return round(amount * 100)


@pytest.fixture(scope="module")
def default_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("default")
    counts = records(generate(GeneratorConfig(seed=42), root))
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
    assert Counter(product["group"] for product in products.values()) == {category: 20 for category in CATEGORIES}
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
        datetime.fromisoformat(purchase["purchase_datetime"]) for purchase in read_folder(tmp_path, "purchases").values()
    ]
    assert all(moment.utcoffset() is not None for moment in purchased)
    assert max(moment.date() for moment in purchased) <= as_of
    assert min(moment.date() for moment in purchased) >= as_of - timedelta(days=90)
    assert max(moment.date() for moment in purchased) >= as_of - timedelta(days=3)


def test_personal_data_is_messy_on_purpose(data: dict[str, Any]) -> None:
    emails = [c["email"] for c in data["customers"].values()] + [s["manager"]["email"] for s in data["stores"].values()]
    messy = [e for e in emails if e != e.strip() or e != e.lower()]
    assert 0 < len(messy) < len(emails) / 3
    phones = [c["phone"] for c in data["customers"].values()]
    shapes = {re.sub(r"\d", "9", phone) for phone in phones}
    assert len(shapes) >= 3  # e.g. "+7 (999) 999-99-99", "8 999 999 99 99", "89999999999"


def test_shrinking_or_switching_format_removes_only_the_generators_own_old_files(tmp_path: Path) -> None:
    purchases = tmp_path / "purchases"
    generate(GeneratorConfig(purchases=10), tmp_path)
    shutil.copy(purchases / "ord-00001.json", purchases / "ord-00001-copy.json")
    with (purchases / "ord-00009.json").open("a", encoding="utf-8") as edited:
        edited.write("\n")
    old = purchases / "old.json"
    old.write_text("{}", encoding="utf-8")
    os.utime(old, (1e9, 1e9))  # older than any generation
    users = {"ord-00001-copy.json", "ord-00009.json", "old.json"}
    theirs = {name: (purchases / name).read_bytes() for name in users}

    generate(GeneratorConfig(purchases=3, maybe_stores=0), tmp_path)
    assert names(purchases) == sorted({"ord-00001.json", "ord-00002.json", "ord-00003.json", *users})
    assert len(names(tmp_path / "stores")) == 30

    generate(GeneratorConfig(purchases=3, format="jsonl"), tmp_path)
    assert names(purchases) == sorted({"purchases.jsonl", *users})
    assert names(tmp_path / "stores") == ["stores.jsonl"]

    generate(GeneratorConfig(purchases=2), tmp_path)
    assert names(purchases) == sorted({"ord-00001.json", "ord-00002.json", *users})
    assert {name: (purchases / name).read_bytes() for name in users} == theirs


def test_a_file_the_user_edited_after_generation_is_not_replaced(tmp_path: Path) -> None:
    generate(GeneratorConfig(purchases=5), tmp_path)
    ours = tmp_path / "purchases" / "ord-00001.json"
    seed_42 = ours.read_bytes()
    edited = tmp_path / "purchases" / "ord-00002.json"
    purchase = json.loads(edited.read_bytes())
    purchase["payment_method"] = "barter"
    edited.write_text(json.dumps(purchase), encoding="utf-8")
    touched = tmp_path / "stores" / "store-003.json"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))
    kept = {edited: edited.read_bytes(), touched: touched.read_bytes()}

    written = generate(GeneratorConfig(purchases=5, seed=7), tmp_path)

    assert {path: path.read_bytes() for path in kept} == kept
    assert ours.read_bytes() != seed_42  # the generator's own file is replaced
    assert (written["purchases"].taken, written["purchases"].records) == (1, 4)
    assert written["purchases"].first_taken == [f"ord-00002.json ({NOT_THE_GENERATORS})"]
    assert written["stores"].first_taken == [f"store-003.json ({NOT_THE_GENERATORS})"]


def test_what_the_generator_did_not_write_survives_it_and_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    planted = plant_foreign_entries(root, tmp_path / "outside")
    before = snapshot(planted)

    written = generate(GeneratorConfig(purchases=20), root)
    assert snapshot(planted) == before
    assert {name: entity.taken for name, entity in written.items()} == {name: 5 for name in GENERATED_NAMES}
    assert written["purchases"].first_taken == [
        f"ord-00001.json ({NOT_THE_GENERATORS})",
        "ord-00002.json (a directory)",
        "ord-00003.json (a symbolic link)",
        "ord-00004.json (a symbolic link)",
        "ord-00005.json (a FIFO)",
    ]
    assert written["purchases"].records == 15

    for file_format in ("jsonl", "json"):  # a format switch removes the generator's own files only
        written = generate(GeneratorConfig(purchases=20, format=file_format), root)
        assert snapshot(planted) == before
    assert written["purchases"].records == 15
    assert list((root / OWN_FOLDER / SCRATCH).iterdir()) == []


def test_the_cli_leaves_what_it_did_not_write_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "data"
    planted = plant_foreign_entries(root, tmp_path / "outside")
    before = snapshot(planted)
    for file_format in ("json", "jsonl"):
        command = [sys.executable, "-m", "probablyfresh_dagster.generator", "--out", str(root), "--format", file_format]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert snapshot(planted) == before
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"Wrote to {root}: stores=0, products=0, customers=0, purchases=0; left alone 4 names held")
    assert f"purchases/purchases.jsonl ({NOT_THE_GENERATORS})" in line


def make_clean(project: Path) -> subprocess.CompletedProcess:
    """`make clean` of this project's Makefile in `project`, with this interpreter's virtualenv."""
    venv = Path(sys.executable).parent.parent
    command = ["make", "-s", "-f", str(PROJECT_ROOT / "Makefile"), "clean", f"VENV={venv}"]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=120)


def test_make_clean_removes_the_generators_files_and_nothing_of_the_users(tmp_path: Path) -> None:
    project = tmp_path / "project"
    root = project / "data"
    planted = plant_foreign_entries(root, tmp_path / "outside")
    generate(GeneratorConfig(purchases=20), root)
    edited = next(path for path in sorted((root / "stores").iterdir()) if path not in planted)
    edited.write_text('{"edited": true}', encoding="utf-8")  # the user's since they changed it
    (root / "_rejected").mkdir()
    (root / "_rejected" / "stores.jsonl").write_text("{}\n", encoding="utf-8")
    (project / ".probablyfresh").mkdir()
    inside = [path / "inside.json" for path in planted if path.is_dir() and not path.is_symlink()]
    folders = [root / name for name in GENERATED_NAMES]
    users = [*planted, edited, *inside]
    generated = {path for path in root.rglob("*") if path.parent in folders} - set(users)
    before = snapshot(users)

    done = make_clean(project)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Removed from data {len(generated)} files the generator wrote; nothing else\n"
    assert snapshot(users) == before
    assert set(root.rglob("*")) == {*users, *folders}  # _rejected and the generator's folder gone too
    assert not (project / ".probablyfresh").exists()


def test_make_clean_without_files_of_the_user_leaves_no_data_folder(tmp_path: Path) -> None:
    generate(GeneratorConfig(purchases=20), tmp_path / "data")
    done = make_clean(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data").exists()
    assert "Removed from data" in done.stdout


def test_an_entity_folder_on_another_file_system_is_an_error_naming_it(tmp_path: Path) -> None:
    """A file is written in the generator's scratch folder and renamed into place: one file system."""
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        if os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the test folder's file system here")
        (tmp_path / "purchases").symlink_to(elsewhere)
        with pytest.raises(OSError, match=f"{tmp_path / 'purchases'} is on another file system than"):
            generate(GeneratorConfig(purchases=3), tmp_path)
        assert list(elsewhere.iterdir()) == [] and list((tmp_path / "stores").iterdir()) == []
    finally:
        shutil.rmtree(elsewhere)


def test_resolve_seed_prefers_explicit_then_env_then_42(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEED", raising=False)
    assert resolve_seed(None) == 42
    monkeypatch.setenv("SEED", "7")
    assert resolve_seed(None) == 7
    assert resolve_seed(3) == 3
    monkeypatch.setenv("SEED", "seven")
    with pytest.raises(ValueError, match="SEED must be an integer"):
        resolve_seed(None)


def test_seed_env_is_used_when_no_seed_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small: dict[str, Any] = {"almost_stores": 2, "maybe_stores": 1, "products_per_category": 2, "purchases": 5}
    monkeypatch.setenv("SEED", "7")
    generate(GeneratorConfig(**small), tmp_path / "from_env")
    generate(GeneratorConfig(seed=8, **small), tmp_path / "explicit")
    monkeypatch.delenv("SEED")
    generate(GeneratorConfig(seed=7, **small), tmp_path / "seven")
    generate(GeneratorConfig(seed=8, **small), tmp_path / "eight")

    assert file_contents(tmp_path / "from_env") == file_contents(tmp_path / "seven")
    assert file_contents(tmp_path / "explicit") == file_contents(tmp_path / "eight")
    assert file_contents(tmp_path / "seven") != file_contents(tmp_path / "eight")


def test_cli_writes_files_with_custom_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


@pytest.mark.slow
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
        draw = default_draw(count, seed=1)
        before, _ = tracemalloc.get_traced_memory()
        all_purchases = list(iter_purchases(draw))
        list_size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "purchases").glob("*.json"))) == len(all_purchases) == count
    assert streamed_peak < bound < list_size


def default_draw(purchases: int, seed: int) -> PurchaseDraw:
    """What the purchases of a default generation from `seed` are drawn from, as `generate` makes it."""
    config, as_of, rng = GeneratorConfig(), date(2026, 11, 1), random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    stores = make_stores(config, rng, fake, as_of)
    products = make_products(config, rng, fake)
    customers = make_customers(stores, config, rng, fake, as_of)
    return PurchaseDraw.of(purchases, make_purchase_parts(stores, customers, products), rng, as_of)


def purchase_workers_of(process: psutil.Process) -> list[psutil.Process]:
    """The purchase workers among the children of `process` still at work (not exited)."""
    workers = []
    for child in process.children():
        with suppress(psutil.ZombieProcess, psutil.NoSuchProcess):
            if "probablyfresh_dagster.generator.purchase_workers" in child.cmdline():
                workers.append(child)
    return workers


def test_purchase_workers_render_in_order_what_one_process_draws(tmp_path: Path) -> None:
    """Three blocks, two worker processes: the same bytes as one process renders, every purchase
    once, in order, the same records `iter_purchases` (the `json` format) draws."""
    draw = default_draw(2 * PURCHASES_PER_BLOCK + 7, seed=5)
    blocks, workers_seen = [], []
    for block in rendered_blocks(draw, workers=2):
        workers_seen.append(len(purchase_workers_of(psutil.Process())))
        blocks.append(block)
    assert workers_seen[0] == 2
    assert blocks == list(rendered_blocks(draw, workers=1))
    assert [purchases for purchases, _ in blocks] == [PURCHASES_PER_BLOCK, PURCHASES_PER_BLOCK, 7]
    lines = [json.loads(line) for _, text in blocks for line in text.splitlines()]
    assert [line["purchase_id"] for line in lines] == [f"ord-{n:05d}" for n in range(1, draw.count + 1)]
    assert lines == list(iter_purchases(draw))
    assert purchase_workers_of(psutil.Process()) == []


@pytest.mark.parametrize("how", ["SIGKILL to the generator", "Ctrl-C to its process group"])
def test_a_generator_stopped_midway_leaves_no_purchase_worker_behind(tmp_path: Path, how: str) -> None:
    command = [sys.executable, "-m", "probablyfresh_dagster.generator", "--out", str(tmp_path), "--format", "jsonl"]
    generator = subprocess.Popen(
        [*command, "--purchases", "5000000"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As a shell starts a command: Ctrl-C's signal at its default, whatever this process's is.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while len(workers := purchase_workers_of(psutil.Process(generator.pid))) < 2:
            assert generator.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # blocks on their way
        if how.startswith("SIGKILL"):
            generator.send_signal(signal.SIGKILL)
        else:
            os.killpg(generator.pid, signal.SIGINT)
        _, errors = generator.communicate(timeout=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(generator.pid, signal.SIGKILL)
    assert generator.returncode != 0
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [] and len(gone) == 2
    assert "BrokenPipeError" not in errors
    assert not lock_is_held(tmp_path)
    assert not (tmp_path / "purchases" / "purchases.jsonl").exists()


def test_a_full_disk_mid_file_stops_the_workers_at_once_frees_its_space_and_the_next_generation_completes(tmp_path, monkeypatch):
    monkeypatch.setenv(MIN_FREE_BYTES_ENV, str(1 << 20))
    with small_filesystem(tmp_path / "fs", "48m") as root:
        with pytest.raises(OSError) as full:
            generate(GeneratorConfig(purchases=100_000, format="jsonl"), root)
        assert full.value.errno == errno.ENOSPC
        assert purchase_workers_of(psutil.Process()) == []  # while the error, and its traceback, are still held
        assert not (root / "purchases" / "purchases.jsonl").exists()
        assert list((root / OWN_FOLDER / SCRATCH).iterdir()) == []  # the file cut short gave its space back
        assert not lock_is_held(root)

        fill(root / OWN_FOLDER / SCRATCH, leave=0)  # what a generator killed mid-file leaves there
        written = generate(GeneratorConfig(purchases=12_000, format="jsonl"), root)  # two blocks: the workers again
        lines = (root / "purchases" / "purchases.jsonl").read_bytes().splitlines()
        assert written["purchases"].records == len(lines) == 12_000
        assert [json.loads(line)["purchase_id"] for line in lines] == [f"ord-{n:05d}" for n in range(1, 12_001)]


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
def test_invalid_config_is_rejected_before_touching_files(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    (tmp_path / "stores").mkdir()
    existing = tmp_path / "stores" / "store-001.json"
    existing.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        generate(GeneratorConfig(**overrides), tmp_path)
    assert existing.exists()


def test_empty_dataset_without_purchases_is_allowed(tmp_path: Path) -> None:
    config = GeneratorConfig(almost_stores=0, maybe_stores=0, products_per_category=0, purchases=0)
    assert records(generate(config, tmp_path)) == {"stores": 0, "products": 0, "customers": 0, "purchases": 0}
    assert all((tmp_path / folder).is_dir() for folder in FOLDERS)


def start_generator(root: Path, purchases: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "probablyfresh_dagster.generator", "--out", str(root), "--purchases", str(purchases)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def lock_is_held(root: Path) -> bool:
    with open(lock_path(root), "a") as lock:
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
    assert list((root / OWN_FOLDER / SCRATCH).iterdir()) == []


def test_a_killed_generator_leaves_nothing_partial_in_place_and_the_next_one_completes(tmp_path: Path) -> None:
    folder = tmp_path / "purchases"
    generator = start_generator(tmp_path, 200_000)
    deadline = time.monotonic() + 120
    while not folder.is_dir() or len(os.listdir(folder)) < 3000:
        assert generator.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    generator.send_signal(signal.SIGKILL)
    assert generator.wait(timeout=30) == -signal.SIGKILL
    assert not lock_is_held(tmp_path)
    for entity in ENTITIES:
        for path in (tmp_path / entity.name).iterdir():  # only whole files, each a generated record
            assert json.loads(path.read_bytes())[entity.key] == path.stem
    (folder / "ord-00001-copy.json").write_bytes((folder / "ord-00001.json").read_bytes())

    generate(GeneratorConfig(purchases=5), tmp_path)
    assert names(folder) == ["ord-00001-copy.json", *(f"ord-{n:05d}.json" for n in range(1, 6))]
    assert list((tmp_path / OWN_FOLDER / SCRATCH).iterdir()) == []


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
