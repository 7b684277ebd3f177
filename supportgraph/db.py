"""The relational database: one SQLModel engine (SQLite by default, Postgres by URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

from supportgraph.settings import ConfigError


def make_engine(url: str, synchronous: str | None = None) -> Engine:
    """Create the engine; SQLite gets WAL mode and foreign keys on every connection (and
    `PRAGMA synchronous`, when given: FULL, SQLite's default, fsyncs every commit)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            if synchronous is not None:
                cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()),
                type(exc).__name__)


def init_db(engine: Engine) -> None:
    """Create every table registered on SQLModel's metadata (idempotent). On Postgres the
    creation holds an advisory lock: instances starting together on a fresh database take
    turns instead of failing on each other's half-created tables."""
    import supportgraph.conversations  # noqa: F401  (conversations, messages, channels)
    import tools.records  # (registers the action layer's tables)
    import tools.shop.models  # noqa: F401  (registers the shop tables)

    try:
        with engine.connect():  # pooled: the tables below reuse this connection
            pass
    except OperationalError as exc:  # the server is down, the URL or the password wrong
        raise ConfigError(f"database {engine.url.render_as_string(hide_password=True)}: "
                          f"cannot connect: {_first_line(exc.orig or exc)}") from exc
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('supportgraph.init_db'))"))
        SQLModel.metadata.create_all(conn)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
