"""Finding a clear-text phone or email in any value of a record or a message, and naming its field.

One rule, applied in three places: the landing sets aside a record holding one outside its declared
personal fields (`pii.PiiFields`), the Kafka stage withholds a document that would publish one, and
the RAW loader sets aside a message holding one (another producer's, an older version's) by its
coordinates, so it is never copied into ClickHouse. Clear-text personal data is:

- a phone in a string (a value or a field name, at any depth): `+` and 10 to 15 digits, or `7` or
  `8` and 10 digits, digits separated by at most two of ` ().-` or white space, with no letter,
  digit, `_`, `.`, `+` or `-` just before it and no digit just after it. So ids (`ord-79123456789`),
  INNs (10 or 12 digits), barcodes (13), dates, coordinates and amounts never look like phones;
- an email in a string: `local@domain.tld`, a top-level domain of two characters or more;
- an integer that reads as a phone (`79123456789`).

Fernet tokens (url-safe base64) can hold neither.

Walking every string of a record from Python would cost about as much as parsing it, so the JSON
text is scanned first, in C: emails from each `@`, phones only in runs of at least 11 phone
characters (found with `bytes.translate` and `find`). A text without escapes holds every string
exactly as parsed, so a record whose text holds no more matches than its declared personal values
do holds none elsewhere; only the others (rare, or holding `\\`) are walked value by value, which
is exact and names the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from probablyfresh_dagster.pii import NO_FIELDS, PiiFields
from probablyfresh_dagster.schema import FieldPath, Invalid

PHONE_KIND, EMAIL_KIND = "phone number", "email address"

_SEPARATOR = r"[ \t\n\r\f\v().-]"
_PHONE = rf"(?:\+[1-9](?:{_SEPARATOR}{{0,2}}[0-9]){{9,14}}|[78](?:{_SEPARATOR}{{0,2}}[0-9]){{10}})"
_NOT_BEFORE_PHONE = "[0-9A-Za-z_.+-]"
_EMAIL_CHARACTER = r'[^ \t\n\r\f\v"@,;:<>()\[\]\\]'
_EMAIL_DOMAIN = rf'{_EMAIL_CHARACTER}+\.[^ \t\n\r\f\v"@,;:<>()\[\]\\.]{{2,}}'

_PHONE_PATTERN = re.compile(rf"(?<!{_NOT_BEFORE_PHONE}){_PHONE}(?![0-9])".encode())
_EMAIL_PATTERN = re.compile(rf"@(?<={_EMAIL_CHARACTER}@){_EMAIL_DOMAIN}".encode())
"""Starts at the `@`, a literal, which the regex engine finds at C speed."""

SQL_PHONE = rf"(^|[^0-9A-Za-z_.+-]){_PHONE}([^0-9.eE]|$)"
SQL_EMAIL = rf"{_EMAIL_CHARACTER}@{_EMAIL_DOMAIN}"
"""The same rule for ClickHouse (re2: no look-around) over RAW's JSON text. Stricter after a phone
(not followed by `.`, `e` or `E`, as the digits of a JSON number such as 79123456789.5 are), so it
finds nothing in a payload the loader let through."""

_PHONE_RUN_CHARACTERS = b"0123456789+ ().-"
_RUNS = bytes(0x30 if byte in _PHONE_RUN_CHARACTERS else 0x78 for byte in range(256))
"""`bytes.translate` table: each phone character to `0`, any other byte to `x`."""
_SHORTEST_PHONE = b"0" * 11


@dataclass(frozen=True)
class ClearText:
    """Where a clear-text phone or email was found, and which; never the value."""

    path: FieldPath
    """The field holding it; for a field name holding it, the object holding that field."""
    kind: str
    in_name: bool = False

    @property
    def field(self) -> str:
        return Invalid("", self.path).field

    def invalid(self, context: str) -> Invalid:
        where = "a field name holds" if self.in_name else "holds"
        return Invalid(f"{where} a clear-text {self.kind} {context}", self.path)


def undeclared_clear_text(text: bytes, document: Any, declared: PiiFields) -> ClearText | None:
    """The first clear-text phone or email of `document` outside its `declared` personal fields;
    `text` is the JSON the document was parsed from (or encoded to)."""
    if b"\\" not in text:
        found = _matches(text)
        if not found:
            return None
        values = [value.encode() for _, _, _, value in declared.present(document) if type(value) is str]
        if found <= sum(map(_matches_in_value, values)):
            return None
    return next(_clear_text_in(document, (), declared), None)


def clear_text_in_message(value: bytes) -> ClearText | None:
    """The first clear-text phone or email of a message (nothing in it is declared: personal fields
    are published encrypted). A value that is not JSON is judged as text."""
    if b"\\" not in value and not _matches(value):
        return None
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        kind = clear_text_kind(value)
        return ClearText((), kind) if kind else None
    return next(_clear_text_in(document, (), NO_FIELDS), None)


def _matches(text: bytes) -> int:
    """How many phones and emails the text holds, counted in C (see the module docstring)."""
    count = len(_EMAIL_PATTERN.findall(text)) if b"@" in text else 0
    runs = text.translate(_RUNS)
    start = runs.find(_SHORTEST_PHONE)
    while start >= 0:
        end = runs.find(b"x", start)
        end = len(text) if end < 0 else end
        count += len(_PHONE_PATTERN.findall(text, start, end + 1))
        start = runs.find(_SHORTEST_PHONE, end)
    return count


def _matches_in_value(value: bytes) -> int:
    """`_matches` of a short string: no need to look for runs first."""
    return len(_PHONE_PATTERN.findall(value)) + (len(_EMAIL_PATTERN.findall(value)) if b"@" in value else 0)


def clear_text_kind(text: bytes) -> str | None:
    """`PHONE_KIND` or `EMAIL_KIND` when a plain text (not JSON) holds one, else None."""
    if _PHONE_PATTERN.search(text):
        return PHONE_KIND
    if b"@" in text and _EMAIL_PATTERN.search(text):
        return EMAIL_KIND
    return None


def _clear_text_in(value: Any, path: FieldPath, declared: PiiFields) -> Iterator[ClearText]:
    """Every clear-text value under `value` outside `declared`, walked in document order."""
    kind = type(value)
    if kind is str:
        if not declared.covers(path) and (found := clear_text_kind(value.encode())):
            yield ClearText(path, found)
    elif kind is int:
        if not declared.covers(path) and _PHONE_PATTERN.search(str(value).encode()):
            yield ClearText(path, PHONE_KIND)
    elif kind is dict or kind is list:
        # A part is a name (str) in an object and an index (int) in an array: `kind` tells which,
        # so the hot loop needs no check of its own per part.
        children: Iterable[tuple[Any, Any]] = value.items() if kind is dict else enumerate(value)
        for part, child in children:
            if kind is dict and (found := clear_text_kind(part.encode())):
                yield ClearText(path, found, in_name=True)
            yield from _clear_text_in(child, (*path, part), declared)
