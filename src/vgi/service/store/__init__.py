"""The service's database: SQLAlchemy 2 with Alembic migrations, a SQLite file by default, PostgreSQL by URL.

``Store.open(url)`` brings the schema to the newest revision and returns a :class:`Store`, whose plain typed methods
return frozen records; ``store.documents`` is the OpenADR VTN's :class:`SqlDocumentStore`. A :class:`Store` is
thread-safe: call it from asyncio through ``asyncio.to_thread``.
"""

from vgi.service.store.documents import SqlDocumentStore
from vgi.service.store.engine import DEFAULT_URL, StoreError, make_engine
from vgi.service.store.records import (
    ChargePointRecord,
    EvseStatusRecord,
    GridEventRecord,
    MeterReading,
    PlanRecord,
    ReportRecord,
    SessionRecord,
    SettlementRecord,
)
from vgi.service.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "ChargePointRecord",
    "EvseStatusRecord",
    "GridEventRecord",
    "MeterReading",
    "PlanRecord",
    "ReportRecord",
    "SessionRecord",
    "SettlementRecord",
    "SqlDocumentStore",
    "Store",
    "StoreError",
    "make_engine",
]
