"""Errors that never quote a secret: what a resource raises is scrubbed as it leaves the resource.

Dagster keeps an error's text (message, stack, the chain of causes) in its run and schedule
storage and prints it in the daemon's log, and libraries quote what they were given: an
`http.client.InvalidURL` quotes the URL with the bot token in it. So each resource that holds a
secret (a token, a key, a password, a URL or DSN with a password) runs its work inside
`secrets_kept_out(...)`. An error whose text shows one of those secrets leaves as a
`ScrubbedError` (still an instance of the original type where it can be): the same message with
each secret masked, its chain of causes scrubbed the same way. Any other error leaves untouched.

A secret is looked for as written and in the forms an error may quote it in: escaped as `repr`
or JSON write it, percent-encoded as in a URL, and, for one holding a space, a control or a
non-ASCII character, each run of at least `MIN_PIECE` printable characters between them (a
message that escapes or cuts the secret at such a character still shows those runs).

Python keeps the original error as the replacement's `__context__` (it is the exception being
handled when the replacement is raised), marked `__suppress_context__`: `traceback`, `logging`
and Dagster's error records skip it. Nothing that prints or stores the error reaches it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
MIN_PIECE = 4
"""Shorter runs of a secret are too common in ordinary text to be masked wherever they appear."""
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]+")


class ScrubbedError(Exception):
    """An error whose text showed a secret, told again with the secret masked. `kind` names the
    original error's type. Raised as a subclass of both this and the original type (so callers
    still catch it as before) wherever that type can be built from a message alone."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@contextmanager
def secrets_kept_out(*secrets: str | None, loggers: Iterable[str] = ()) -> Iterator[None]:
    """Raise what the block raises, scrubbed of `secrets` (None and empty ones are ignored), and
    mask them in the records the named `loggers` log meanwhile (a library that logs its settings).
    A logger's filter sees only its own records, not its children's: name the very logger."""
    masking = _Masking(_forms(secrets))
    watched = [logging.getLogger(name) for name in loggers] if masking.forms else []
    for logger in watched:
        logger.addFilter(masking)
    try:
        yield
    except Exception as error:
        clean = scrubbed(error, secrets)
        if clean is error:
            raise
        raise clean from clean.__cause__
    finally:
        for logger in watched:
            logger.removeFilter(masking)


def scrubbed(error: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """`error` itself when no secret shows in it or its causes, else a `ScrubbedError` chain."""
    forms = _forms(secrets)
    chain = list(error_chain(error, displayed_only=True))
    if not any(form in text for link in chain for text in _texts(link) for form in forms):
        return error
    return _retold(error, forms)


def url_password(url: str | None) -> str | None:
    """The password in a URL's `user:password@` part, as written (percent-encoded or not); the
    scheme may be missing (`KAFKA_BOOTSTRAP_SERVERS` has none). Read by hand, up to the last `@`,
    since a malformed URL is just what an error may quote: `urlsplit` raises on some, and cuts a
    password holding `/`, `?` or `#` short."""
    url = url or ""
    userinfo, at, _ = (url.partition("//")[2] if "//" in url else url).rpartition("@")
    return userinfo.partition(":")[2] or None if at else None


def _forms(secrets: Iterable[str | None]) -> list[str]:
    """Every form of `secrets` to look for and mask, longest first (so a longer form is masked
    whole before a shorter one inside it)."""
    forms: set[str] = set()
    for secret in filter(None, secrets):
        for written in {secret, unquote(secret)}:
            forms |= {
                written,
                repr(written)[1:-1],
                ascii(written)[1:-1],
                json.dumps(written)[1:-1],
                quote(written, safe=""),
                quote(written),
                quote_plus(written),
            }
            forms |= {piece for piece in _NOT_PRINTABLE_ASCII.split(written) if len(piece) >= MIN_PIECE}
    return sorted(filter(None, forms), key=len, reverse=True)


def _masked(text: str, forms: list[str]) -> str:
    for form in forms:
        text = text.replace(form, MASK)
    return text


class _Masking(logging.Filter):
    def __init__(self, forms: list[str]) -> None:
        super().__init__()
        self.forms = forms

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = _masked(text, self.forms)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


def error_chain(error: BaseException, *, displayed_only: bool = False) -> Iterator[BaseException]:
    """`error`, then what it was raised from or while handling, and so on; `displayed_only`: only the
    causes and contexts a traceback shows with it (not a context `raise … from None` suppressed)."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        hidden = displayed_only and link.__suppress_context__
        link = link.__cause__ or (None if hidden else link.__context__)


def _texts(error: BaseException) -> Iterator[str]:
    yield str(error)
    yield repr(error)
    yield from (str(note) for note in getattr(error, "__notes__", ()))


def _retold(error: BaseException, forms: list[str]) -> ScrubbedError:
    """`error`'s displayed chain, each link told again without `forms`, chained as causes."""
    shown = error_chain(error, displayed_only=True)
    retold = [_retold_link(link, forms).with_traceback(link.__traceback__) for link in shown]
    for clean, cause in zip(retold, retold[1:], strict=False):
        clean.__cause__ = cause
    return retold[0]


def _retold_link(error: BaseException, forms: list[str]) -> ScrubbedError:
    kind = f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins.")
    message = _masked(str(error), forms)
    try:
        # Classes hash, but mypy does not see `type[...]` as Hashable (python/mypy#11470).
        clean = _scrubbed_type(type(error))(kind, message)  # type: ignore[arg-type]
        str(clean)  # a type whose `__str__` needs more than a message fails here
    except Exception:
        clean = ScrubbedError(kind, f"{kind}: {message}")
    for note in getattr(error, "__notes__", ()):
        clean.add_note(_masked(str(note), forms))
    return clean


@cache
def _scrubbed_type(original: type[BaseException]) -> type[ScrubbedError]:
    return type(f"Scrubbed{original.__name__}", (ScrubbedError, original), {})
