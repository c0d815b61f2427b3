"""The clear-text rule: what counts as a phone or an email in any value, the fast scan of a record's
JSON text against the exact walk, and the same rule in ClickHouse."""

import json
import random
from pathlib import Path

import orjson
import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.writing import generate
from probablyfresh_dagster.pii import NO_FIELDS, PiiFields
from probablyfresh_dagster.pii_scan import (
    EMAIL_KIND,
    PHONE_KIND,
    SQL_EMAIL,
    SQL_PHONE,
    _clear_text_in,
    clear_text_in_message,
    undeclared_clear_text,
)
from probablyfresh_dagster.resources.clickhouse import ClickHouseResource

NOTHING = NO_FIELDS
LEAKS = {
    "+7 (912) 345-67-89": PHONE_KIND,
    "8 912 345 67 89": PHONE_KIND,
    "89123456789": PHONE_KIND,
    "+79123456789": PHONE_KIND,
    "8(912)3456789": PHONE_KIND,
    "+44 20 7946 0958": PHONE_KIND,
    "+1 (555) 010-0199": PHONE_KIND,
    "звонить 8 912 345-67-89 после шести": PHONE_KIND,
    "тел.:89123456789": PHONE_KIND,
    "ivan@example.com": EMAIL_KIND,
    "  Ivan.Petrov@Mail.RU ": EMAIL_KIND,
    "пишите на anna@почта.рф, спасибо": EMAIL_KIND,
    "mailto:boss@shop.ru": EMAIL_KIND,
}
DECOYS = [
    "ord-79123456789",
    "cus-1000",
    "store-045",
    "prd-1099",
    "LOYAL-8912345678",
    "LOYAL-A909A9D1C1",
    "7701234567",
    "770123456789",
    "4601234567893",
    "8901234567890",
    "2026-08-20T10:20:30+03:00",
    "2026-11-01",
    "2026-11-01 12:34:56.123456",
    "55.7558",
    "-135.123456",
    "131.860452",
    "648236",
    "+03:00",
    "https://shop.example.ru",
    "@handle",
    "a@b",
    "ООО «Ромашка»",
    "12:34",
    "1 234 567,89 ₽",
    "v1.2.3",
    "x@y.z",
]


@pytest.mark.parametrize("text, kind", LEAKS.items())
def test_a_phone_or_email_anywhere_in_a_string_is_clear_text(text, kind):
    for document in ({"note": text}, {"a": [{"b": {"c": text}}]}, {text: True}):
        found = undeclared_clear_text(orjson.dumps(document), document, NOTHING)
        assert found is not None and found.kind == kind, document
    assert clear_text_in_message(orjson.dumps({"note": text})).kind == kind


@pytest.mark.parametrize("text", DECOYS)
def test_ids_inns_barcodes_dates_and_amounts_are_not_phones(text):
    document = {"value": text, "nested": [text, {"x": text}]}
    assert undeclared_clear_text(orjson.dumps(document), document, NOTHING) is None


def test_integers_that_read_as_phones_count_and_floats_do_not():
    for number, leaks in ((79123456789, True), (89123456789, True), (7912345678, False), (-79123456789, False)):
        document = {"n": number}
        assert (undeclared_clear_text(orjson.dumps(document), document, NOTHING) is not None) is leaks, number
    for number in (7912345678.9, 79123456789.5, 0.79123456789, 1.5):
        document = {"amount": number}
        assert undeclared_clear_text(orjson.dumps(document), document, NOTHING) is None, number


def test_the_field_is_named_never_the_value():
    document = {"customer": {"phone": "8 912 345 67 89", "contacts": [{"kind": "home", "value": "8 (495) 123-45-67"}]}}
    found = undeclared_clear_text(orjson.dumps(document), document, PiiFields.parse(["customer.phone"]))
    refusal = found.invalid("outside the declared fields")
    assert refusal.field == "customer.contacts[0].value"
    assert "495" not in refusal.reason and "phone number" in refusal.reason
    document = {"contacts": {"ivan@example.com": "primary"}}
    name = undeclared_clear_text(orjson.dumps(document), document, NOTHING).invalid("here")
    assert (name.field, name.reason) == ("contacts", "a field name holds a clear-text email address here")


def test_declared_values_may_hold_them_and_an_equal_undeclared_copy_may_not():
    fields = PiiFields.parse(["phone", "email", "contacts[].phone"])
    clean = {"phone": "8 912 345 67 89", "email": "a@example.com", "contacts": [{"phone": "+7 999 000 11 22"}]}
    assert undeclared_clear_text(orjson.dumps(clean), clean, fields) is None
    copied = {**clean, "phone2": clean["phone"]}
    assert undeclared_clear_text(orjson.dumps(copied), copied, fields).path == ("phone2",)
    first = {"phone2": clean["phone"], **clean}  # the copy before the declared one in the text
    assert undeclared_clear_text(orjson.dumps(first), first, fields).path == ("phone2",)


def test_escaped_text_is_judged_as_parsed():
    text = json.dumps({"note": "line one\nтел. 8 912 345 67 89", "x": "\u0438van@example.com"}, ensure_ascii=True)
    document = json.loads(text)
    assert undeclared_clear_text(text.encode(), document, NOTHING).path == ("note",)


def test_the_fast_scan_agrees_with_the_exact_walk_on_random_documents() -> None:
    """The fast path may only say "nothing here" when the exact walk finds nothing: shapes mixing
    declared and undeclared copies, decoys, keys and numbers, in JSON written three ways."""
    rng = random.Random(17)
    pool = [*LEAKS, *DECOYS, 79123456789, 123, 7912345678.9, None, True]
    declared = PiiFields.parse(["p", "a.p", "l[].p"])
    for _ in range(3000):
        document: dict = {}
        for _ in range(rng.randint(1, 5)):
            value = rng.choice(pool)
            target = rng.choice(["p", "a.p", "l[].p", "q", "a.q", "l[].q", "key"])
            if target == "key" and isinstance(value, str):
                document[value] = 1
            elif target.startswith("a."):
                document.setdefault("a", {})[target[2:]] = value
            elif target.startswith("l[]."):
                document.setdefault("l", []).append({target[4:]: value})
            else:
                document[target] = value
        exact = _exact(document, declared)
        for text in (orjson.dumps(document), json.dumps(document, ensure_ascii=False, indent=2).encode()):
            found = undeclared_clear_text(text, document, declared)
            assert (found is None) == (exact is None), (document, text)


def _exact(document, declared):
    return next(_clear_text_in(document, (), declared), None)


def test_fernet_tokens_never_hold_clear_text():
    cipher = Fernet(Fernet.generate_key())
    for i in range(3000):
        token = cipher.encrypt(f"+7912{i:07d}".encode()).decode()
        assert clear_text_in_message(orjson.dumps({"phone": token, "n": i})) is None


@pytest.mark.parametrize("file_format", ["json", "jsonl"])
def test_nothing_our_generator_writes_is_taken_for_clear_text_outside_its_fields(tmp_path: Path, file_format):
    generate(GeneratorConfig(purchases=2000, format=file_format), tmp_path)
    for entity in ENTITIES:
        fields = PiiFields.parse(entity.pii)
        for path in (tmp_path / entity.name).iterdir():
            for text in path.read_bytes().splitlines() if file_format == "jsonl" else [path.read_bytes()]:
                document = orjson.loads(text)
                assert undeclared_clear_text(text, document, fields) is None, (path.name, text[:200])


def test_clickhouse_finds_a_subset_of_what_python_finds(tmp_path: Path):
    """RAW's check (re2 over the JSON text) must never fail on a message the loader let through,
    and must find the clear text a plain string holds."""
    samples = [{"note": text} for text in [*LEAKS, *DECOYS]] + [
        {"n": 79123456789},
        {"amount": 79123456789.5},
        {"amount": 7.9123456789e10},
        {"x": 0.79123456789},
    ]
    texts = [orjson.dumps(sample).decode() for sample in samples]
    with ClickHouseResource(dsn=f"chdb:///{tmp_path / 'clickhouse'}").client() as client:
        matched = client.query(
            "SELECT match(t, {phone:String}) OR match(t, {email:String}) FROM (SELECT arrayJoin({texts:Array(String)}) AS t)",
            parameters={"texts": texts, "phone": SQL_PHONE, "email": SQL_EMAIL},
        ).result_rows
    for text, (sql,) in zip(texts, matched, strict=True):
        python = clear_text_in_message(text.encode()) is not None
        assert not sql or python, text
        if any(leak in text for leak in LEAKS if "\\" not in json.dumps(leak, ensure_ascii=False)):
            assert sql, text
