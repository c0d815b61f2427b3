"""One locked dependency set: `requirements.lock` satisfies `pyproject.toml`, this environment (what
`make` and CI install) holds exactly its versions, and the Docker image installs the same file."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from probablyfresh_dagster.settings import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def locked() -> dict[str, str]:
    """Name -> version of every pin whose environment markers hold on this machine."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            name, version, marker = match.groups()
            if marker is None or Marker(marker).evaluate():
                pins[canonicalize_name(name)] = version
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_every_requirement_is_pinned_exactly_and_hashed():
    blocks = re.split(r"\n(?=\S)", LOCK.read_text(encoding="utf-8"))
    requirements = [block for block in blocks if not block.startswith("#")]
    assert len(requirements) > 50
    for block in requirements:
        assert PIN.match(block.splitlines()[0]) and "--hash=sha256:" in block, block.splitlines()[0]


def test_the_lock_satisfies_every_declared_dependency():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared in pyproject.toml but not locked: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]}"
    assert "crc32c" in pins and "dagster-postgres" in pins


def test_this_environment_runs_exactly_the_locked_versions():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    pins = locked()
    assert {name: installed.get(name) for name in pins} == pins
    unlocked = set(installed) - set(pins) - {"pip", "setuptools", "probablyfresh-dagster"}
    assert unlocked == set(), "installed but not in requirements.lock"


def test_kafka_python_checks_crcs_with_the_c_extension():
    from kafka.record import util

    assert util.calc_crc32c.__defaults__[0].__module__ != "kafka.record._crc32c"
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # CRC-32C check value


def test_the_image_installs_the_lock_hash_checked_and_nothing_else():
    dockerfile = (PROJECT_ROOT / "infra/dagster/Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install ([^\n\\&]+)", dockerfile)
    # `.`, not editable: the SQL ships in the package
    assert installs == ["--no-deps --require-hashes -r requirements.lock", "--no-deps . "]
    assert re.search(r"^FROM python:3\.11\.\d+-", dockerfile, re.M)
