"""The personal fields (phones and emails) a record declares: where they are, and how they are
normalized and encrypted before Kafka.

Which fields are personal is configuration (`Expectations.pii_fields`), one dotted path per field:
`phone`, `manager.email`, `contacts[].phone` (`[]`: every element of an array). The defaults are the
source documents' six fields (`Entity.pii`). A value found anywhere else is set aside instead (see
`pii_scan`).

Normalization, one rule for every personal value, whatever its field is called:

- a value holding `@` is an email: trimmed, lower-cased, without a `mailto:` prefix;
- any other value is a phone: `+7XXXXXXXXXX` when it parses as a Russian number, `+` and its digits
  when it is written as an international one (`+`, then 10 to 15 digits), else it is kept as
  written (trimmed) and counted as not normalized.

Either way the value is encrypted: nothing personal is ever published in clear, and a value that is
not a phone or an email is not a reason to lose its record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet

from probablyfresh_dagster.schema import FieldPath, Invalid

EACH = "[]"
"""The path segment (and suffix of a name) that stands for every element of an array."""

_EXTENSION = re.compile(r"(?:доб\.?|ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)
_NON_DIGITS = re.compile(r"\D")
_INTERNATIONAL = re.compile(r"\+[1-9][\d\s().-]*")
_NORMAL_PHONE = re.compile(r"\+[1-9]\d{9,14}")
_NORMAL_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def normalize_phone(phone: str) -> str:
    """`+7XXXXXXXXXX` when the number parses as Russian, `+<digits>` when it is international;
    otherwise the trimmed input.

    Accepts the usual ways of writing one: `+7 (912) 345-67-89`, `8 912 345 67 89`,
    `8(912)3456789`, `7 912 3456789`, a bare 10-digit `9123456789`, and an extension
    suffix such as `доб. 123`, which is dropped.
    """
    stripped = phone.strip()
    number = _EXTENSION.sub("", stripped).strip()
    digits = _NON_DIGITS.sub("", number)
    if number.startswith("+"):
        international = _INTERNATIONAL.fullmatch(number) and 10 <= len(digits) <= 15
        return "+" + digits if international else stripped
    if len(digits) == 10:
        digits = "7" + digits
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    return stripped


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, without a `mailto:` prefix."""
    email = email.strip().lower()
    return email.removeprefix("mailto:")


def normalize(value: str) -> str:
    """An email's or a phone's normal form (see the module docstring)."""
    return normalize_email(value) if "@" in value else normalize_phone(value)


def is_normalized(value: str) -> bool:
    """Whether `normalize(value)` is a phone or email in its normal form, not a value kept as written."""
    return (_NORMAL_EMAIL if "@" in value else _NORMAL_PHONE).fullmatch(value) is not None


@dataclass(frozen=True)
class PiiFields:
    """An entity's declared personal fields, parsed from their dotted paths."""

    paths: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, dotted: Iterable[str]) -> PiiFields:
        """`ValueError` names a path that is not `name(.name)*`, each name optionally ending in `[]`."""
        paths = []
        for text in dotted:
            segments: list[str] = []
            for name in text.split("."):
                base = name.removesuffix(EACH)
                if not base or EACH in base:
                    raise ValueError(f"personal field {text!r}: expected dotted names, each optionally ending in []")
                segments.append(base)
                if name.endswith(EACH):
                    segments.append(EACH)
            paths.append(tuple(segments))
        return cls(tuple(paths))

    def present(self, document: Any) -> Iterator[tuple[FieldPath, Any, str | int, Any]]:
        """Each declared value the document holds (not null, not empty): its path, the object or
        array holding it, its key or index there, and the value."""
        for path in self.paths:
            yield from _present(document, path, ())

    def covers(self, path: FieldPath) -> bool:
        """Whether `path` (indexes as ints) is one of the declared fields."""
        return tuple(EACH if type(part) is int else part for part in path) in self.paths


NO_FIELDS = PiiFields(())
"""No declared personal field: a message's view, whose personal fields are published encrypted."""


def _present(holder: Any, segments: tuple[str, ...], path: FieldPath) -> Iterator[tuple[FieldPath, Any, str | int, Any]]:
    head, rest = segments[0], segments[1:]
    if head == EACH:
        children: Iterable[tuple[str | int, Any]] = enumerate(holder) if type(holder) is list else ()
    else:
        children = ((head, holder[head]),) if type(holder) is dict and head in holder else ()
    for key, value in children:
        if rest:
            yield from _present(value, rest, (*path, key))
        elif value is not None and value != "":
            yield (*path, key), holder, key, value


def check_declared_are_text(document: Any, fields: PiiFields) -> None:
    """`Invalid` at the first declared personal value that is not a string (it is encrypted as text)."""
    for path, _, _, value in fields.present(document):
        if type(value) is not str:
            raise Invalid("a personal field must be a string (it is encrypted as text)", path)


def protect(document: dict[str, Any], fields: PiiFields, cipher: Fernet) -> int:
    """Normalize and encrypt each declared personal value in place; a missing or empty one stays as
    it is. Returns how many values were kept as written (see the module docstring).

    `Invalid` for a value that is not a string: it is refused rather than published as it is.
    """
    check_declared_are_text(document, fields)
    kept_as_written = 0
    for _, holder, key, value in list(fields.present(document)):
        normal = normalize(value)
        kept_as_written += not is_normalized(normal)
        holder[key] = cipher.encrypt(normal.encode()).decode()
    return kept_as_written
