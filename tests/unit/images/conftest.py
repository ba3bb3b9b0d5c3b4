"""Fixtures for the image pipeline's unit tests: real catalog limits, real images."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from visiongate.core.catalog import Catalog, ImageLimits, ModelEntry, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(environ={})


@pytest.fixture(scope="session")
def model(catalog: Catalog) -> Callable[[str], ModelEntry]:
    def get(model_id: str) -> ModelEntry:
        entry = catalog.resolve(model_id)
        assert entry is not None, model_id
        return entry

    return get


@pytest.fixture(scope="session")
def limits(model: Callable[[str], ModelEntry]) -> Callable[[str], ImageLimits]:
    return lambda model_id: model(model_id).image
