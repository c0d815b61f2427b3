import json

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.pii import PiiFields, is_normalized, normalize, normalize_email, normalize_phone, protect
from probablyfresh_dagster.schema import Invalid

FIELDS = PiiFields.parse(["email", "phone"])


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+7 (912) 345-67-89", "+79123456789"),
        ("8 912 345 67 89", "+79123456789"),
        ("8(912)3456789", "+79123456789"),
        ("89123456789", "+79123456789"),
        ("79123456789", "+79123456789"),
        ("+7 912 345 6789", "+79123456789"),
        ("9123456789", "+79123456789"),
        ("  +7-912-345-67-89 ", "+79123456789"),
        ("+7 (495) 123-45-67 доб. 123", "+74951234567"),
        ("8 800 555 35 35 ext. 7", "+78005553535"),
        ("+7 (867) 565-0889", "+78675650889"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (555) 010-0199", "+15550100199"),
        ("12345", "12345"),
        ("+7 912", "+7 912"),
        ("звонить после 18:00", "звонить после 18:00"),
    ],
)
def test_phone_normalization(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Ivan.Petrov@Mail.RU", "ivan.petrov@mail.ru"),
        ("  anna@example.com\t", "anna@example.com"),
        ("MAILTO:Boss@Shop.Ru", "boss@shop.ru"),
        ("plain@example.org", "plain@example.org"),
    ],
)
def test_email_normalization(raw, expected):
    assert normalize_email(raw) == expected


def _customer() -> dict:
    return {
        "customer_id": "cus-1",
        "email": " Ivan@Example.COM ",
        "phone": "8 (912) 345-67-89",
        "store": {"manager": {"phone": "+7 999 000 11 22"}},
    }


def test_one_rule_for_every_personal_value_whatever_its_field():
    assert [normalize(v) for v in ("8 912 345 67 89", " Ivan@Mail.RU", "+44 20 7946 0958", "n/a")] == [
        "+79123456789",
        "ivan@mail.ru",
        "+442079460958",
        "n/a",
    ]
    assert [is_normalized(normalize(v)) for v in ("8 912 345 67 89", "Ivan@Mail.RU", "n/a", "12345", "a@b")] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_protect_encrypts_normalized_values_that_decrypt_back():
    cipher = Fernet(Fernet.generate_key())
    document = _customer()
    assert protect(document, FIELDS, cipher) == 0
    assert document["email"] != "ivan@example.com" and document["phone"] != "+79123456789"
    assert cipher.decrypt(document["email"].encode()).decode() == "ivan@example.com"
    assert cipher.decrypt(document["phone"].encode()).decode() == "+79123456789"
    assert document["customer_id"] == "cus-1"


def test_protect_covers_all_six_registry_paths_and_leaves_no_clear_text() -> None:
    cipher = Fernet(Fernet.generate_key())
    clear = {"phone": "8 912 345 67 89", "email": "Someone@Example.com"}
    assert sum(len(entity.pii) for entity in ENTITIES) == 6
    for entity in ENTITIES:
        fields = PiiFields.parse(entity.pii)
        document: dict = {}
        for path in fields.paths:
            holder = document
            for name in path[:-1]:
                holder = holder.setdefault(name, {})
            holder[path[-1]] = clear[path[-1]]
        protect(document, fields, cipher)
        for path in fields.paths:
            holder = document
            for name in path[:-1]:
                holder = holder[name]
            assert cipher.decrypt(holder[path[-1]].encode()).decode() == normalize(clear[path[-1]]), entity.name
        # Fernet tokens are URL-safe base64: no "@", and an 11-digit run is as good as impossible.
        text = json.dumps(document)
        assert "9123456789" not in text and "@" not in text, entity.name


def test_declared_fields_reach_into_arrays_and_count_what_is_kept_as_written():
    cipher = Fernet(Fernet.generate_key())
    fields = PiiFields.parse(["contacts[].value", "phones[]", "phone2"])
    document = {
        "contacts": [{"value": "8 912 345 67 89"}, {"value": "Boss@Shop.RU"}, {"other": 1}, "not an object"],
        "phones": ["+7 999 000 11 22", "call the shop"],
        "phone2": "",
    }
    assert protect(document, fields, cipher) == 1
    decrypted = [cipher.decrypt(c["value"].encode()).decode() for c in document["contacts"][:2]]
    assert decrypted == ["+79123456789", "boss@shop.ru"]
    assert [cipher.decrypt(p.encode()).decode() for p in document["phones"]] == ["+79990001122", "call the shop"]
    assert document["contacts"][2:] == [{"other": 1}, "not an object"] and document["phone2"] == ""


@pytest.mark.parametrize("path", ["", "a..b", "[]", "a.[]", "a[][]"])
def test_a_declared_path_must_be_dotted_names(path):
    with pytest.raises(ValueError, match="expected dotted names"):
        PiiFields.parse([path])


def test_protect_skips_missing_and_empty_fields_and_refuses_non_strings():
    cipher = Fernet(Fernet.generate_key())
    document = {"email": ""}
    protect(document, PiiFields.parse(["email", "phone", "manager.phone"]), cipher)
    assert document == {"email": ""}
    with pytest.raises(Invalid, match="must be a string") as refused:
        protect({"manager": {"phone": 79123456789}}, PiiFields.parse(["manager.phone"]), cipher)
    assert refused.value.field == "manager.phone"


def test_ciphertext_differs_each_time_and_never_equals_plaintext():
    def encrypted() -> str:
        document = {"phone": "+79123456789"}
        protect(document, PiiFields.parse(["phone"]), cipher)
        return document["phone"]

    cipher = Fernet(Fernet.generate_key())
    first, second = encrypted(), encrypted()
    assert first != second != "+79123456789"
