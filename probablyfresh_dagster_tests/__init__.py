"""The test suite and its helper modules (platforms, servers, processes, ...).

The helpers assert too: registered here, before any of them is imported, pytest explains their
failing asserts as it explains the tests' own."""

import pkgutil

import pytest

pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__) if not module.name.startswith("test_"))
)
