"""Fixtures shared across the suite: real stores on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import stores


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A freshly migrated store, once per backend: one test suite, both databases."""
    if request.param == "sqlite":
        with stores.sqlite_database(str(tmp_path)) as url:
            yield url
    else:
        with stores.postgres_database() as url:
            yield url


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    stores.drop_template()
