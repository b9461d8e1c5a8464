"""All settings, read once from the environment (``FIELDSYNC_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from sync.thresholds import Thresholds


def normalise_database_url(url: str) -> str:
    """One sync driver per backend: psycopg for PostgreSQL, sqlite3 for SQLite.

    ``postgresql+asyncpg://`` and plain ``postgresql://`` are accepted and
    mapped to psycopg, so a URL written for another tool still works.
    """
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://"):]
    return url


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""
    photo_store: str = ""
    station_timezone: str = "Asia/Shanghai"
    schema_min: int = 1
    schema_current: int = 1
    token_ttl_days: int = 30
    login_max_failures: int = 5
    login_failure_window_min: int = 15
    login_lockout_min: int = 15
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch_items: int = 1000
    max_photo_bytes: int = 20 * 1024 * 1024
    max_photo_pixels: int = 50_000_000
    pull_default_limit: int = 500
    pull_max_limit: int = 5000
    feed_retention_days: int = 90
    upload_expiry_days: int = 7
    orphan_photo_days: int = 30
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{Path(self.data_dir) / 'fieldsync.db'}")
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if not self.photo_store:
            object.__setattr__(self, "photo_store", str(Path(self.data_dir) / "photos"))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Read ``FIELDSYNC_<NAME>`` for every field; ``FIELDSYNC_RULE_<NAME>`` for thresholds."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "thresholds":
                continue
            raw = env.get(f"FIELDSYNC_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.type, raw, f"FIELDSYNC_{f.name.upper()}")
        rule_values: dict[str, Any] = {}
        for f in fields(Thresholds):
            raw = env.get(f"FIELDSYNC_RULE_{f.name.upper()}")
            if raw:
                rule_values[f.name] = _coerce(f.type, raw, f"FIELDSYNC_RULE_{f.name.upper()}")
        values["thresholds"] = Thresholds(**rule_values)
        values.update(overrides)
        return cls(**values)


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    try:
        if kind == "int":
            return int(raw)
        if kind == "Decimal":
            return Decimal(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
        raise SystemExit(f"{name}={raw!r} is not a valid {kind}") from exc
