"""The real PostgreSQL server of the shared-study tests (see pgserver.py): one per session, a new database
per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgserver import NoPostgres, new_database, temporary_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with temporary_server() as url:
            yield url
    except NoPostgres as e:
        pytest.fail(str(e))


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> str:
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return new_database(postgres_server, name)
