"""The log format and levels every process of a command uses (the command itself and the
server's worker processes, which start without the parent's logging configuration)."""
from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int) -> None:
    """Log at ``level`` to standard error in :data:`LOG_FORMAT`; Alembic's migration lines only
    when debugging."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
