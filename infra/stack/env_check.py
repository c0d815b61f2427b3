"""Refuse to start the docker-compose stack on guessable secrets; or write strong ones into .env.

    python3 infra/stack/env_check.py .env            check .env (what `make up` runs before compose)
    python3 infra/stack/env_check.py                 check this process's environment (the compose
                                                     `env-check` service, which every other waits for)
    python3 infra/stack/env_check.py --fill .env     `make secrets`: a random value for each secret
                                                     that fails the check, the others kept

A password fails when it is empty, shorter than MIN_PASSWORD_LENGTH or a placeholder; FERNET_KEY
when it is not a Fernet key (URL-safe base64 of 32 bytes). One line per failure names the
variable, never its value. Standard library only: `make up` runs it with the host's python3.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

PASSWORDS = ("MONGO_PASSWORD", "CLICKHOUSE_PASSWORD", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "KAFKA_PASSWORD")
FERNET_KEY = "FERNET_KEY"
MIN_PASSWORD_LENGTH = 16
# Words of example values: a password holding one, whatever its case or punctuation, is refused.
PLACEHOLDER_WORDS = ("changeme", "password", "secret", "example", "placeholder")
FIX = "run `make secrets` to write a strong one into .env"


def problems(values: Mapping[str, str]) -> list[str]:
    """One line per secret that fails, naming the variable and why, never the value."""
    found = [f"{name} {why}; {FIX}" for name in PASSWORDS if (why := password_problem(values.get(name, "")))]
    if why := fernet_key_problem(values.get(FERNET_KEY, "")):
        found.append(f"{FERNET_KEY} {why}; {FIX}")
    return found


def password_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if any(word in re.sub(r"[^a-z]", "", value.lower()) for word in PLACEHOLDER_WORDS):
        return "is a placeholder"
    if len(value) < MIN_PASSWORD_LENGTH:
        return f"is shorter than {MIN_PASSWORD_LENGTH} characters"
    return None


def fernet_key_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    try:
        key = base64.urlsafe_b64decode(value.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        key = b""
    # Re-encoded to compare: the decoder skips characters outside the alphabet.
    if len(key) != 32 or base64.urlsafe_b64encode(key).decode() != value:
        return "is not a Fernet key (URL-safe base64 of 32 bytes)"
    return None


# ---- .env as compose reads it: NAME=VALUE, a value in quotes taken as written, ` #` a comment ----

ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := ASSIGNMENT.match(line):
            values[match[1]] = unquoted(match[2].strip())
    return values


def unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return re.split(r"\s+#", value, maxsplit=1)[0]


def fill(path: Path, example: Path) -> list[str]:
    """Give every failing secret of `path` (created from `example` when missing) a random value,
    keeping every other line; return the names set."""
    lines = (path if path.exists() else example).read_text(encoding="utf-8").splitlines()
    values = read_env_file(path) if path.exists() else {}
    fresh = {name: secrets.token_urlsafe(24) for name in PASSWORDS if password_problem(values.get(name, ""))}
    if fernet_key_problem(values.get(FERNET_KEY, "")):
        fresh[FERNET_KEY] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    pending = dict(fresh)
    for index, line in enumerate(lines):
        if (match := ASSIGNMENT.match(line)) and match[1] in pending:
            lines[index] = f"{match[1]}={pending.pop(match[1])}"
    lines += [f"{name}={value}" for name, value in pending.items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return list(fresh)


def main(args: list[str]) -> int:
    if args[:1] == ["--fill"]:
        path = Path(args[1])
        names = fill(path, Path(__file__).resolve().parents[2] / ".env.example")
        print(f"{path}: new {', '.join(names)}" if names else f"{path}: every secret already passes")
        return 0
    source = f"{args[0]}: " if args else ""
    found = problems(read_env_file(Path(args[0])) if args else os.environ)
    for line in found:
        print(f"{source}{line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
