"""Read time series files: ``timestamp,<value>`` CSV with a UTC offset on every timestamp.

Used for price series (``--prices``), targets, and the series a scenario names.  Errors name the file, the row
(1-based data row) and the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vgi.errors import VgiError

__all__ = ["parse_timestamps", "parse_values", "read_timestamped_csv"]

#: a timestamp that ends with a UTC offset (or Z)
OFFSET_PATTERN = r"(?:Z|[+-]\d\d:?\d\d)$"


def parse_timestamps(text: pd.Series, source: str, field: str = "timestamp") -> pd.DatetimeIndex:
    """ISO 8601 times with a UTC offset, as a UTC index; the first bad row (1-based) is named in the error."""
    text = text.astype("string").str.strip()
    naive = ~text.str.contains(OFFSET_PATTERN, regex=True, na=False)
    if naive.any():
        row = int(np.flatnonzero(naive.to_numpy())[0]) + 1
        raise VgiError(f"{source}: row {row}, field '{field}': '{text.iloc[row - 1]}' has no UTC offset")
    ts = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():
        row = int(np.flatnonzero(ts.isna().to_numpy())[0]) + 1
        raise VgiError(f"{source}: row {row}, field '{field}': '{text.iloc[row - 1]}' is not an ISO 8601 time")
    return pd.DatetimeIndex(ts)


def parse_values(raw: pd.Series, source: str, field: str, allow_empty: bool = False) -> np.ndarray:
    """Finite numbers as a float array; the first bad row (1-based) is named in the error.  With ``allow_empty``
    an empty cell is NaN (no value in that row); text or an infinite number is still an error."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if allow_empty:
        bad &= raw.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise VgiError(f"{source}: row {row}, field '{field}': not a finite number ({raw.iloc[row - 1]!r})")
    return values


def read_timestamped_csv(
    path: str | Path, column: str | None = None, label: str = "series", allow_empty: bool = False
) -> tuple[pd.Series, pd.Series]:
    """The series (UTC index, float values) and the timestamps as written (text), from a CSV file.

    Lines starting with ``#`` are comments.  ``column`` picks the value column (default: the first that is not
    ``timestamp``).  Timestamps must carry a UTC offset and increase strictly; values must be numbers (with
    ``allow_empty``, an empty value is NaN).
    """
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    try:
        frame = pd.read_csv(p, comment="#")
    except (OSError, ValueError) as exc:
        raise VgiError(f"{p}: cannot read {label} CSV ({exc})") from exc
    if "timestamp" not in frame.columns or len(frame.columns) < 2:
        raise VgiError(f"{p}: expected columns 'timestamp,<value>' for {label}, found {list(frame.columns)}")
    col = column or next(c for c in frame.columns if c != "timestamp")
    if col not in frame.columns:
        raise VgiError(f"{p}: no column '{col}' for {label} (columns: {list(frame.columns)})")
    text = frame["timestamp"].astype("string")
    index = parse_timestamps(text, str(p))
    values = parse_values(frame[col], str(p), str(col), allow_empty=allow_empty)
    series = pd.Series(values, index=index, name=col)
    if not series.index.is_monotonic_increasing or series.index.has_duplicates:
        raise VgiError(f"{p}: timestamps of {label} must increase strictly")
    return series, text
