"""Charging sessions as a validated columnar table.

A fleet is a :class:`SessionTable`: one row per plug-in, one numpy-backed column per attribute, units in the
column names.  Nothing on a hot path builds a Python object per session.

Columns (the generic CSV/Parquet layout uses exactly these names):

=======================  ========  =========================================================================
column                   required  meaning (default when the column is absent or the cell is empty)
=======================  ========  =========================================================================
``session_id``           yes       unique id of the plug-in
``site_id``              no        charging site (``"site"``)
``vehicle_id``           no        vehicle (the session id)
``arrival``              yes       plug-in time, ISO 8601 with UTC offset (or naive + ``timezone`` column)
``departure``            yes       plug-out time, after arrival
``energy_kwh``           one of    energy the driver wants added to the battery by departure, kWh
``target_soc``           one of    SoC wanted at departure, 0-1 (used where energy_kwh is empty)
``battery_kwh``          no        usable battery capacity, kWh (max(60, energy_kwh / 0.8))
``initial_soc``          no        SoC at arrival, 0-1 (min(0.2, 1 - energy_kwh / battery_kwh))
``max_charge_kw``        no        max charging power at the plug, kW (7.2)
``max_discharge_kw``     no        max discharging power, kW; 0 for V1G (0)
``charge_efficiency``    no        battery kWh gained per grid kWh drawn, 0-1 (0.95)
``discharge_efficiency`` no        grid kWh delivered per battery kWh discharged, 0-1 (0.95)
``v2g``                  no        driver consents to discharge (false)
``min_soc``              no        SoC below which the car is never discharged, 0-1 (0)
``timezone``             no        IANA zone of the site, for local display and naive times ("UTC")
=======================  ========  =========================================================================

Energy is counted on the battery side: a session that wants 10 kWh with a charge efficiency of 0.95 draws
10 / 0.95 kWh from the grid.  Readers of metered data (ACN-Data, Boulder) set the efficiencies to 1 so that
the metered kWh is what is delivered.  Where both ``energy_kwh`` and ``target_soc`` are given,
``energy_kwh`` wins; a target below the initial SoC asks for 0 kWh.

Every session is kept.  One whose energy cannot be delivered within its window at its maximum power, or that
does not fit in the battery, is flagged with ``shortfall_kwh`` > 0 (kWh, battery side)::

    shortfall = max(0, energy - min(max_charge_kw * charge_efficiency * dwell_h, (1 - initial_soc) * battery))

In the validated frame, ``arrival`` and ``departure`` are ``datetime64[ns, UTC]``, ids and ``timezone`` are
pandas ``string``, ``v2g`` is ``bool`` and every other column is ``float64``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from vgi.errors import Problem, ValidationError, VgiError

__all__ = [
    "COLUMNS",
    "DEFAULTS",
    "FLOAT_COLUMNS",
    "REQUIRED",
    "SessionTable",
    "read_sessions",
    "sessions_from_frame",
]

REQUIRED = ("session_id", "arrival", "departure")
DEFAULTS: dict[str, object] = {
    "site_id": "site",
    "max_charge_kw": 7.2,
    "max_discharge_kw": 0.0,
    "charge_efficiency": 0.95,
    "discharge_efficiency": 0.95,
    "v2g": False,
    "min_soc": 0.0,
    "timezone": "UTC",
}
COLUMNS = (
    "session_id",
    "site_id",
    "vehicle_id",
    "arrival",
    "departure",
    "energy_kwh",
    "target_soc",
    "battery_kwh",
    "initial_soc",
    "max_charge_kw",
    "max_discharge_kw",
    "charge_efficiency",
    "discharge_efficiency",
    "v2g",
    "min_soc",
    "timezone",
    "shortfall_kwh",
)
FLOAT_COLUMNS = (
    "energy_kwh",
    "target_soc",
    "battery_kwh",
    "initial_soc",
    "max_charge_kw",
    "max_discharge_kw",
    "charge_efficiency",
    "discharge_efficiency",
    "min_soc",
)
STRING_COLUMNS = ("session_id", "site_id", "vehicle_id", "timezone")
MAX_PROBLEMS_PER_KIND = 50
DEFAULT_BATTERY_KWH = 60.0
DEFAULT_INITIAL_SOC = 0.2
SHORTFALL_TOLERANCE_KWH = 1e-9
_NAT = np.iinfo(np.int64).min
_OFFSET_PATTERN = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
#: words that mean "no value" in a numeric cell (as spreadsheets and R write them)
_MISSING_WORDS = ("na", "n/a", "#n/a", "nan", "-nan", "null", "none")
_TRUE = ("true", "1", "yes", "y", "t", "1.0")
_FALSE = ("false", "0", "no", "n", "f", "0.0", "")


@dataclass(frozen=True, eq=False)
class SessionTable:
    """A validated fleet of charging sessions (see the module docstring for the columns).

    Build one with :func:`sessions_from_frame`, :func:`read_sessions` or a reader in
    :mod:`vgi.io.session_readers`; the frame is not copied again on access, so treat it as read-only.
    ``notes`` holds what a reader wants the user to know (rows skipped, values substituted, columns ignored).
    """

    frame: pd.DataFrame
    source: str = "<memory>"
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> np.ndarray:
        """A column as a numpy array (no copy for numeric columns)."""
        return self.frame[name].to_numpy()

    @property
    def arrival(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.frame["arrival"])

    @property
    def departure(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.frame["departure"])

    @property
    def arrival_ns(self) -> np.ndarray:
        """Arrival as int64 nanoseconds since the Unix epoch (UTC)."""
        return pd.DatetimeIndex(self.frame["arrival"]).as_unit("ns").asi8

    @property
    def departure_ns(self) -> np.ndarray:
        """Departure as int64 nanoseconds since the Unix epoch (UTC)."""
        return pd.DatetimeIndex(self.frame["departure"]).as_unit("ns").asi8

    @property
    def dwell_hours(self) -> np.ndarray:
        """Plug-in duration of each session, hours."""
        return (self.departure_ns - self.arrival_ns) / 3.6e12

    @property
    def energy_kwh(self) -> np.ndarray:
        return self.frame["energy_kwh"].to_numpy(dtype=float)

    @property
    def shortfall_kwh(self) -> np.ndarray:
        return self.frame["shortfall_kwh"].to_numpy(dtype=float)

    @property
    def v2g_enabled(self) -> np.ndarray:
        """Sessions that may discharge: consent and a discharge power above zero."""
        return self.frame["v2g"].to_numpy(dtype=bool) & (
            self.frame["max_discharge_kw"].to_numpy(dtype=float) > 0
        )

    @property
    def flagged(self) -> pd.DataFrame:
        """Sessions whose energy cannot be met within their window, with ``shortfall_kwh``."""
        return self.frame.loc[
            self.frame["shortfall_kwh"] > SHORTFALL_TOLERANCE_KWH,
            ["session_id", "energy_kwh", "shortfall_kwh"],
        ]

    @property
    def timezone(self) -> str:
        """The fleet's time zone: the most common site zone."""
        if len(self.frame) == 0:
            return "UTC"
        return str(self.frame["timezone"].mode().iloc[0])

    def subset(self, mask: np.ndarray) -> SessionTable:
        return SessionTable(self.frame.loc[mask].reset_index(drop=True), self.source, self.notes)

    def with_columns(self, **columns: Any) -> SessionTable:
        """A copy with some columns replaced (re-validated)."""
        frame = self.frame.drop(columns=["shortfall_kwh"]).assign(**columns)
        return sessions_from_frame(frame, self.source, notes=self.notes)

    def summary(self) -> dict[str, Any]:
        """Counts and totals: sessions, sites, span, energy (kWh), dwell (h), V2G and flagged sessions."""
        n = len(self.frame)
        energy = self.energy_kwh
        short = self.shortfall_kwh
        dwell = self.dwell_hours
        return {
            "source": self.source,
            "sessions": n,
            "sites": int(self.frame["site_id"].nunique()),
            "vehicles": int(self.frame["vehicle_id"].nunique()),
            "timezones": sorted(str(z) for z in self.frame["timezone"].unique()),
            "first_arrival": self.arrival.min().isoformat() if n else None,
            "last_departure": self.departure.max().isoformat() if n else None,
            "energy_kwh": float(energy.sum()),
            "mean_energy_kwh": float(energy.mean()) if n else 0.0,
            "mean_dwell_h": float(dwell.mean()) if n else 0.0,
            "max_charge_kw_total": float(self.frame["max_charge_kw"].sum()),
            "v2g_sessions": int(self.v2g_enabled.sum()),
            "flagged_sessions": int((short > SHORTFALL_TOLERANCE_KWH).sum()),
            "shortfall_kwh": float(short.sum()),
        }

    def to_csv(self, path: str | Path) -> None:
        """Write the generic CSV layout: times ISO 8601 in each row's local time with its UTC offset."""
        out = self.frame.drop(columns=["shortfall_kwh"]).copy()
        zones = out["timezone"]
        out["arrival"] = _iso_local(self.arrival_ns, zones)
        out["departure"] = _iso_local(self.departure_ns, zones)
        try:
            pacsv.write_csv(pa.Table.from_pandas(out, preserve_index=False), str(path))
        except (OSError, pa.ArrowException) as exc:
            raise VgiError(f"{path}: cannot write ({exc})") from exc

    def to_parquet(self, path: str | Path) -> None:
        """Write the generic Parquet layout (times as UTC timestamps)."""
        self.frame.drop(columns=["shortfall_kwh"]).to_parquet(path, index=False)

    def write(self, path: str | Path) -> None:
        """Write CSV or Parquet by the file's suffix."""
        p = Path(path)
        if p.suffix.lower() in (".parquet", ".pq"):
            self.to_parquet(p)
        else:
            self.to_csv(p)


def _iso_local(ns_utc: np.ndarray, zones: pd.Series) -> pd.Series:
    """ISO 8601 text of UTC epoch nanoseconds in each row's zone, with its offset (``+08:00``).

    Whole seconds are written without a fraction; otherwise the shortest of ms, us or ns that is exact.
    """
    n = len(ns_utc)
    if n == 0:
        return pd.Series([], dtype="string")
    ns_utc = np.asarray(ns_utc, dtype=np.int64)
    codes, uniques = pd.factorize(zones)
    local = np.empty(n, dtype=np.int64)
    for k, zone in enumerate(uniques):
        sel = slice(None) if len(uniques) == 1 else codes == k
        utc = pd.DatetimeIndex(ns_utc[sel].view("M8[ns]")).tz_localize("UTC")
        local[sel] = utc.tz_convert(str(zone)).tz_localize(None).as_unit("ns").asi8
    offset_s = (local - ns_utc) // 1_000_000_000
    uniq_off, inverse = np.unique(offset_s, return_inverse=True)
    labels = pa.array([_offset_label(int(v)) for v in uniq_off], type=pa.string()).take(pa.array(inverse))
    sub = ns_utc % 1_000_000_000
    unit, per = "s", 1_000_000_000
    if (sub != 0).any():
        unit, per = next(
            (u, d) for u, d in (("ms", 1_000_000), ("us", 1000), ("ns", 1)) if (sub % d == 0).all()
        )
    stamps = pa.array(local // per, type=pa.timestamp(unit))
    text = pc.replace_substring(pc.cast(stamps, pa.string()), " ", "T", max_replacements=1)
    return pd.Series(pd.array(pc.binary_join_element_wise(text, labels, ""), dtype="string"))


def _offset_label(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _problems_from_mask(
    mask: np.ndarray,
    source: str,
    field: str,
    message: str,
    row_numbers: np.ndarray,
    values: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> list[Problem]:
    """One problem per flagged row (at most :data:`MAX_PROBLEMS_PER_KIND`, then one summary problem)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    shown = idx[:MAX_PROBLEMS_PER_KIND]
    if values is not None:
        vals = values.iloc[shown].tolist() if isinstance(values, pd.Series) else [values[i] for i in shown]
        problems = [
            Problem(f"{message}: {_show(v)}", source, int(row_numbers[i]), field)
            for i, v in zip(shown, vals, strict=True)
        ]
    else:
        problems = [Problem(message, source, int(row_numbers[i]), field) for i in shown]
    if len(idx) > MAX_PROBLEMS_PER_KIND:
        problems.append(
            Problem(f"{message} in {len(idx) - MAX_PROBLEMS_PER_KIND} more row(s)", source, None, field)
        )
    return problems


def _show(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    return repr(str(value))


def _as_string(values: pd.Series) -> pd.Series:
    """A column as pandas ``string`` (no copy where it already is one)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is pd.NA:
        return values
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        return values.astype("string")
    if pd.api.types.is_float_dtype(values.dtype):
        # ids read as floats (e.g. "12" with empty cells): print integral values without ".0"
        arr = values.to_numpy(dtype=float)
        whole = np.isfinite(arr) & (arr == np.round(arr))
        text = values.astype("string")
        if whole.any():
            text = text.where(
                ~whole, pd.Series(arr, index=values.index).round().astype("Int64").astype("string")
            )
        return text
    return values.astype("string")


def _is_blank(text: pd.Series) -> np.ndarray:
    """True where a string cell is missing or only whitespace."""
    return (text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)


def _zone_ok(zone: str) -> bool:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return zone != ""


def _to_float(
    raw: pd.Series, source: str, field: str, rows: np.ndarray, problems: list[Problem]
) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 (NaN where empty), and where it was not a number (reported as problems)."""
    dtype = raw.dtype
    bad = np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_bool_dtype(dtype):
        return raw.to_numpy(dtype=float, na_value=np.nan), bad
    if pd.api.types.is_numeric_dtype(dtype):
        arr = raw.to_numpy(dtype=float, na_value=np.nan)
    elif bool(raw.isna().all()):
        arr = np.full(len(raw), np.nan)
    else:
        text = raw.astype("string").str.strip()
        blank = _is_blank(text) | text.str.lower().isin(_MISSING_WORDS).to_numpy(dtype=bool, na_value=True)
        num = pd.to_numeric(text.where(~pd.Series(blank, index=text.index)), errors="coerce")
        arr = num.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(arr) & ~blank
        problems += _problems_from_mask(bad, source, field, "not a number", rows, raw)
    inf = np.isinf(arr)
    if inf.any():
        problems += _problems_from_mask(inf, source, field, "not a finite number", rows, arr)
    return arr, bad | inf


def _to_bool(raw: pd.Series, source: str, rows: np.ndarray, problems: list[Problem]) -> np.ndarray:
    """The ``v2g`` column as bool: true/false, yes/no, 1/0 (empty means false)."""
    if raw.dtype == bool:
        return raw.to_numpy()
    if pd.api.types.is_bool_dtype(raw.dtype):  # nullable boolean
        return raw.to_numpy(dtype=bool, na_value=False)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        arr = raw.to_numpy(dtype=float, na_value=0.0)
        bad = ~np.isin(arr, (0.0, 1.0)) & ~np.isnan(arr)
        problems += _problems_from_mask(bad, source, "v2g", "v2g must be true or false", rows, raw)
        return arr == 1.0
    text = raw.astype("string").str.strip().str.lower()
    truthy = text.isin(_TRUE).to_numpy(dtype=bool, na_value=False)
    falsy = (text.isin(_FALSE) | text.isna()).to_numpy(dtype=bool, na_value=True)
    problems += _problems_from_mask(~(truthy | falsy), source, "v2g", "v2g must be true or false", rows, raw)
    return truthy


@dataclass(frozen=True)
class _Zones:
    """Each row's time zone as a code into ``names``; ``ok[k]`` says whether ``names[k]`` is a known zone."""

    codes: np.ndarray
    names: list[str]
    ok: np.ndarray


def _localize(
    naive_ns: np.ndarray,
    sel: np.ndarray,
    zones: _Zones,
    out: np.ndarray,
    dst_bad: np.ndarray,
) -> None:
    """Read naive wall-clock times (rows ``sel``) in each row's zone; fill ``out`` with UTC ns."""
    for k, zone in enumerate(zones.names):
        rows = sel & (zones.codes == k)
        if not zones.ok[k] or not rows.any():
            continue
        local = pd.DatetimeIndex(naive_ns[rows].view("M8[ns]")).tz_localize(
            str(zone), ambiguous="NaT", nonexistent="NaT"
        )
        utc = local.as_unit("ns").asi8
        out[rows] = utc
        dst_bad[rows] = utc == _NAT


def _parse_times(
    values: pd.Series,
    zones: _Zones,
    source: str,
    field: str,
    rows: np.ndarray,
    problems: list[Problem],
) -> np.ndarray:
    """Times to int64 UTC nanoseconds.

    Tz-aware datetimes are converted; text with an offset (``Z``, ``+08:00``) is exact; naive text or naive
    datetimes are wall-clock times in the row's ``timezone`` (a time that a daylight-saving change skips or
    repeats is a problem: give it with an offset).
    """
    n = len(values)
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        ns = pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns").asi8.copy()
        problems += _problems_from_mask(ns == _NAT, source, field, "missing time", rows)
        return ns
    out = np.full(n, _NAT, dtype=np.int64)
    dst_bad = np.zeros(n, dtype=bool)
    if pd.api.types.is_datetime64_dtype(dtype):
        naive = pd.DatetimeIndex(values).as_unit("ns").asi8
        missing = naive == _NAT
        problems += _problems_from_mask(missing, source, field, "missing time", rows)
        _localize(naive, ~missing, zones, out, dst_bad)
    else:
        text = values.astype("string").str.strip()
        missing = _is_blank(text)
        problems += _problems_from_mask(missing, source, field, "missing time", rows)
        has_offset = text.str.contains(_OFFSET_PATTERN, regex=True).to_numpy(dtype=bool, na_value=False)
        if has_offset.all():
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
            out = pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
        else:
            if has_offset.any():
                aware = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
                out[has_offset] = pd.DatetimeIndex(aware).as_unit("ns").asi8
            naive_sel = ~has_offset & ~missing
            if naive_sel.any():
                parsed_naive = pd.to_datetime(text[naive_sel], errors="coerce", format="ISO8601")
                naive = np.full(n, _NAT, dtype=np.int64)
                naive[naive_sel] = pd.DatetimeIndex(parsed_naive).as_unit("ns").asi8
                ok = naive != _NAT
                _localize(naive, ok, zones, out, dst_bad)
        unparsed = (out == _NAT) & ~missing & ~dst_bad
        # rows whose zone is unknown are reported on the timezone field only
        zone_bad = ~zones.ok[zones.codes]
        unparsed &= ~(zone_bad & ~has_offset)
        problems += _problems_from_mask(unparsed, source, field, "not an ISO 8601 time", rows, values)
    if dst_bad.any():
        problems += _problems_from_mask(
            dst_bad,
            source,
            field,
            "local time skipped or repeated by a daylight-saving change (give it with a UTC offset)",
            rows,
            values,
        )
    return out


def _first_rows_of_duplicates(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Duplicate mask and the first index of each code, for codes numbered in order of first appearance."""
    valid = codes >= 0
    runmax = np.maximum.accumulate(np.where(valid, codes, -1))
    prev = np.concatenate(([-1], runmax[:-1]))
    is_first = valid & (codes > prev)
    first_index = np.flatnonzero(is_first)  # index k holds the first row of code k
    return valid & ~is_first, first_index


def sessions_from_frame(
    frame: pd.DataFrame,
    source: str = "<memory>",
    row_numbers: np.ndarray | Sequence[int] | None = None,
    notes: Sequence[str] = (),
) -> SessionTable:
    """Validate a frame in the generic layout, fill documented defaults and flag shortfalls.

    Args:
        frame: one row per session, columns named as in the module docstring (extra columns are ignored and
            named in the table's ``notes``).
        source: the file name (or a label) that problems name.
        row_numbers: the 1-based row (in ``source``) of each frame row, for readers that skip or reorder rows;
            default ``1..n``.
        notes: reader notes to carry on the table.

    Raises:
        ValidationError: listing every problem (file, 1-based row, field, what is wrong).
    """
    problems: list[Problem] = []
    n = len(frame)
    rows = np.arange(1, n + 1) if row_numbers is None else np.asarray(row_numbers, dtype=np.int64)
    if len(rows) != n:
        raise ValueError("row_numbers must have one entry per frame row")
    columns = [str(c) for c in frame.columns]
    dup_cols = sorted({c for c in columns if columns.count(c) > 1})
    if dup_cols:
        raise ValidationError([Problem(f"column(s) given more than once: {', '.join(dup_cols)}", source)])
    missing = [c for c in REQUIRED if c not in frame.columns]
    if "energy_kwh" not in frame.columns and "target_soc" not in frame.columns:
        missing.append("energy_kwh or target_soc")
    if missing:
        raise ValidationError(
            [Problem(f"missing required column(s): {', '.join(missing)}; found {columns}", source)]
        )
    all_notes = list(notes)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        all_notes.append(f"ignored column(s) not in the generic layout: {', '.join(unknown)}")
    get = {str(c): frame[c].reset_index(drop=True) for c in frame.columns if c in COLUMNS}

    # identifiers
    session_id = _as_string(get["session_id"])
    empty_id = _is_blank(session_id)
    problems += _problems_from_mask(empty_id, source, "session_id", "empty session id", rows)
    codes, uniques = pd.factorize(session_id.where(~pd.Series(empty_id)), use_na_sentinel=True)
    if len(uniques) < n - int(empty_id.sum()):
        dup, first_index = _first_rows_of_duplicates(codes)
        idx = np.flatnonzero(dup)
        shown = idx[:MAX_PROBLEMS_PER_KIND]
        problems += [
            Problem(
                f"duplicate session id {session_id.iloc[i]!r} "
                f"(first at row {int(rows[first_index[codes[i]]])})",
                source,
                int(rows[i]),
                "session_id",
            )
            for i in shown
        ]
        if len(idx) > len(shown):
            problems.append(
                Problem(
                    f"duplicate session id in {len(idx) - len(shown)} more row(s)", source, None, "session_id"
                )
            )
    site_id = (
        _as_string(get["site_id"])
        if "site_id" in get
        else pd.Series([DEFAULTS["site_id"]] * n, dtype="string")
    )
    site_id = site_id.where(~pd.Series(_is_blank(site_id)), str(DEFAULTS["site_id"]))
    if "vehicle_id" in get:
        vehicle_id = _as_string(get["vehicle_id"])
        vehicle_id = vehicle_id.where(~pd.Series(_is_blank(vehicle_id)), session_id)
    else:
        vehicle_id = session_id

    # time zones
    if "timezone" in get:
        zones = _as_string(get["timezone"]).str.strip()
        zones = zones.where(~pd.Series(_is_blank(zones)), str(DEFAULTS["timezone"]))
    else:
        zones = pd.Series([DEFAULTS["timezone"]] * n, dtype="string")
    zone_codes, zone_names = pd.factorize(zones)
    zone_info = _Zones(
        zone_codes, [str(z) for z in zone_names], np.array([_zone_ok(str(z)) for z in zone_names], dtype=bool)
    )
    for k, zone in enumerate(zone_info.names):
        if not zone_info.ok[k]:
            problems += _problems_from_mask(
                zone_codes == k, source, "timezone", f"unknown time zone {zone!r}", rows
            )

    # numbers
    num: dict[str, np.ndarray] = {}
    not_number = np.zeros(n, dtype=bool)
    for col in FLOAT_COLUMNS:
        if col in get:
            num[col], bad_cells = _to_float(get[col], source, col, rows, problems)
            if col in ("energy_kwh", "target_soc"):
                not_number |= bad_cells
        else:
            num[col] = np.full(n, np.nan)
        default = DEFAULTS.get(col)
        if default is not None:
            num[col] = np.where(np.isnan(num[col]), float(default), num[col])  # type: ignore[arg-type]
    v2g = _to_bool(get["v2g"], source, rows, problems) if "v2g" in get else np.zeros(n, dtype=bool)

    arrival = _parse_times(get["arrival"], zone_info, source, "arrival", rows, problems)
    departure = _parse_times(get["departure"], zone_info, source, "departure", rows, problems)
    both = (arrival != _NAT) & (departure != _NAT)
    not_after = both & (departure <= arrival)
    problems += _problems_from_mask(not_after, source, "departure", "departure is not after arrival", rows)

    energy = num["energy_kwh"]
    target = num["target_soc"]
    no_need = np.isnan(energy) & np.isnan(target) & ~not_number
    problems += _problems_from_mask(
        no_need, source, "energy_kwh", "neither energy_kwh nor target_soc given", rows
    )
    problems += _problems_from_mask(energy < 0, source, "energy_kwh", "negative energy", rows, energy)
    for col in ("target_soc", "initial_soc", "min_soc"):
        v = num[col]
        problems += _problems_from_mask((v < 0) | (v > 1), source, col, f"{col} outside [0, 1]", rows, v)
    for col in ("charge_efficiency", "discharge_efficiency"):
        v = num[col]
        problems += _problems_from_mask((v <= 0) | (v > 1), source, col, f"{col} outside (0, 1]", rows, v)
    for col in ("max_charge_kw", "max_discharge_kw"):
        v = num[col]
        problems += _problems_from_mask(v < 0, source, col, f"negative {col}", rows, v)
    battery = num["battery_kwh"]
    problems += _problems_from_mask(
        battery <= 0, source, "battery_kwh", "battery_kwh must be positive", rows, battery
    )
    if problems:
        raise ValidationError(problems)

    # defaults that depend on other columns
    initial = num["initial_soc"]
    has_energy = ~np.isnan(energy)
    energy_or_0 = np.where(has_energy, energy, 0.0)
    battery = np.where(np.isnan(battery), np.maximum(DEFAULT_BATTERY_KWH, energy_or_0 / 0.8), battery)
    initial = np.where(
        np.isnan(initial),
        np.where(
            has_energy, np.clip(1.0 - energy_or_0 / battery, 0.0, DEFAULT_INITIAL_SOC), DEFAULT_INITIAL_SOC
        ),
        initial,
    )
    energy = np.where(has_energy, energy, np.maximum(0.0, target - initial) * battery)

    dwell_h = (departure - arrival) / 3.6e12
    deliverable = np.minimum(
        num["max_charge_kw"] * num["charge_efficiency"] * dwell_h, (1.0 - initial) * battery
    )
    shortfall = np.maximum(0.0, energy - deliverable)
    shortfall[shortfall < SHORTFALL_TOLERANCE_KWH] = 0.0

    utc = "UTC"
    out = pd.DataFrame(
        {
            "session_id": session_id,
            "site_id": site_id,
            "vehicle_id": vehicle_id,
            "arrival": pd.DatetimeIndex(arrival.view("M8[ns]")).tz_localize(utc),
            "departure": pd.DatetimeIndex(departure.view("M8[ns]")).tz_localize(utc),
            "energy_kwh": energy,
            "target_soc": target,
            "battery_kwh": battery,
            "initial_soc": initial,
            "max_charge_kw": num["max_charge_kw"],
            "max_discharge_kw": num["max_discharge_kw"],
            "charge_efficiency": num["charge_efficiency"],
            "discharge_efficiency": num["discharge_efficiency"],
            "v2g": v2g,
            "min_soc": num["min_soc"],
            "timezone": zones,
            "shortfall_kwh": shortfall,
        }
    )
    return SessionTable(out, source, tuple(all_notes))


def _read_csv(path: Path, string_columns: Sequence[str]) -> pd.DataFrame:
    """Read a CSV with Arrow (multi-threaded): ``string_columns`` stay text, empty cells in them are ``""``;
    other columns are inferred (numbers, booleans), with the usual missing-value words as nulls."""
    header = [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    wanted = [c for c in string_columns if c in header]
    try:
        table = pacsv.read_csv(
            str(path),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        # e.g. a column typed from its first block that has text further down: read everything as text
        # with pandas, so that validation can name the row and field of each bad cell
        return pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    # a column with no value at all has Arrow's null type: read it as an empty numeric column
    table = table.cast(
        pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f for f in table.schema])
    )
    mapper = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=mapper.get)


def read_sessions(path: str | Path, mapping: Mapping[str, str] | None = None) -> SessionTable:
    """Read a generic CSV or Parquet session file.

    Args:
        path: ``.csv`` (UTF-8, optional BOM) or ``.parquet`` file.
        mapping: optional ``{our_column: their_column}`` renaming, e.g. ``{"arrival": "plug_in_time"}``.

    Raises:
        VgiError: the file is missing or unreadable, or a mapping names an unknown column.
        ValidationError: the content fails validation (every problem with its row and field).
    """
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    mapping = dict(mapping or {})
    bad_ours = [ours for ours in mapping if ours not in COLUMNS or ours == "shortfall_kwh"]
    if bad_ours:
        raise VgiError(f"{p}: mapping names unknown column(s) {bad_ours}; known: {', '.join(COLUMNS[:-1])}")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            text_columns = (*STRING_COLUMNS, "arrival", "departure")
            frame = _read_csv(p, [mapping.get(c, c) for c in text_columns])
    except (OSError, ValueError, pd.errors.ParserError, ImportError, pa.ArrowException) as exc:
        raise VgiError(f"{p}: cannot read as a session table ({exc})") from exc
    if mapping:
        missing = [theirs for theirs in mapping.values() if theirs not in frame.columns]
        if missing:
            raise VgiError(
                f"{p}: mapped column(s) not in file: {', '.join(missing)}; "
                f"found {list(map(str, frame.columns))}"
            )
        frame = frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    return sessions_from_frame(frame, str(p))
