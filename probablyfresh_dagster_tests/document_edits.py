"""Copies of a document with one field replaced or removed."""

from __future__ import annotations

import copy
from typing import Any


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy with the value at a dotted path (list indexes as numbers) replaced."""
    document = copy.deepcopy(document)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    holder: Any = document
    for part in parents:
        holder = holder[part]
    holder[last] = value
    return document


def without(document: dict[str, Any], name: str) -> dict[str, Any]:
    document = copy.deepcopy(document)
    del document[name]
    return document
