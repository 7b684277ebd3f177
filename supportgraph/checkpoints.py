"""Where LangGraph keeps each conversation's working state (its checkpoints).

With SQLite (the default) they are in `data_dir/checkpoints.sqlite`, beside the database.
With a Postgres `SUPPORTGRAPH_DATABASE_URL` they are in that same Postgres database
(LangGraph's `PostgresSaver`, tables `checkpoints`, `checkpoint_blobs`,
`checkpoint_writes`, `checkpoint_migrations`), so every instance behind a load balancer
resumes any conversation, a pending confirmation included. Postgres needs the extra
`pip install "supportgraph[postgres]"`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

from supportgraph.settings import ConfigError, Settings

_POSTGRES_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('supportgraph.checkpoints')) AS locked"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('supportgraph.checkpoints'))"
SETUP_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 15.0


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Checkpoints:
    """The checkpointer of a deployment (`saver`), and what it holds open."""

    def __init__(self, settings: Settings, pool_size: int = 10) -> None:
        url = settings.database_url_resolved
        self._pool: Any = None
        self._conn: sqlite3.Connection | None = None
        self.saver: BaseCheckpointSaver[Any]
        if is_postgres(url):
            try:
                from langgraph.checkpoint.postgres import PostgresSaver
                from psycopg.rows import dict_row
                from psycopg_pool import ConnectionPool, PoolTimeout
            except ImportError as err:
                raise ConfigError(
                    "a Postgres database keeps the conversation checkpoints too: install "
                    "the extra with pip install \"supportgraph[postgres]\"") from err
            self._pool = ConnectionPool(
                libpq_url(url), min_size=1, max_size=max(2, pool_size), open=True,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            try:
                self._pool.wait(timeout=CONNECT_TIMEOUT_S)
            except PoolTimeout as exc:
                self._pool.close()
                safe = make_url(url).render_as_string(hide_password=True)
                raise ConfigError(f"database {safe}: cannot connect for the conversation "
                                  f"checkpoints within {CONNECT_TIMEOUT_S:g} s") from exc
            saver = PostgresSaver(self._pool)
            # Instances starting together on a fresh database migrate one at a time. The
            # others poll for the lock rather than wait in a statement: the migrations
            # build indexes CONCURRENTLY, which wait for every open statement to finish.
            with self._pool.connection() as conn:
                deadline = time.monotonic() + SETUP_TIMEOUT_S
                while not conn.execute(_TRY_LOCK).fetchone()["locked"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("timed out waiting for another instance to set up "
                                           "the checkpoint tables")
                    time.sleep(0.2)
                try:
                    saver.setup()
                finally:
                    conn.execute(_UNLOCK)
            self.saver = saver
        else:
            self._conn = sqlite3.connect(settings.checkpoint_path, check_same_thread=False)
            sqlite_saver = SqliteSaver(self._conn)
            sqlite_saver.setup()
            self._conn.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
            self.saver = sqlite_saver

    @property
    def backend(self) -> str:
        return "postgres" if self._pool is not None else "sqlite"

    def compact(self) -> None:
        """Reclaim the space of deleted checkpoints, so that erased conversations do not
        linger in free pages (SQLite) or dead tuples (Postgres)."""
        if self._conn is not None:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif self._pool is not None:
            with self._pool.connection() as conn:
                for table in _POSTGRES_TABLES:
                    conn.execute(f"VACUUM {table}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._pool is not None:
            self._pool.close()
