"""Charging sessions as a validated columnar table.

A fleet is a :class:`SessionTable`: one row per plug-in, one numpy-backed column per attribute, units in the
column names.  Nothing on a hot path builds a Python object per session.

Columns (the generic CSV/Parquet layout uses exactly these names):

============================  ========  =====================================================================
column                        required  meaning (default when the column is absent or the cell is empty)
============================  ========  =====================================================================
``session_id``                yes       unique id of the plug-in
``site_id``                   no        charging site (``"site"``)
``vehicle_id``                no        vehicle (the session id)
``arrival``                   yes       plug-in time, ISO 8601 with UTC offset (or naive + ``timezone`` column)
``departure``                 yes       plug-out time, after arrival
``energy_kwh``                one of    energy the driver wants added to the battery by departure, kWh
``target_soc``                one of    state of charge wanted at departure, 0-1 (used where energy_kwh is empty)
``battery_kwh``               no        usable battery capacity, kWh (max(60, energy_kwh / 0.8))
``initial_soc``               no        SoC at arrival, 0-1 (min(0.2, 1 - energy_kwh / battery_kwh))
``max_charge_kw``             no        max charging power at the plug, kW (7.2)
``max_discharge_kw``          no        max discharging power, kW; 0 for V1G (0)
``charge_efficiency``         no        battery kWh gained per grid kWh drawn, 0-1 (0.95)
``discharge_efficiency``      no        grid kWh delivered per battery kWh discharged, 0-1 (0.95)
``v2g``                       no        driver consents to discharge (false)
``min_soc``                   no        SoC below which the car is never discharged, 0-1 (0)
``timezone``                  no        IANA zone of the site, for local display and naive times ("UTC")
============================  ========  =====================================================================

Energy is counted on the battery side: a session that wants 10 kWh with a charge efficiency of 0.95 draws
10 / 0.95 kWh from the grid.  Readers of metered data (ACN-Data, Boulder) set the efficiencies to 1 so that the
metered kWh is what is delivered.

Every session is kept.  One whose energy cannot be delivered within its window at its maximum power, or that
does not fit in the battery, is flagged with ``shortfall_kwh`` > 0.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vgi.errors import Problem, ValidationError, VgiError

__all__ = [
    "COLUMNS",
    "DEFAULTS",
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
MAX_PROBLEMS_PER_KIND = 50


@dataclass(frozen=True, eq=False)
class SessionTable:
    """A validated fleet of charging sessions (see the module docstring for the columns).

    Build one with :func:`sessions_from_frame` or :func:`read_sessions`; the frame is not copied again on
    access, so treat it as read-only.
    """

    frame: pd.DataFrame
    source: str = "<memory>"

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
    def energy_kwh(self) -> np.ndarray:
        return self.frame["energy_kwh"].to_numpy(dtype=float)

    @property
    def v2g_enabled(self) -> np.ndarray:
        """Sessions that may discharge: consent and a discharge power above zero."""
        return self.frame["v2g"].to_numpy(dtype=bool) & (self.frame["max_discharge_kw"].to_numpy(dtype=float) > 0)

    @property
    def flagged(self) -> pd.DataFrame:
        """Sessions whose energy cannot be met within their window, with ``shortfall_kwh``."""
        return self.frame.loc[self.frame["shortfall_kwh"] > 1e-9, ["session_id", "energy_kwh", "shortfall_kwh"]]

    @property
    def timezone(self) -> str:
        """The fleet's time zone: the most common site zone."""
        if len(self.frame) == 0:
            return "UTC"
        return str(self.frame["timezone"].mode().iloc[0])

    def subset(self, mask: np.ndarray) -> SessionTable:
        return SessionTable(self.frame.loc[mask].reset_index(drop=True), self.source)

    def with_columns(self, **columns: object) -> SessionTable:
        """A copy with some columns replaced (re-validated)."""
        frame = self.frame.drop(columns=["shortfall_kwh"]).assign(**columns)
        return sessions_from_frame(frame, self.source)

    def to_csv(self, path: str | Path) -> None:
        """Write the generic CSV layout (times ISO 8601 with UTC offset)."""
        out = self.frame.copy()
        for col in ("arrival", "departure"):
            out[col] = pd.DatetimeIndex(out[col]).strftime("%Y-%m-%dT%H:%M:%S%z")
            out[col] = out[col].str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
        out.drop(columns=["shortfall_kwh"]).to_csv(path, index=False, float_format="%.17g")

    def to_parquet(self, path: str | Path) -> None:
        """Write the generic Parquet layout."""
        self.frame.drop(columns=["shortfall_kwh"]).to_parquet(path, index=False)

    def write(self, path: str | Path) -> None:
        """Write CSV or Parquet by the file's suffix."""
        p = Path(path)
        if p.suffix.lower() in (".parquet", ".pq"):
            self.to_parquet(p)
        else:
            self.to_csv(p)


def _problems_from_mask(
    mask: np.ndarray, source: str, field: str, message: str, row_numbers: np.ndarray
) -> list[Problem]:
    idx = np.flatnonzero(mask)
    problems = [Problem(message, source, int(row_numbers[i]), field) for i in idx[:MAX_PROBLEMS_PER_KIND]]
    if len(idx) > MAX_PROBLEMS_PER_KIND:
        problems.append(Problem(f"{message} in {len(idx) - MAX_PROBLEMS_PER_KIND} more row(s)", source, None, field))
    return problems


def _parse_times(
    values: pd.Series, tz_col: pd.Series, source: str, field: str, rows: np.ndarray, problems: list[Problem]
) -> pd.Series:
    """Parse ISO 8601 times to UTC; naive times are read in the row's ``timezone``."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        naive = values
    else:
        text = values.astype("string")
        has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
        if bool(has_offset.all()):
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
            bad = parsed.isna().to_numpy()
            problems += _problems_from_mask(bad, source, field, "not an ISO 8601 time", rows)
            return parsed
        naive = pd.to_datetime(text.str.replace(r"(?:Z|[+-]\d\d:?\d\d)$", "", regex=True), errors="coerce",
                               format="ISO8601")
        aware = pd.to_datetime(text.where(has_offset), utc=True, errors="coerce", format="ISO8601")
        bad = naive.isna().to_numpy()
        problems += _problems_from_mask(bad, source, field, "not an ISO 8601 time", rows)
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        out[has_offset.to_numpy()] = aware[has_offset.to_numpy()]
        for zone in pd.unique(tz_col[~has_offset.to_numpy()]):
            sel = (~has_offset.to_numpy()) & (tz_col.to_numpy() == zone) & ~bad
            if sel.any():
                try:
                    loc = naive[sel].dt.tz_localize(str(zone), ambiguous="NaT", nonexistent="NaT")
                except zoneinfo.ZoneInfoNotFoundError:
                    continue
                out[sel] = loc.dt.tz_convert("UTC")
        return out
    return naive.dt.tz_localize("UTC")


def sessions_from_frame(frame: pd.DataFrame, source: str = "<memory>") -> SessionTable:
    """Validate a frame in the generic layout, fill documented defaults and flag shortfalls.

    Raises :class:`ValidationError` listing every problem (file, 1-based row, field, what is wrong).
    """
    problems: list[Problem] = []
    df = frame.reset_index(drop=True).copy()
    n = len(df)
    rows = np.arange(1, n + 1)
    missing = [c for c in REQUIRED if c not in df.columns]
    if "energy_kwh" not in df.columns and "target_soc" not in df.columns:
        missing.append("energy_kwh or target_soc")
    if missing:
        raise ValidationError(
            [Problem(f"missing required column(s): {', '.join(missing)}; found {list(df.columns)}", source)]
        )
    unknown = [c for c in df.columns if c not in COLUMNS]
    if unknown:
        df = df.drop(columns=unknown)  # extra columns are allowed and ignored, reported in docs
    for col, default in DEFAULTS.items():
        if col not in df.columns:
            df[col] = default
        else:
            df[col] = df[col].where(df[col].notna(), default) if n else df[col]
    df["session_id"] = df["session_id"].astype("string")
    df["site_id"] = df["site_id"].astype("string")
    if "vehicle_id" not in df.columns:
        df["vehicle_id"] = df["session_id"]
    df["vehicle_id"] = df["vehicle_id"].astype("string").fillna(df["session_id"])
    df["timezone"] = df["timezone"].astype("string")

    # identifiers
    empty_id = df["session_id"].isna().to_numpy() | (df["session_id"].str.strip() == "").fillna(True).to_numpy()
    problems += _problems_from_mask(empty_id, source, "session_id", "empty session id", rows)
    dup = df["session_id"].duplicated(keep="first").to_numpy() & ~empty_id
    problems += _problems_from_mask(dup, source, "session_id", "duplicate session id", rows)

    # time zones
    for zone in pd.unique(df["timezone"]):
        try:
            zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems += _problems_from_mask(
                (df["timezone"] == zone).to_numpy(), source, "timezone", f"unknown time zone '{zone}'", rows
            )

    # numbers
    for col in FLOAT_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
            continue
        raw = df[col]
        if raw.dtype == bool:
            raw = raw.astype(float)
        num = pd.to_numeric(raw, errors="coerce")
        non_numeric = (num.isna() & raw.notna()).to_numpy()
        problems += _problems_from_mask(non_numeric, source, col, f"not a number: {col}", rows)
        df[col] = num.astype(float)

    # v2g flag
    v2g_raw = df["v2g"]
    if v2g_raw.dtype != bool:
        text = v2g_raw.astype("string").str.strip().str.lower()
        truthy = text.isin(["true", "1", "yes", "y", "t", "1.0"])
        falsy = text.isin(["false", "0", "no", "n", "f", "0.0", ""]) | text.isna()
        problems += _problems_from_mask(
            ~(truthy | falsy).to_numpy(), source, "v2g", "v2g must be true or false", rows
        )
        df["v2g"] = truthy.fillna(False).to_numpy(dtype=bool)

    df["arrival"] = _parse_times(df["arrival"], df["timezone"], source, "arrival", rows, problems)
    df["departure"] = _parse_times(df["departure"], df["timezone"], source, "departure", rows, problems)
    both = df["arrival"].notna().to_numpy() & df["departure"].notna().to_numpy()
    not_after = np.zeros(n, dtype=bool)
    not_after[both] = (df["departure"].to_numpy()[both] <= df["arrival"].to_numpy()[both])
    problems += _problems_from_mask(not_after, source, "departure", "departure is not after arrival", rows)

    energy = df["energy_kwh"].to_numpy(dtype=float)
    target = df["target_soc"].to_numpy(dtype=float)
    no_need = np.isnan(energy) & np.isnan(target)
    problems += _problems_from_mask(no_need, source, "energy_kwh", "neither energy_kwh nor target_soc given", rows)
    problems += _problems_from_mask(energy < 0, source, "energy_kwh", "negative energy", rows)
    for col in ("target_soc", "initial_soc", "min_soc"):
        v = df[col].to_numpy(dtype=float)
        problems += _problems_from_mask((v < 0) | (v > 1), source, col, f"{col} outside [0, 1]", rows)
    for col in ("charge_efficiency", "discharge_efficiency"):
        v = df[col].to_numpy(dtype=float)
        problems += _problems_from_mask((v <= 0) | (v > 1), source, col, f"{col} outside (0, 1]", rows)
    for col in ("max_charge_kw", "max_discharge_kw"):
        v = df[col].to_numpy(dtype=float)
        problems += _problems_from_mask(v < 0, source, col, f"negative {col}", rows)
    battery = df["battery_kwh"].to_numpy(dtype=float)
    problems += _problems_from_mask(battery <= 0, source, "battery_kwh", "battery_kwh must be positive", rows)
    if problems:
        raise ValidationError(problems)

    # defaults that depend on other columns
    initial = df["initial_soc"].to_numpy(dtype=float)
    has_energy = ~np.isnan(energy)
    battery = np.where(np.isnan(battery), np.maximum(60.0, np.where(has_energy, energy, 0.0) / 0.8), battery)
    initial = np.where(
        np.isnan(initial),
        np.where(has_energy, np.clip(1.0 - np.where(has_energy, energy, 0.0) / battery, 0.0, 0.2), 0.2),
        initial,
    )
    energy = np.where(has_energy, energy, np.maximum(0.0, target - initial) * battery)
    df["battery_kwh"] = battery
    df["initial_soc"] = initial
    df["energy_kwh"] = energy

    dwell_h = (df["departure"] - df["arrival"]).dt.total_seconds().to_numpy() / 3600.0
    deliverable = np.minimum(
        df["max_charge_kw"].to_numpy() * df["charge_efficiency"].to_numpy() * dwell_h,
        (1.0 - initial) * battery,
    )
    df["shortfall_kwh"] = np.maximum(0.0, energy - deliverable)
    df.loc[df["shortfall_kwh"] < 1e-9, "shortfall_kwh"] = 0.0
    return SessionTable(df[list(COLUMNS)], source)


def read_sessions(path: str | Path, mapping: Mapping[str, str] | None = None) -> SessionTable:
    """Read a generic CSV or Parquet session file.

    Args:
        path: ``.csv`` or ``.parquet`` file.
        mapping: optional ``{our_column: their_column}`` renaming, e.g. ``{"arrival": "plug_in_time"}``.
    """
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p, dtype={"session_id": "string", "site_id": "string", "vehicle_id": "string"})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise VgiError(f"{p}: cannot read as a session table ({exc})") from exc
    if mapping:
        missing = [theirs for theirs in mapping.values() if theirs not in frame.columns]
        if missing:
            raise VgiError(f"{p}: mapped column(s) not in file: {', '.join(missing)}")
        frame = frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    return sessions_from_frame(frame, str(p))
