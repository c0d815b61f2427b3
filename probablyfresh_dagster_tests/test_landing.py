"""The landing zone: every bad input is set aside with file, record, field and reason; the good
ones reach the MART; the rejects file is never left half written."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import random
import signal
import stat
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probablyfresh_dagster.entities import CUSTOMERS, ENTITIES, LOAD_STAGES, PRODUCTS, PURCHASES, STORES, Entity, Stage
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.landing import (
    Rejection,
    RejectLog,
    read_documents,
    read_file,
    replacing_reject_log,
    source_ids,
    sources,
)
from probablyfresh_dagster.landing_folder import folder_fingerprint
from probablyfresh_dagster.pii import PiiFields
from probablyfresh_dagster.profiles import profile_resources
from probablyfresh_dagster.resources.files import DEFAULT_MAX_FILE_BYTES
from probablyfresh_dagster.schema import Invalid
from probablyfresh_dagster.settings import Settings

from .document_edits import changed, without
from .platforms import check_results, local_platform, materialization, rows, table_rows
from .processes import bound_unix_socket

CUSTOMER_PII = PiiFields.parse(CUSTOMERS.pii)
KEYED = object()
"""The expected record of a bad document: the `bad-<name>` key it was given."""


@dataclass(frozen=True)
class Bad:
    """A bad input: where it goes, what it holds, and what its rejection must say."""

    entity: Entity
    name: str | bytes
    """The file name (bytes for a name that is not UTF-8)."""
    content: bytes
    field: str
    reason: str
    """A fragment the reason must contain."""
    record: str | None = None


def encoded(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def keyed(entity: Entity, document: dict[str, Any], key: str) -> dict[str, Any]:
    return changed(document, entity.key, key)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def bad_inputs(good: dict[str, dict[str, Any]]) -> list[Bad]:
    """The corpus: at least one of each kind of input the landing zone must set aside."""
    store, product, customer, purchase = (good[e.name] for e in ENTITIES)

    def base(entity: Entity, name: str) -> dict[str, Any]:
        return keyed(entity, good[entity.name], f"bad-{name}")

    def document(entity: Entity, name: str, path: str, value: Any, field: str, reason: str, record=KEYED) -> Bad:
        """A generated document keyed `bad-<name>`, with `value` at `path`."""
        body = changed(base(entity, name), path, value)
        return Bad(entity, f"{name}.json", encoded(body), field, reason, f"bad-{name}" if record is KEYED else record)

    def missing(entity: Entity, name: str, field: str, record=KEYED) -> Bad:
        body = without(base(entity, name), field)
        return Bad(entity, f"{name}.json", encoded(body), field, "required", f"bad-{name}" if record is KEYED else record)

    def raw(entity: Entity, name: str | bytes, content: bytes, field: str, reason: str) -> Bad:
        return Bad(entity, name, content, field, reason)

    def repeated(entity: Entity, name: str, opening: bytes, repeat: bytes, field: str) -> Bad:
        """A generated document whose text holds one field name twice, `repeat` coming first."""
        text = encoded(base(entity, name)).replace(opening, opening + repeat, 1)
        return Bad(entity, f"{name}.json", text, field, "field name repeated", f"bad-{name}")

    return [
        # Not strict UTF-8 JSON, or not readable at all: the file is refused as a whole.
        raw(PURCHASES, "very_deep.json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "(file)", "depth limit"),
        raw(PURCHASES, "nan.json", b'{"purchase_id": "bad-nan", "total_amount": NaN}', "(file)", "not valid JSON"),
        raw(PURCHASES, "infinity.json", b'{"purchase_id": "x", "total_amount": Infinity}', "(file)", "not valid JSON"),
        raw(PURCHASES, "minus_infinity.json", b'{"purchase_id": "x", "total_amount": -Infinity}', "(file)", "JSON"),
        raw(PURCHASES, "overflowing_float.json", b'{"purchase_id": "x", "total_amount": 1e400}', "(file)", "infinity"),
        raw(CUSTOMERS, "latin1.json", '{"customer_id": "x", "first_name": "Élodie"}'.encode("latin-1"), "(file)", "not UTF-8"),
        raw(CUSTOMERS, "empty.json", b"", "(file)", "not valid JSON"),
        raw(CUSTOMERS, "syntax.json", b'{"customer_id": "x",}', "(file)", "not valid JSON"),
        raw(CUSTOMERS, "key_not_a_string.json", b'{1: "x"}', "(file)", "not valid JSON"),
        raw(CUSTOMERS, "lone_surrogate.json", b'{"customer_id": "x", "first_name": "\\ud800"}', "(file)", "surrogate"),
        raw(CUSTOMERS, "lone_surrogate_key.json", b'{"customer_id": "x", "\\udc00": 1}', "(file)", "surrogate"),
        raw(
            STORES,
            "oversize.json",
            encoded({"store_id": "x", "pad": "x" * DEFAULT_MAX_FILE_BYTES}),
            "(file)",
            f"over the limit of {DEFAULT_MAX_FILE_BYTES}",
        ),
        raw(STORES, "caf\xe9.json".encode("latin-1"), encoded(store), "(file)", "file name is not UTF-8"),
        raw(STORES, "proc_mem.json", b"", "(file)", "a symbolic link: not followed"),  # to /proc/self/mem
        raw(PRODUCTS, "array.json", b"[1, 2]", "(document)", "expected an object, got array"),
        Bad(PRODUCTS, "nul_in_key.json", b'{"id": "bad-nul", "a\\u0000b": 1}', "a\0b", "NUL", "bad-nul"),
        # What a store downstream cannot hold.
        document(PURCHASES, "deep", "extra", nested(40), "extra" + ".a" * 31, "deeper than 32 levels"),
        document(CUSTOMERS, "big_integer", "points", 2**63, "points", "64-bit"),
        document(CUSTOMERS, "huge_integer", "points", 10**30, "points", "1e+30 is too large"),
        document(PURCHASES, "huge_quantity", "items.0.quantity", 1e300, "items[0].quantity", "1e+300 is too large"),
        # One object, one value per name: JSON parsers keep the last, hiding the first.
        repeated(PURCHASES, "repeated_total", b"{", b'"total_amount": -5, ', "total_amount"),
        repeated(PURCHASES, "repeated_phone", b'"customer": {', b'"phone": "", ', "customer.phone"),
        repeated(CUSTOMERS, "repeated_escaped", b"{", b'"first_\\u006eame": "\\u0418", ', "first_name"),
        # A phone or an email outside the declared personal fields would reach Kafka in clear.
        document(CUSTOMERS, "second_phone", "phone2", "+7 912 345 67 89", "phone2", "clear-text phone number"),
        document(
            CUSTOMERS, "contact_email", "contacts", {"email": "Ivan@Example.com"}, "contacts.email", "clear-text email address"
        ),
        document(
            CUSTOMERS,
            "note_phone",
            "note",
            "звонить 8 (912) 345-67-89 после шести",
            "note",
            "outside the declared personal fields",
        ),
        document(
            PURCHASES,
            "delivery_phone",
            "delivery_address.phone",
            "89123456789",
            "delivery_address.phone",
            "clear-text phone number",
        ),
        document(
            CUSTOMERS, "phone_as_number", "contacts", [{"mobile": 79123456789}], "contacts[0].mobile", "clear-text phone number"
        ),
        document(CUSTOMERS, "email_key", "customer_id", "ivan@example.com", "customer_id", "clear-text email", record=None),
        document(CUSTOMERS, "reserved", "_id", "x", "_id", "reserved"),
        document(CUSTOMERS, "dollar_key", "preferences.$where", "1", "preferences.$where", "$"),
        document(CUSTOMERS, "empty_name", "", 1, '""', "empty field name"),
        Bad(
            STORES,
            "dotted_key.json",
            encoded({**base(STORES, "dotted_key"), "opening.hours": "24/7"}),
            "opening.hours",
            "contains a dot",
            "bad-dotted_key",
        ),
        document(STORES, "nul_in_string", "store_name", "a\0b", "store_name", "NUL"),
        document(STORES, "nested_array", "categories", [["a"]], "categories[0]", "inside an array"),
        # The entity's schema: what the MART would drop or misread.
        missing(CUSTOMERS, "missing_key", "customer_id", record=None),
        document(CUSTOMERS, "blank_key", "customer_id", "  ", "customer_id", "blank", record=None),
        document(CUSTOMERS, "numeric_key", "customer_id", 1000, "customer_id", "got number", record=None),
        document(CUSTOMERS, "phone_number", "phone", 79123456789, "phone", "expected a string"),
        missing(CUSTOMERS, "no_registration", "registration_date"),
        document(CUSTOMERS, "garbage_date", "birth_date", "31/02/1990", "birth_date", "YYYY-MM-DD"),
        document(CUSTOMERS, "future_date", "registration_date", "2099-01-01T00:00:00", "registration_date", "in the future"),
        document(CUSTOMERS, "ancient_birth", "birth_date", "1899-12-31", "birth_date", "before 1900"),
        document(CUSTOMERS, "preferences_text", "preferences", "card", "preferences", "an object"),
        document(PURCHASES, "string_amount", "total_amount", "100.50", "total_amount", "got string"),
        document(PURCHASES, "negative_amount", "total_amount", -5, "total_amount", "at least 0.01"),
        document(PURCHASES, "zero_amount", "total_amount", 0, "total_amount", "at least 0.01"),
        document(PURCHASES, "huge_amount", "total_amount", 1e12, "total_amount", "at most"),
        document(PURCHASES, "items_object", "items", {"a": 1}, "items", "expected an array"),
        document(PURCHASES, "items_empty", "items", [], "items", "must not be empty"),
        document(PURCHASES, "item_text", "items", ["milk"], "items[0]", "expected an object"),
        document(PURCHASES, "item_negative_quantity", "items.0.quantity", -1, "items[0].quantity", "must be positive"),
        document(PURCHASES, "item_blank_product", "items.0.product_id", "", "items[0].product_id", reason="blank"),
        document(PURCHASES, "customer_text", "customer", "cus-1000", "customer", "an object"),
        document(PURCHASES, "no_store", "store", None, "store", "required"),
        document(PURCHASES, "garbage_datetime", "purchase_datetime", "2024-13-45T10:00:00", "purchase_datetime", "ISO datetime"),
        document(STORES, "location_text", "location", "Москва", "location", "an object"),
        document(STORES, "blank_network", "store_network", " ", "store_network", "blank"),
        document(STORES, "epoch_inventory", "last_inventory_date", "1970-01-01", "last_inventory_date", "before 1970-01-02"),
        document(PRODUCTS, "tiny_price", "price", 0.001, "price", "at least 0.01"),
        document(PRODUCTS, "kbju_list", "kbju", [1, 2], "kbju", "an object"),
        document(PRODUCTS, "organic_text", "is_organic", "true", "is_organic", "a boolean"),
        missing(PRODUCTS, "no_group", "group"),
    ]


def write_bad_input(folder: Path, bad: Bad) -> None:
    name = bad.name if isinstance(bad.name, bytes) else bad.name.encode()
    path = os.path.join(os.fsencode(folder), name)
    if bad.name == "proc_mem.json":
        os.symlink("/proc/self/mem", path)
    else:
        with open(path, "wb") as handle:
            handle.write(bad.content)


def rejections(platform, entity: Entity) -> dict[str, dict[str, Any]]:
    path = platform.settings.data_dir / "_rejected" / f"{entity.name}.jsonl"
    return {Path(r["file"]).name: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def load_selection(entities=ENTITIES) -> str:
    return " ".join(entity.asset_name(stage) for entity in entities for stage in LOAD_STAGES)


def first_documents(root: Path) -> dict[str, dict[str, Any]]:
    return {entity.name: json.loads(min((root / entity.name).glob("*.json")).read_text(encoding="utf-8")) for entity in ENTITIES}


def test_every_bad_input_is_set_aside_and_every_good_file_reaches_the_mart(tmp_path):
    with local_platform(tmp_path) as platform:
        data = platform.settings.data_dir
        generate(GeneratorConfig(), data)
        good = first_documents(data)
        corpus = bad_inputs(good)
        for bad in corpus:
            write_bad_input(data / bad.entity.name, bad)
        bom = keyed(PURCHASES, good["purchases"], "ord-90001")
        (data / "purchases" / "bom.json").write_bytes(b"\xef\xbb\xbf" + encoded(bom))
        (data / "purchases" / "ord-90002.json.partial").write_bytes(b'{"purchase_id": "ord-900')

        result = platform.run(load_selection())

    assert result.success
    for entity in ENTITIES:
        expected = [bad for bad in corpus if bad.entity is entity]
        found = rejections(platform, entity)
        assert len(found) == len(expected) == materialization(result, entity.asset_name(Stage.MONGO_COLLECTION))["rejected"]
        for bad in expected:
            label = os.fsdecode(bad.name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            rejection = found[label]
            assert (rejection["record"], rejection["field"]) == (bad.record, bad.field), rejection
            assert bad.reason in rejection["reason"], rejection
        assert check_results(result)[f"{entity.name}_mart:counts_reconcile"].passed
    assert "caf\\xe9.json" in rejections(platform, STORES)
    assert rows(platform, "SELECT count() FROM stores_mart FINAL")[0][0] == 45
    assert rows(platform, "SELECT count() FROM products_mart FINAL")[0][0] == 100
    assert rows(platform, "SELECT count() FROM customers_mart FINAL")[0][0] == 45
    assert rows(platform, "SELECT count() FROM purchases_mart FINAL")[0][0] == 201
    lines = sum(
        len(json.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))["items"])
        for path in (data / "purchases").glob("*.json")
        if path.stem.startswith("ord-")
    )
    assert rows(platform, "SELECT count() FROM purchase_items_current")[0][0] == lines + len(bom["items"])
    ((bom_amount,),) = rows(platform, "SELECT total_amount FROM purchases_mart FINAL WHERE purchase_id = 'ord-90001'")
    assert float(bom_amount) == bom["total_amount"]


def test_the_first_rejections_are_in_the_asset_metadata_and_a_reload_keeps_the_list(tmp_path):
    with local_platform(tmp_path) as platform:
        generate(GeneratorConfig(), platform.settings.data_dir)
        folder = platform.settings.data_dir / "customers"
        for number in range(12):
            (folder / f"broken-{number:02d}.json").write_text("{", encoding="utf-8")
        first = platform.run(CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))
        listed = (platform.settings.data_dir / "_rejected" / "customers.jsonl").read_bytes()
        second = platform.run(CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))
    metadata = materialization(first, CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))
    assert metadata["rejected"] == 12
    table = table_rows(metadata["first_rejections"])
    assert table[0] == ("file", "record", "field", "reason") and len(table) == 1 + 10
    first = [str(value) for value in table[1]]
    assert any("(file)" in cell for cell in first) and any("not valid JSON" in cell for cell in first)
    assert materialization(second, CUSTOMERS.asset_name(Stage.MONGO_COLLECTION))["rejected"] == 12
    assert (platform.settings.data_dir / "_rejected" / "customers.jsonl").read_bytes() == listed
    assert [p.name for p in (platform.settings.data_dir / "_rejected").iterdir()] == ["customers.jsonl"]


def test_the_size_limit_comes_from_the_environment_or_the_run_config(tmp_path, monkeypatch):
    settings = Settings(state_dir=tmp_path / "state", data_dir=tmp_path / "data")
    assert profile_resources(settings)["files"].max_file_bytes == DEFAULT_MAX_FILE_BYTES
    monkeypatch.setenv("PROBABLYFRESH_MAX_FILE_BYTES", "2000")
    assert profile_resources(settings)["files"].max_file_bytes == 2000
    monkeypatch.setenv("PROBABLYFRESH_MAX_FILE_BYTES", "2k")
    with pytest.raises(ValueError, match="PROBABLYFRESH_MAX_FILE_BYTES must be a whole number"):
        profile_resources(settings)
    monkeypatch.delenv("PROBABLYFRESH_MAX_FILE_BYTES")

    with local_platform(tmp_path) as platform:
        generate(GeneratorConfig(purchases=3), platform.settings.data_dir)
        files = {"root": str(platform.settings.data_dir), "max_file_bytes": 1000}
        result = platform.defs.resolve_job_def(pipeline_job.name).execute_in_process(
            instance=platform.instance,
            asset_selection=[PURCHASES.asset_key(Stage.MONGO_COLLECTION)],
            run_config={"resources": {"files": {"config": files}}},
        )
    assert materialization(result, PURCHASES.asset_name(Stage.MONGO_COLLECTION))["rejected"] == 3
    assert all("over the limit of 1000" in r["reason"] for r in rejections(platform, PURCHASES).values())


def test_a_load_that_fails_keeps_the_previous_rejects_file(tmp_path):
    path = tmp_path / "_rejected" / "stores.jsonl"
    with replacing_reject_log(path) as rejects:
        rejects.add(Rejection("old.json", None, "(file)", "old"))
    previous = path.read_bytes()
    with pytest.raises(RuntimeError), replacing_reject_log(path) as rejects:
        rejects.add(Rejection("new.json", None, "(file)", "new"))
        raise RuntimeError("the document store went away")
    assert path.read_bytes() == previous
    assert sorted(p.name for p in path.parent.iterdir()) == ["stores.jsonl"]


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from probablyfresh_dagster.landing import Rejection, replacing_reject_log

with replacing_reject_log(Path(sys.argv[1])) as rejects:
    for number in range(2000):
        rejects.add(Rejection(f"new-{number}.json", None, "(file)", "new"))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_while_writing_rejects_leaves_the_previous_list_complete(tmp_path):
    path = tmp_path / "_rejected" / "stores.jsonl"
    with replacing_reject_log(path) as rejects:
        for number in range(3):
            rejects.add(Rejection(f"old-{number}.json", None, "(file)", "old"))
    previous = path.read_bytes()
    writer = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, timeout=60)
    assert writer.returncode == -signal.SIGKILL, writer.stderr
    assert path.read_bytes() == previous
    (partial,) = [p for p in path.parent.iterdir() if p != path]
    assert partial.name.startswith(".stores.jsonl.") and b"new-1000.json" in partial.read_bytes()


def test_an_entry_replaced_after_the_listing_is_set_aside_when_opened_not_raised(tmp_path):
    """The listing sets aside what is not a regular file; opening holds for what replaced a file since."""
    os.mkfifo(tmp_path / "pipe.json")
    os.symlink(tmp_path / "pipe.json", tmp_path / "link.json")
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        refusals = {}
        for name in ("gone.json", "pipe.json", "link.json"):
            with pytest.raises(Invalid) as refused:
                read_file(folder, name, DEFAULT_MAX_FILE_BYTES)
            refusals[name] = (refused.value.field, refused.value.reason)
    finally:
        os.close(folder)
    assert refusals == {
        "gone.json": ("(file)", "cannot be read: No such file or directory"),
        "pipe.json": ("(file)", "a FIFO: not read"),
        "link.json": ("(file)", "a symbolic link: not followed"),
    }


def plant_entries_that_are_not_regular_files(folder: Path, outside: Path, record: dict[str, Any]) -> dict[str, str]:
    """In `folder`, entries named like landing files that are not regular files, each next to (or
    pointing at) a valid record keyed `ord-9xxxx` that must never load; returns each name's reason."""
    outside.mkdir()
    (outside / "ord-90001.json").write_bytes(encoded(keyed(PURCHASES, record, "ord-90001")))
    (outside / "lines.jsonl").write_bytes(encoded(keyed(PURCHASES, record, "ord-90002")) + b"\n")
    links = {
        "absolute.json": outside / "ord-90001.json",
        "relative.json": Path("..", "..", outside.name, "ord-90001.json"),
        "batch.jsonl": outside / "lines.jsonl",
        "inside.json": Path("ord-00001.json"),
        "passwd.json": Path("/etc/passwd"),
        "dangling.json": Path("nowhere.json"),
        "to_a_folder.json": Path(".."),
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    (folder / "folder.json").mkdir()
    (folder / "folder.json" / "ord-90003.json").write_bytes(encoded(keyed(PURCHASES, record, "ord-90003")))
    os.mkfifo(folder / "pipe.json")
    bound_unix_socket(folder, "socket.jsonl").close()  # the file stays, as a socket
    reasons = {name: "a symbolic link: not followed" for name in links}
    reasons |= {
        "folder.json": "a directory: not read",
        "pipe.json": "a FIFO: not read",
        "socket.jsonl": "a socket: not read",
    }
    try:
        os.mknod(folder / "null.json", stat.S_IFCHR | 0o600, os.stat("/dev/null").st_rdev)
        reasons["null.json"] = "a character device: not read"
    except PermissionError:
        pass  # creating a device needs CAP_MKNOD
    return reasons


def plant_ignored_entries(folder: Path, record: dict[str, Any]) -> list[str]:
    """Entries whose names are not landing files', valid records among them; returns their labels."""
    (folder / ".hidden.json").write_bytes(encoded(keyed(PURCHASES, record, "ord-90004")))
    (folder / "ORD-90005.JSON").write_bytes(encoded(keyed(PURCHASES, record, "ord-90005")))
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "ord-90006.json").write_bytes(encoded(keyed(PURCHASES, record, "ord-90006")))
    return [".hidden.json", "ORD-90005.JSON", "notes.txt", "sub/"]


def test_only_regular_files_inside_the_folder_are_read_the_rest_set_aside_or_listed(tmp_path):
    with local_platform(tmp_path) as platform:
        data = platform.settings.data_dir
        generate(GeneratorConfig(purchases=1), data)
        record = json.loads((data / "purchases" / "ord-00001.json").read_bytes())
        folder = data / "purchases"
        reasons = plant_entries_that_are_not_regular_files(folder, tmp_path / "outside", record)
        ignored = plant_ignored_entries(folder, record)

        result = platform.run()  # the generator, then the loads, over the planted entries
        assert result.success
        found = rejections(platform, PURCHASES)
        assert {name: (r["field"], r["record"], r["reason"]) for name, r in found.items()} == {
            name: ("(file)", None, reason) for name, reason in reasons.items()
        }
        loaded_ids = "SELECT count(), countIf(purchase_id LIKE 'ord-9%') FROM purchases_mart FINAL"
        assert rows(platform, loaded_ids) == [(200, 0)]
        with platform.resource("mongo").open() as store:
            assert store.count(PURCHASES.name) == 200
        assert all(check.passed for check in check_results(result).values())

        loaded = materialization(result, PURCHASES.asset_name(Stage.MONGO_COLLECTION))
        assert (loaded["rejected"], loaded["ignored"]) == (len(reasons), len(ignored))
        assert sorted(loaded["first_ignored"].split(", ")) == sorted(ignored)
        warnings = [e.user_message for e in platform.instance.all_logs(result.run_id) if e.level == logging.WARNING]
        assert any(m.startswith(f"Ignored {len(ignored)} entries of {folder}") for m in warnings)
        assert sorted(source_ids(folder, DEFAULT_MAX_FILE_BYTES)) == sorted(
            source.source_id for source in sources(folder, DEFAULT_MAX_FILE_BYTES)
        )

        assert loaded["folder_fingerprint"] == folder_fingerprint(folder)
        (folder / "late.json").symlink_to("ord-00002.json")  # a new link changes what the sensor compares
        assert folder_fingerprint(folder) != loaded["folder_fingerprint"]
        reloaded = platform.run(PURCHASES.asset_name(Stage.MONGO_COLLECTION))
    assert materialization(reloaded, PURCHASES.asset_name(Stage.MONGO_COLLECTION))["rejected"] == len(reasons) + 1
    assert rejections(platform, PURCHASES)["late.json"]["reason"] == "a symbolic link: not followed"


def test_the_root_and_entity_folders_may_be_links(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "root").mkdir(parents=True)
    (elsewhere / "purchases").mkdir()
    (tmp_path / "data").symlink_to(elsewhere / "root")
    (elsewhere / "root" / "purchases").symlink_to(elsewhere / "purchases")
    with local_platform(tmp_path) as platform:
        result = platform.run()
    assert result.success and all(check.passed for check in check_results(result).values())
    assert len(list((elsewhere / "purchases").glob("ord-*.json"))) == 200
    assert rows(platform, "SELECT count() FROM purchases_mart FINAL") == [(200,)]


ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    0.001,
    2**63,
    -(2**63) - 1,
    1e300,
    "",
    " ",
    "\0",
    "2099-01-01",
    "1969-12-31T23:59:59Z",
    "31/12/2020",
    [],
    [[]],
    [None],
    {},
    {"$set": 1},
    {"a.b": 1},
    {"": 1},
    {"_id": 1},
)
"""Values of every JSON kind that some rule refuses somewhere."""


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found = [prefix] if prefix else []
    for part, child in children:
        found += paths_of(child, (*prefix, part))
    return found


def test_no_mangled_file_escapes_the_reader(tmp_path):
    """Thousands of random breakages of real files: each file is loaded or set aside, none raises."""
    generate(GeneratorConfig(purchases=20), tmp_path / "data")
    rng = random.Random(7)
    for entity in ENTITIES:
        sources = sorted((tmp_path / "data" / entity.name).glob("*.json"))
        folder = tmp_path / "mangled" / entity.name
        folder.mkdir(parents=True)
        for number in range(400):
            source = rng.choice(sources)
            text = source.read_bytes()
            if number % 2:
                document = json.loads(text)
                path = rng.choice(paths_of(document))
                holder = document
                for part in path[:-1]:
                    holder = holder[part]
                holder[path[-1]] = rng.choice(ODD_VALUES)
                text = json.dumps(document, ensure_ascii=False).encode()
            else:
                at = rng.randrange(len(text))
                text = text[:at] + rng.choice([b"", b"[", b"]", b"{", b'"', b"\\", b"e9", b"\xff", b"\\ud800"]) + text[at + 1 :]
            (folder / f"{number:03d}.json").write_bytes(text)
        rejects = RejectLog(io.StringIO())
        loaded = sum(1 for _ in read_documents(entity, folder, rejects, DEFAULT_MAX_FILE_BYTES, PiiFields.parse(entity.pii)))
        assert loaded + rejects.count == 400
        assert rejects.count > 150


def batch_file(path: Path, lines: list[bytes]) -> Path:
    """Write the lines as a batch file, gzipped when its name ends in `.gz`."""
    content = b"".join(lines)
    path.write_bytes(gzip.compress(content) if path.name.endswith(".gz") else content)
    return path


def generated_customer(root: Path) -> dict[str, Any]:
    generate(GeneratorConfig(purchases=0), root)
    return json.loads((root / "customers" / "cus-1000.json").read_bytes())


def customer_line(good: dict[str, Any], key: str, **changes: Any) -> bytes:
    return encoded({**keyed(CUSTOMERS, good, key), **changes}) + b"\n"


@pytest.mark.parametrize("name", ["batch.jsonl", "batch.jsonl.gz"])
def test_bad_lines_are_set_aside_by_file_and_line_while_the_others_flow(tmp_path, name):
    good = generated_customer(tmp_path / "data")
    folder = tmp_path / "customers"
    folder.mkdir()
    batch_file(
        folder / name,
        [
            customer_line(good, "cus-1"),
            b"   \n",
            b'{"customer_id": "cus-3",\n',
            customer_line(good, "cus-4", phone=79123456789),
            customer_line(good, "cus-5", pad="x" * 5000),
            customer_line(good, "cus-6").rstrip(b"\n"),
        ],
    )
    rejects = RejectLog(io.StringIO())
    documents = list(read_documents(CUSTOMERS, folder, rejects, 4000, CUSTOMER_PII))
    assert [(d.source_id, d.key) for d in documents] == [(f"{name}/1", "cus-1"), (f"{name}/6", "cus-6")]
    assert documents[0].body == keyed(CUSTOMERS, good, "cus-1")
    assert [(Path(r.file).name, r.line, r.record, r.field) for r in rejects.first] == [
        (name, 3, None, "(line)"),
        (name, 4, "cus-4", "phone"),
        (name, 5, None, "(line)"),
    ]
    assert "not valid JSON" in rejects.first[0].reason
    assert rejects.first[2].reason.startswith("line of ") and "over the limit of 4000" in rejects.first[2].reason


def test_a_truncated_or_foreign_gz_is_set_aside_where_it_breaks_keeping_the_lines_before(tmp_path):
    good = generated_customer(tmp_path / "data")
    folder = tmp_path / "customers"
    folder.mkdir()
    whole = gzip.compress(b"".join(customer_line(good, f"cus-{n}") for n in range(1, 2001)))
    (folder / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "plain.jsonl.gz").write_bytes(customer_line(good, "cus-plain"))
    rejects = RejectLog(io.StringIO())
    documents = list(read_documents(CUSTOMERS, folder, rejects, DEFAULT_MAX_FILE_BYTES, CUSTOMER_PII))
    loaded = [d.source_id for d in documents]
    read = len(loaded)
    assert 0 < read < 2000 and loaded == [f"truncated.jsonl.gz/{n}" for n in range(1, read + 1)]
    found = {Path(r.file).name: r for r in rejects.first}
    assert (found["truncated.jsonl.gz"].line, found["truncated.jsonl.gz"].field) == (read + 1, "(file)")
    assert found["truncated.jsonl.gz"].reason.startswith(f"cannot be read past line {read}: Compressed file ended")
    assert (found["plain.jsonl.gz"].line, found["plain.jsonl.gz"].field) == (1, "(file)")
    assert "Not a gzipped file" in found["plain.jsonl.gz"].reason
    assert rejects.count == 2


def test_a_batch_file_is_read_a_line_at_a_time_however_long_it_or_a_line_is(tmp_path):
    (tmp_path / "huge.jsonl").write_bytes(b'{"pad": "' + b"x" * 40_000_000 + b'"}\n' + b"{}\n" * 20_000)
    with open(os.devnull, "w") as nowhere:
        rejects = RejectLog(nowhere)
        tracemalloc.start()
        try:
            assert list(read_documents(CUSTOMERS, tmp_path, rejects, DEFAULT_MAX_FILE_BYTES, CUSTOMER_PII)) == []
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert rejects.count == 20_001
    assert rejects.first[0].reason == f"line of 40000011 bytes, over the limit of {DEFAULT_MAX_FILE_BYTES}"
    assert peak < 4 * DEFAULT_MAX_FILE_BYTES


def test_batch_lines_reconcile_and_a_rerun_publishes_only_the_lines_that_changed(tmp_path):
    load = load_selection([CUSTOMERS])
    publish = f"{CUSTOMERS.asset_name(Stage.MONGO_COLLECTION)} {CUSTOMERS.asset_name(Stage.KAFKA_TOPIC)}"
    with local_platform(tmp_path) as platform:
        generate(GeneratorConfig(purchases=0, format="jsonl"), platform.settings.data_dir)
        path = platform.settings.data_dir / "customers" / "customers.jsonl"
        first_customer = json.loads(path.read_bytes().split(b"\n")[0])
        with path.open("ab") as handle:
            handle.write(b"{not json\n" + customer_line(first_customer, "cus-bad", phone=7))
        lines = path.read_bytes().splitlines(keepends=True)
        first = platform.run(load_selection([STORES, CUSTOMERS]))  # a customers check reads stores_mart
        unchanged = platform.run(publish)
        lines[6] = customer_line(json.loads(lines[6]), "cus-1006", gender="unknown")
        path.write_bytes(b"".join(lines))
        changed = platform.run(load)
    assert first.success and unchanged.success and changed.success
    assert materialization(first, "customers_kafka_topic")["published"] == 45
    listed = (platform.settings.data_dir / "_rejected" / "customers.jsonl").read_text(encoding="utf-8").splitlines()
    assert [(r["line"], r["field"]) for r in map(json.loads, listed)] == [(46, "(line)"), (47, "phone")]
    reconcile = check_results(first)["customers_mart:counts_reconcile"]
    assert reconcile.passed and reconcile.metadata["rejected_files"].value == 2
    assert materialization(unchanged, "customers_kafka_topic")["published"] == 0
    assert materialization(changed, "customers_kafka_topic")["published"] == 1
    assert rows(platform, "SELECT gender FROM customers_mart FINAL WHERE customer_id = 'cus-1006'") == [("unknown",)]
    assert check_results(changed)["customers_mart:counts_reconcile"].passed
