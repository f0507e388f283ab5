"""Alembic's environment for the corrections database: `store.migrate` hands it an open
connection (``config.attributes["connection"]``), so no URL is written into a config file."""

from __future__ import annotations

from alembic import context

from shoplens.corrections.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
