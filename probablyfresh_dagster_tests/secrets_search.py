"""Searching what may print or store an error for a secret, and a password to search for."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from urllib.parse import quote_plus

from dagster._utils.error import serializable_error_info_from_exc_info

PASSWORD = "Pf7Kilo:pass@word/Pf7Lima"
"""Characters a URL must percent-encode, so each resource also meets it encoded."""
IN_URL = f"probablyfresh:{quote_plus(PASSWORD)}@127.0.0.1"


def needles(secret: str) -> list[str]:
    """The secret and each run of its letters and digits that holds a letter and 5 characters or
    more: an escaped, cut or re-encoded copy of the secret still holds those."""
    runs = re.split(r"[^A-Za-z0-9]+", secret)
    return [secret, *(run for run in runs if len(run) >= 5 and not run.isdigit())]


def texts(error: BaseException) -> Iterator[str]:
    """What may print or store `error`: its str and repr, the traceback text, each chained cause
    or shown context, and Dagster's serialized error (what its storage keeps)."""
    yield "".join(traceback.format_exception(error))
    assert error.__traceback__ is not None  # every error searched was raised
    yield serializable_error_info_from_exc_info((type(error), error, error.__traceback__)).to_string()
    link: BaseException | None = error
    while link is not None:
        yield str(link)
        yield repr(link)
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


def leaks(error: BaseException, secret: str) -> list[str]:
    return [needle for text in texts(error) for needle in needles(secret) if needle in text]
