"""Statements for the push's hot path through the driver: prebuilt SQL and plain tuples.

Where SQLAlchemy's per-row parameter dicts, per-element IN lists and type
processing cost more than the statement itself. Values are bound as the column
types in ``server.db.tables`` bind them: UTC times (on SQLite as the same text
SQLAlchemy writes), JSON as its text. Rows read come back as the driver gives
them (SQLite: times and JSON as text), for the caller to convert.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

import msgspec
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

_json = msgspec.json.Encoder().encode


def _sqlite_time(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` writes on SQLite: naive UTC, microseconds always."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def time_binder(conn: Connection) -> Callable[[datetime | None], Any]:
    """How a UTC time column's value goes to this connection's driver."""
    return _sqlite_time if conn.dialect.name == "sqlite" else _aware_time


def json_text(value: Any) -> str:
    """A JSON column's value as the text the driver sends (both databases cast it)."""
    return _json(value).decode()


@lru_cache(maxsize=64)
def _insert_sql(table_name: str, columns: tuple[str, ...], qmark: bool, key: tuple[str, ...]) -> str:
    marks = ", ".join(["?" if qmark else "%s"] * len(columns))
    sql = f'INSERT INTO "{table_name}" ({_names(columns)}) VALUES ({marks})'
    if key:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        sql += f" ON CONFLICT ({_names(key)}) DO UPDATE SET {updates}"
    return sql


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], *,
                upsert_on: Sequence[str] = ()) -> None:
    """``rows`` (tuples in the order of ``columns``) into ``table`` in one statement: on
    PostgreSQL a COPY, else one ``executemany``. With ``upsert_on`` (a unique key), a row whose
    key is taken updates its other columns instead (``executemany`` on both)."""
    if not rows:
        return
    assert all(c in table.c for c in (*columns, *upsert_on)), columns
    if conn.dialect.name == "postgresql" and not upsert_on:
        sql = f'COPY "{table.name}" ({_names(columns)}) FROM STDIN'
        with _driver_errors(conn, sql), _cursor(conn) as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    sql = _insert_sql(table.name, tuple(columns), conn.dialect.paramstyle == "qmark", tuple(upsert_on))
    conn.exec_driver_sql(sql, rows)


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


@contextmanager
def _driver_errors(conn: Connection, sql: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them for its own statements (an IntegrityError
    is an ``sqlalchemy.exc.IntegrityError``), for statements run on the driver's cursor."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc


# -- reads ------------------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _select_sql(sql: str, postgres: bool) -> str:
    if postgres:
        return sql.replace("?", "%s").replace("{ids}", "= ANY(%s)").replace("{no_index}", "")
    return sql.replace("{ids}", "IN (SELECT value FROM json_each(?))").replace("{no_index}", "+")


def select_rows(conn: Connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` as the driver's plain tuples, on this connection's transaction.

    ``sql`` is written once for both databases: ``?`` a value, ``{ids}`` the test that a
    column is one of a list given as one parameter (``ids(conn, values)``), so that the
    statement is the same whatever the list's length. ``{no_index}column`` keeps SQLite's
    planner (which has no statistics) from searching by that column's index.
    """
    statement = _select_sql(sql, conn.dialect.name == "postgresql")
    with _driver_errors(conn, statement), _cursor(conn) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def ids(conn: Connection, values: Sequence[str]) -> Any:
    """A list of ids as the one parameter of an ``{ids}`` test."""
    return list(values) if conn.dialect.name == "postgresql" else json_text(list(values))


__all__ = ["ids", "insert_rows", "json_text", "select_rows", "time_binder"]
