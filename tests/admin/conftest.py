"""Fixtures for the admin API tests: a populated store (both backends) and a harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchgear.store.database import Database
from tests.admin.support import Harness, MemoryRecords, World, populate


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    d = Database(store_url)
    yield d
    await d.close()


@pytest.fixture
async def world(db: Database) -> World:
    return await populate(db)


@pytest.fixture
def h(db: Database) -> Harness:
    return Harness(db, MemoryRecords(db))
