"""The database every function shares: the engine for SQLite or PostgreSQL, outages as
Unavailable, the INSERT that only one request can win, and time as the tables store it."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.dml import Insert

from checkout_functions.errors import Unavailable

ORDER_ID = String(64)
EMAIL_ADDRESS = String(320)

metadata = MetaData()
"""Every function's tables; each function creates only its own."""


def now() -> datetime.datetime:
    """The current time as the timestamp columns hold it: UTC to the microsecond, without a zone
    (the columns have none). Written from here rather than by the database's own clock, which
    keeps whole seconds on SQLite and the server's local zone on PostgreSQL."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def utc(stored: datetime.datetime) -> datetime.datetime:
    """A stored timestamp as the moment it means, in UTC."""
    if stored.tzinfo is None:
        return stored.replace(tzinfo=datetime.UTC)
    return stored.astimezone(datetime.UTC)


def engine_for(url: str, timeout: float) -> Engine:
    """An engine for SQLite or PostgreSQL; `timeout` bounds connecting and waiting for locks."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": timeout}, pool_timeout=timeout)

        @event.listens_for(engine, "connect")
        def write_ahead_log(connection: Any, record: Any) -> None:
            # WAL lets readers go on while one writer writes; the three functions share the file.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: an application that
            # crashes loses nothing, a machine that loses power the last commits; SQLite is the
            # local environment's store (PostgreSQL is production's), and a commit that waits for
            # the disk holds the one write lock three functions share.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # Transactions are begun by us (below), not by the driver behind our back.
            connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def take_the_write_lock(connection: Connection) -> None:
            # Every transaction here writes. One begun deferred reads first and then fails at
            # once with "database is locked" when another wrote in between (SQLite cannot
            # upgrade its snapshot); begun IMMEDIATE it waits its turn, up to `timeout`.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            # psycopg (3) is the driver we ship; SQLAlchemy's default for the bare name is psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_timeout=timeout,
            connect_args={"connect_timeout": max(1, math.ceil(timeout))},
        )
    raise ValueError(f"DATABASE_URL: {backend!r} is not supported; use sqlite or postgresql")


class Database:
    """One engine and the mechanics every function's queries use."""

    def __init__(self, url: str, timeout: float) -> None:
        self.engine = engine_for(url, timeout)
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def create(self, tables: Sequence[Table]) -> None:
        """Create the tables that do not exist yet."""
        for attempt in range(3):
            try:
                metadata.create_all(self.engine, tables=list(tables))
                return
            except (IntegrityError, ProgrammingError, OperationalError):
                # Another replica created the same table at the same moment (PostgreSQL reports
                # a duplicate type), or, on SQLite, another function held the file's lock while
                # it set up its write-ahead log; the next pass finds the table there.
                if attempt == 2:
                    raise

    def ping(self) -> None:
        """Raise Unavailable unless the database answers `SELECT 1`."""
        with self.outage(), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Turn the database being out of reach into Unavailable (503: the caller retries)."""
        try:
            yield
        except (OperationalError, InterfaceError, PoolTimeout) as error:
            cause = getattr(error, "orig", None) or error
            raise Unavailable(f"database unavailable: {str(cause).strip()}") from error

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT in the dialect's own form, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def insert_new(self, table: Table, **values: Any) -> Insert:
        """INSERT that does nothing when the primary key exists; RETURNING tells who won."""
        key = [c.name for c in table.primary_key.columns]
        return (
            self.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=key)
            .returning(*table.primary_key.columns)
        )

    def inserted(self, connection: Connection, table: Table, row: Mapping[str, Any]) -> bool:
        """INSERT `row` unless its primary key is there already; True when this call inserted
        it: the one request, of any number at once, that won."""
        return connection.execute(self.insert_new(table, **row)).first() is not None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction, committed when the block ends well; an unreachable database is
        Unavailable."""
        with self.outage(), self.engine.begin() as connection:
            yield connection


class Queries:
    """The queries of one function, on its own tables of `database`."""

    tables: Sequence[Table] = ()
    """The tables the queries use, made by create()."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self) -> None:
        self.database.create(self.tables)
