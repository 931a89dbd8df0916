"""Alembic's entry point for the event store: migrations run on the connection the store hands over
(``config.attributes["connection"]``), never on a URL of their own."""
from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
