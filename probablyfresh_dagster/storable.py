"""What every store downstream can hold, checked on a parsed document before any entity rule.

orjson, which parses the landing zone, already refuses NaN, ±Infinity, invalid UTF-8, lone
surrogates and nesting beyond 1024 levels. What it lets through and a later stage cannot take:

- nesting deeper than `MAX_DEPTH`. MongoDB refuses more than 100 levels; real records go 4 deep.
  32 leaves room for the levels a store or a later format may wrap around a document, and keeps
  every recursive reader downstream (this walk, the JSON serializers) far from Python's
  recursion limit;
- integers outside the signed 64-bit range, which BSON cannot store, and numbers beyond ±2^63 written
  as floats: orjson silently turns an integer literal beyond 2^64 into a float, and no field holds
  such a number anyway (money stops at 10^10);
- field names that are empty, start with `$` or hold a `.` or a NUL (MongoDB and FerretDB v1 refuse
  them or read them as operators and paths), and top-level names the document store adds itself;
- NUL characters in strings and arrays directly inside arrays, which FerretDB v1 does not store.

The walk also counts the document's JSON strings (field names and string values), which tells the
landing whether its text repeated a field name (`landing.check_unique_names`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from probablyfresh_dagster.documents import RESERVED_FIELDS
from probablyfresh_dagster.schema import Invalid

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_LIMIT = 2.0**63
_KNOWN_NAMES_LIMIT = 10_000
_known_names: set[str] = set()
"""Field names already found valid: one set test per object instead of four per name."""


def check_storable(document: Any) -> int:
    """Raise `Invalid` at the first value or field name a store downstream cannot hold; return the
    number of JSON strings the document holds, field names included."""
    if type(document) is dict:
        for name in RESERVED_FIELDS:
            if name in document:
                raise Invalid(f"reserved: the document store adds {', '.join(RESERVED_FIELDS)} itself", (name,))
    if type(document) is dict or type(document) is list:
        return _check_container(document, 1)
    return int(type(document) is str)


def _check_container(value: dict[str, Any] | list[Any], depth: int) -> int:
    """One loop for objects and arrays, scalars handled inline: it runs on every value of every file.
    Returns the strings under `value`, its field names included."""
    if depth > MAX_DEPTH:
        raise Invalid(f"nested deeper than {MAX_DEPTH} levels")
    if type(value) is dict:
        in_array = False
        if not _known_names.issuperset(value):
            _check_names(value)
        children: Iterable[tuple[str | int, Any]] = value.items()
        strings = len(value)
    else:
        in_array = True
        children = enumerate(value)
        strings = 0
    for part, child in children:
        kind = type(child)
        if kind is str:
            strings += 1
            if "\0" in child:
                raise Invalid("string contains a NUL character", (part,))
        elif kind is dict or kind is list:
            if kind is list and in_array:
                raise Invalid("array directly inside an array (FerretDB cannot store it)", (part,))
            try:
                strings += _check_container(child, depth + 1)
            except Invalid as invalid:
                raise invalid.at(part) from None
        elif kind is int:
            if not INT64_MIN <= child <= INT64_MAX:
                raise Invalid("integer beyond ±9.2e18, the signed 64-bit range MongoDB stores", (part,))
        elif kind is float and not -FLOAT_LIMIT < child < FLOAT_LIMIT:
            raise Invalid(f"number {child:.3g} is too large: beyond ±9.2e18, more than any field holds", (part,))
    return strings


def _check_names(value: dict[str, Any]) -> None:
    for name in value:
        if not name:
            raise Invalid("empty field name", (name,))
        if name[0] == "$":
            raise Invalid("field name starts with $ (a MongoDB operator)", (name,))
        if "." in name:
            raise Invalid("field name contains a dot (MongoDB reads it as a path)", (name,))
        if "\0" in name:
            raise Invalid("field name contains a NUL character", (name,))
    if len(_known_names) < _KNOWN_NAMES_LIMIT:
        _known_names.update(value)
