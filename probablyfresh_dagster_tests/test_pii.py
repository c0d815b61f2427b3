import json
import re

import pytest
from cryptography.fernet import Fernet

from probablyfresh_dagster.entities import ENTITIES
from probablyfresh_dagster.pii import CLEAR_EMAIL, CLEAR_PHONE, normalize_email, normalize_phone, protect


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
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("12345", "12345"),
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


def test_protect_encrypts_normalized_values_that_decrypt_back():
    cipher = Fernet(Fernet.generate_key())
    document = protect(_customer(), [("email",), ("phone",)], cipher)
    assert document["email"] != "ivan@example.com" and document["phone"] != "+79123456789"
    assert cipher.decrypt(document["email"].encode()).decode() == "ivan@example.com"
    assert cipher.decrypt(document["phone"].encode()).decode() == "+79123456789"
    assert document["customer_id"] == "cus-1"


def test_protect_covers_all_six_registry_paths_and_leaves_no_clear_text():
    cipher = Fernet(Fernet.generate_key())
    clear = {"phone": "8 912 345 67 89", "email": "Someone@Example.com"}
    pii_paths = [path for entity in ENTITIES for path in entity.pii]
    assert len(pii_paths) == 6
    for entity in ENTITIES:
        document: dict = {}
        for path in entity.pii:
            holder = document
            for name in path[:-1]:
                holder = holder.setdefault(name, {})
            holder[path[-1]] = clear[path[-1]]
        text = json.dumps(protect(document, entity.pii, cipher))
        assert "912" not in text and "@" not in text, entity.name


def test_protect_skips_missing_and_empty_fields_and_refuses_non_strings():
    cipher = Fernet(Fernet.generate_key())
    assert protect({"email": ""}, [("email",), ("phone",), ("manager", "phone")], cipher) == {"email": ""}
    with pytest.raises(ValueError, match="manager.phone must be a string"):
        protect({"manager": {"phone": 79123456789}}, [("manager", "phone")], cipher)


def test_ciphertext_differs_each_time_and_never_equals_plaintext():
    cipher = Fernet(Fernet.generate_key())
    first, second = (protect({"phone": "+79123456789"}, [("phone",)], cipher)["phone"] for _ in range(2))
    assert first != second != "+79123456789"


@pytest.mark.parametrize(
    "json_text, leaks",
    [
        ('{"email":"ivan@example.com"}', True),
        ('{"phone":"+79123456789"}', True),
        ('{"phone":"8 (912) 345-67-89"}', True),
        ('{"phone":"+7 (867) 565-0889"}', True),
        ('{"barcode":"4601234567893"}', False),
        ('{"inn":"7701234567"}', False),
        ('{"inn":"770123456789"}', False),
        ('{"website":"https://shop.example.ru"}', False),
    ],
)
def test_clear_text_patterns(json_text, leaks):
    pattern = re.compile(f"{CLEAR_EMAIL}|{CLEAR_PHONE}")
    assert bool(pattern.search(json_text)) is leaks


def test_clear_text_patterns_never_match_fernet_tokens():
    cipher = Fernet(Fernet.generate_key())
    pattern = re.compile(f"{CLEAR_EMAIL}|{CLEAR_PHONE}")
    for i in range(2000):
        token = cipher.encrypt(f"+7912{i:07d}".encode()).decode()
        assert not pattern.search(json.dumps({"phone": token}))
