"""The tables declared in ``recommender/store/schema.py`` are the tables the migrations build, on
SQLite and on a real PostgreSQL: a column, index or table added to one and not the other fails here."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, inspect

from recommender.store import EventStore
from recommender.store.schema import metadata


@pytest.fixture
def migrated(store_url):
    store = EventStore.open(store_url)
    yield store
    store.close()


def differences(store: EventStore, declared: MetaData) -> list:
    """What Alembic's autogenerate would change to turn the migrated database into ``declared``."""
    with store.connection_pool.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, declared)


def test_the_migrations_build_the_declared_tables(migrated):
    assert differences(migrated, metadata) == []


def test_the_migrations_build_the_declared_check_constraints(migrated):
    """Alembic does not compare check constraints: their names are compared here."""
    inspector = inspect(migrated.connection_pool)
    for table in metadata.sorted_tables:
        declared = {constraint.name for constraint in table.constraints if isinstance(constraint, CheckConstraint)}
        assert {found["name"] for found in inspector.get_check_constraints(table.name)} == declared, table.name


def test_a_column_declared_without_a_migration_is_found(migrated):
    declared = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(declared)
    declared.tables["items"].append_column(Column("weight_grams", Integer))
    [(operation, _, table, column)] = differences(migrated, declared)
    assert (operation, table, column.name) == ("add_column", "items", "weight_grams")
