"""Schedule files: write a :class:`~vgi.schedule.problem.Schedule` as a long table, in chunks, and read it back.

Layout (one row per session and step of its window, sessions in fleet order, steps in time order):

============== ======================================= ===================================================
column         Arrow type                              meaning
============== ======================================= ===================================================
session_id     dictionary<int32, string>               the session
site_id        dictionary<int32, string>               its site
time           timestamp[ns, tz=<grid's zone>]         start of the step, local time of the grid
charge_kw      float64                                 grid-side charging power, average over the step, kW
discharge_kw   float64                                 grid-side discharging power (0 without V2G), kW
battery_kwh    float64                                 battery energy at the end of the step, kWh
============== ======================================= ===================================================

Steps outside a session's window (where its power is zero by construction) are not written, and a session with
no step on the grid has no row.  The writer never holds more than one chunk of sessions as rows: it takes
``chunk_sessions`` sessions at a time from the N x T arrays, turns them into one Parquet row group (or one CSV
block), and writes it; ids are dictionary-encoded (one dictionary per row group).  Parquet files carry the grid
(``vgi.timezone``, ``vgi.step_minutes``) and the strategy in their key-value metadata.

:func:`read_schedule` loads a file back as a DataFrame (ids as pandas categoricals for Parquet, strings for CSV).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vgi.errors import VgiError
from vgi.schedule.problem import Schedule

__all__ = [
    "SCHEDULE_COLUMNS",
    "read_schedule",
    "schedule_batches",
    "schedule_schema",
    "write_schedule",
]

SCHEDULE_COLUMNS = ("session_id", "site_id", "time", "charge_kw", "discharge_kw", "battery_kwh")
#: sessions per chunk (one Parquet row group): 16,384 sessions of 96 steps are 1.6 million rows, about 60 MB
DEFAULT_CHUNK_SESSIONS = 16_384
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def schedule_schema(timezone: str, *, dictionary_ids: bool = True) -> pa.Schema:
    """The Arrow schema of a schedule file on a grid in ``timezone``."""
    ids = pa.dictionary(pa.int32(), pa.string()) if dictionary_ids else pa.string()
    return pa.schema(
        [
            ("session_id", ids),
            ("site_id", ids),
            ("time", pa.timestamp("ns", tz=timezone)),
            ("charge_kw", pa.float64()),
            ("discharge_kw", pa.float64()),
            ("battery_kwh", pa.float64()),
        ]
    )


def _id_array(values: np.ndarray, codes: np.ndarray | None, dictionary_ids: bool) -> pa.Array:
    """Ids of one chunk's rows: ``values`` (one per session of the chunk) repeated by ``codes`` (row -> session)."""
    if dictionary_ids:
        local, names = pd.factorize(pd.Series(values, dtype=object).astype(str), sort=False)
        indices = local if codes is None else local[codes]
        return pa.DictionaryArray.from_arrays(
            pa.array(indices.astype(np.int32)), pa.array(np.asarray(names, dtype=object), type=pa.string())
        )
    text = pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)
    return pa.array(text if codes is None else text[codes], type=pa.string())


def schedule_batches(
    result: Schedule, *, chunk_sessions: int = DEFAULT_CHUNK_SESSIONS, dictionary_ids: bool = True
) -> Iterator[pa.RecordBatch]:
    """The schedule's rows (see the module docstring), ``chunk_sessions`` sessions per record batch.

    Each batch holds one chunk's rows only; the battery energy is ``e_init + cumsum(gain * dt)`` over the chunk's
    rows of the N x T arrays, the same arithmetic as :meth:`Schedule.battery_energy_kwh`, so values agree bit for
    bit with the schedule in memory.
    """
    if chunk_sessions < 1:
        raise VgiError(f"chunk_sessions must be at least 1, got {chunk_sessions}")
    fleet = result.fleet
    grid = fleet.grid
    schema = schedule_schema(grid.timezone, dictionary_ids=dictionary_ids)
    step_ns = grid.utc_index.as_unit("ns").asi8
    dt = fleet.step_hours
    n = len(fleet)
    for a in range(0, n, chunk_sessions):
        b = min(n, a + chunk_sessions)
        start, stop = fleet.start[a:b], fleet.stop[a:b]
        lengths = stop - start
        rows = int(lengths.sum())
        if rows == 0:
            continue
        local = np.repeat(np.arange(b - a), lengths)
        first = np.cumsum(lengths) - lengths
        step = start[local] + (np.arange(rows) - first[local])
        charge_block = result.charge_kw[a:b]
        gain = charge_block * fleet.charge_efficiency[a:b, None]
        if result.discharge_kw is not None:
            discharge_block = result.discharge_kw[a:b]
            gain = gain - discharge_block / fleet.discharge_efficiency[a:b, None]
            discharge = discharge_block[local, step]
        else:
            discharge = np.zeros(rows)
        energy = (fleet.e_init_kwh[a:b, None] + np.cumsum(gain * dt, axis=1))[local, step]
        del gain
        columns = [
            _id_array(fleet.session_id[a:b], local, dictionary_ids),
            _id_array(fleet.site_id[a:b], local, dictionary_ids),
            pa.array(step_ns[step], type=schema.field("time").type),
            pa.array(charge_block[local, step], type=pa.float64()),
            pa.array(discharge, type=pa.float64()),
            pa.array(energy, type=pa.float64()),
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise VgiError(f"{path}: a schedule is written as Parquet (.parquet, .pq) or CSV (.csv), not {suffix!r}")
    return SUFFIXES[suffix]


def write_schedule(
    result: Schedule, path: str | Path, *, chunk_sessions: int = DEFAULT_CHUNK_SESSIONS
) -> int:
    """Write ``result`` to ``path`` (``.parquet``/``.pq`` or ``.csv``) chunk by chunk; returns the rows written.

    Parquet: one row group per chunk, ids dictionary-encoded, powers and energy as plain float64 (Snappy).  CSV:
    a header and the same columns, times in ISO 8601 with the grid's UTC offset.
    """
    kind = _format(path)
    fleet = result.fleet
    rows = 0
    if kind == "parquet":
        import pyarrow.parquet as pq

        schema = schedule_schema(fleet.grid.timezone).with_metadata(
            {
                "vgi.layout": "schedule-long-v1",
                "vgi.strategy": result.strategy,
                "vgi.timezone": fleet.grid.timezone,
                "vgi.step_minutes": str(fleet.grid.step_minutes),
            }
        )
        with pq.ParquetWriter(
            str(path), schema, use_dictionary=["session_id", "site_id"], compression="snappy"
        ) as writer:
            for batch in schedule_batches(result, chunk_sessions=chunk_sessions):
                writer.write_batch(batch, row_group_size=batch.num_rows)
                rows += batch.num_rows
        return rows
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    text_schema = pa.schema(
        [("session_id", pa.string()), ("site_id", pa.string()), ("time", pa.string()),
         ("charge_kw", pa.float64()), ("discharge_kw", pa.float64()), ("battery_kwh", pa.float64())]
    )
    with pcsv.CSVWriter(str(path), text_schema) as writer:
        for batch in schedule_batches(result, chunk_sessions=chunk_sessions, dictionary_ids=False):
            # local wall time with its offset, e.g. 2024-06-03T17:15:00+08:00 (lossless: whole seconds on the grid)
            seconds = batch.column(2).cast(pa.timestamp("s", tz=fleet.grid.timezone))
            stamp = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S%z")
            iso = pc.replace_substring_regex(stamp, pattern=r"([+-]\d\d)(\d\d)$", replacement=r"\1:\2")
            columns = [batch.column(0), batch.column(1), iso, *batch.columns[3:]]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=text_schema))
            rows += batch.num_rows
    return rows


def read_schedule(path: str | Path) -> pd.DataFrame:
    """Load a schedule file written by :func:`write_schedule` (columns :data:`SCHEDULE_COLUMNS`).

    Parquet: ids come back as pandas categoricals, ``time`` tz-aware in the grid's zone, powers and energy float64.
    CSV: ids as strings and ``time`` tz-aware in UTC (the CSV holds UTC offsets, not the zone's name).
    """
    kind = _format(path)
    if not Path(path).exists():
        raise VgiError(f"{path}: no such file")
    if kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(str(path))
        missing = [c for c in SCHEDULE_COLUMNS if c not in table.column_names]
        if missing:
            raise VgiError(f"{path}: not a vgi schedule file (missing column(s) {', '.join(missing)})")
        return table.select(list(SCHEDULE_COLUMNS)).to_pandas()
    dtypes: dict[str, str] = {"session_id": "string", "site_id": "string", "time": "string",
                              "charge_kw": "float64", "discharge_kw": "float64", "battery_kwh": "float64"}
    frame = pd.read_csv(path, dtype=dtypes)
    missing = [c for c in SCHEDULE_COLUMNS if c not in frame.columns]
    if missing:
        raise VgiError(f"{path}: not a vgi schedule file (missing column(s) {', '.join(missing)})")
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601", utc=True)
    return frame[list(SCHEDULE_COLUMNS)]
