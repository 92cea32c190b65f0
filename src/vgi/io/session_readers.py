"""Readers of real charging-session exports into a :class:`~vgi.model.sessions.SessionTable`.

* :func:`read_acn_json`: an ACN-Data JSON export (``{"_meta": ..., "_items": [...]}``), RFC 1123 times.
* :func:`read_acn_csv`: the same sessions flattened to one CSV row each (``connectionTime_utc``, ...,
  ``kWhRequested`` and ``requestedDeparture_utc`` from the session's last user input).
* :func:`read_boulder`: start-plus-duration records such as the City of Boulder's
  (``Transaction_Date`` + ``Transaction_Start_Time`` + ``Charging_Time__minutes_``), whose local clock times
  are labelled ``+00``; or the same records normalised to ``start_time, charging_time_min, energy_kwh``.
* :func:`read_any`: one of the above, or the generic layout (:func:`vgi.model.sessions.read_sessions`),
  by name.

Metered data: each reader sets both efficiencies to 1 so that a metered kWh is a delivered kWh.  Battery size
and initial SoC are not in these exports and take the generic layout's defaults.  What a reader substitutes or
skips is written to the table's ``notes``; nothing is dropped without a note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from vgi.errors import Problem, ValidationError, VgiError
from vgi.model.sessions import SessionTable, read_sessions, sessions_from_frame

__all__ = [
    "ACN_DC_STATIONS",
    "ACN_L2_KW",
    "BOULDER_L2_KW",
    "FORMATS",
    "acn_items_frame",
    "boulder_frame",
    "read_acn_csv",
    "read_acn_json",
    "read_any",
    "read_boulder",
]

Prefer = Literal["requested", "delivered"]
FORMATS = ("generic", "acn-json", "acn-csv", "boulder")

#: Assumed power of an ACN Level-2 EVSE, kW.  The highest average power over a whole plug-in at any Caltech
#: Level-2 station in the Dec 2020 - Sep 2021 export is 7.17 kW.
ACN_L2_KW = 7.2
#: Stations whose power is known to differ from :data:`ACN_L2_KW`, kW.  ``2-39-81-4550`` is Caltech's DC fast
#: charger: its sessions average up to ~46 kW over the whole plug-in (99th percentile 45.6 kW).
ACN_DC_STATIONS: dict[str, float] = {"2-39-81-4550": 50.0}
#: Assumed power of a Boulder Level-2 port, kW (the 99.9th percentile of energy / charging time is 7.2 kW).
BOULDER_L2_KW = 7.2
_RFC1123 = "%a, %d %b %Y %H:%M:%S GMT"
_NAT = np.iinfo(np.int64).min


def _check_prefer(prefer: str) -> None:
    if prefer not in ("requested", "delivered"):
        raise VgiError(f"prefer must be 'requested' or 'delivered', not {prefer!r}")


def _times(
    text: pd.Series, fmt: str | None, source: str, field: str, rows: np.ndarray, problems: list[Problem]
) -> np.ndarray:
    """Parse UTC times (``fmt`` None: ISO 8601 with offset) to int64 ns; bad cells become problems."""
    s = text.astype("string").str.strip()
    blank = (s.isna() | (s == "")).to_numpy(dtype=bool, na_value=True)
    s = s.where(~pd.Series(blank, index=s.index))
    if fmt is None:
        parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
    else:
        parsed = pd.to_datetime(s, utc=True, errors="coerce", format=fmt)
    ns = pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
    bad = (ns == _NAT) & ~blank
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(f"not a time: {text.iloc[i]!r}", source, int(rows[i]), field))
    ns[blank] = _NAT
    return ns


def _numbers(
    text: pd.Series,
    source: str,
    field: str,
    rows: np.ndarray,
    problems: list[Problem],
    thousands: str | None = None,
) -> np.ndarray:
    """Parse numbers (empty cells and ``-`` are missing, NaN); other non-numbers become problems."""
    if pd.api.types.is_numeric_dtype(text.dtype) and not pd.api.types.is_bool_dtype(text.dtype):
        return text.to_numpy(dtype=float, na_value=np.nan)
    s = text.astype("string").str.strip()
    if thousands:
        s = s.str.replace(thousands, "", regex=False)
    blank = (s.isna() | s.isin(["", "-"])).to_numpy(dtype=bool, na_value=True)
    num = pd.to_numeric(s.where(~pd.Series(blank, index=s.index)), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    bad = np.isnan(num) & ~blank
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(f"not a number: {text.iloc[i]!r}", source, int(rows[i]), field))
    return num


def _ids(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.strip()
    return s.where(s != "")


def _acn_sessions(
    raw: Mapping[str, Any],
    rows: np.ndarray,
    source: str,
    prefer: Prefer,
    max_charge_kw: float,
    station_max_kw: Mapping[str, float] | None,
    fields: Mapping[str, str],
    problems: list[Problem],
) -> SessionTable:
    """Common part of the ACN readers; ``raw`` holds parsed columns, ``fields`` their names in the source."""
    n = len(rows)
    connect, disconnect = raw["connect"], raw["disconnect"]
    delivered, requested, req_dep = raw["delivered"], raw["requested"], raw["requested_departure"]
    if problems:
        raise ValidationError(problems)
    has_request = ~np.isnan(requested)
    notes: list[str] = []
    if prefer == "requested":
        use_energy = has_request & (requested >= 0)
        use_departure = (req_dep != _NAT) & (connect != _NAT) & (req_dep > connect)
        energy = np.where(use_energy, requested, delivered)
        departure = np.where(use_departure, req_dep, disconnect)
        n_no_request = int((~has_request).sum())
        if n_no_request:
            notes.append(
                f"{n_no_request} of {n} session(s) have no user request: delivered energy "
                f"({fields['delivered']}) and disconnect time used"
            )
        bad_dep = int((has_request & ~use_departure & (req_dep != _NAT)).sum())
        if bad_dep:
            notes.append(f"{bad_dep} requested departure(s) not after arrival: disconnect time used")
        no_dep = int((has_request & (req_dep == _NAT)).sum())
        if no_dep:
            notes.append(f"{no_dep} request(s) without a requested departure: disconnect time used")
    else:
        energy, departure = delivered, disconnect
        notes.append("delivered energy and disconnect times used (prefer='delivered')")
    stations = raw["station"]
    power = np.full(n, float(max_charge_kw))
    overrides = ACN_DC_STATIONS if station_max_kw is None else dict(station_max_kw)
    for station, kw in overrides.items():
        power[(stations == station).to_numpy(dtype=bool, na_value=False)] = float(kw)
    session_id = raw["session_id"]
    user = raw["user"]
    frame = pd.DataFrame(
        {
            "session_id": session_id,
            "site_id": raw["site"],
            "vehicle_id": user.where(user.notna(), session_id),
            "arrival": pd.DatetimeIndex(connect.view("M8[ns]")).tz_localize("UTC"),
            "departure": pd.DatetimeIndex(np.asarray(departure, dtype=np.int64).view("M8[ns]")).tz_localize(
                "UTC"
            ),
            "energy_kwh": energy,
            "max_charge_kw": power,
            "charge_efficiency": 1.0,
            "discharge_efficiency": 1.0,
            "timezone": raw["timezone"],
        }
    )
    return sessions_from_frame(frame, source, row_numbers=rows, notes=notes)


def acn_items_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """ACN JSON ``_items`` as a flat frame (one row per session; request fields from the last user input)."""
    records = []
    for item in items:
        inputs = item.get("userInputs") or []
        last = inputs[-1] if isinstance(inputs, list) and inputs else {}
        records.append(
            {
                "sessionID": item.get("sessionID"),
                "siteID": item.get("siteID"),
                "stationID": item.get("stationID"),
                "userID": item.get("userID"),
                "connectionTime": item.get("connectionTime"),
                "disconnectTime": item.get("disconnectTime"),
                "kWhDelivered": item.get("kWhDelivered"),
                "kWhRequested": last.get("kWhRequested") if isinstance(last, Mapping) else None,
                "requestedDeparture": last.get("requestedDeparture") if isinstance(last, Mapping) else None,
                "timezone": item.get("timezone"),
            }
        )
    columns = [
        "sessionID",
        "siteID",
        "stationID",
        "userID",
        "connectionTime",
        "disconnectTime",
        "kWhDelivered",
        "kWhRequested",
        "requestedDeparture",
        "timezone",
    ]
    return pd.DataFrame.from_records(records, columns=columns).astype(
        {c: "string" for c in columns if c not in ("kWhDelivered", "kWhRequested")}
    )


def _acn_from_flat(
    flat: pd.DataFrame,
    source: str,
    rows: np.ndarray,
    prefer: Prefer,
    max_charge_kw: float,
    station_max_kw: Mapping[str, float] | None,
    names: Mapping[str, str],
    time_format: str | None,
) -> SessionTable:
    problems: list[Problem] = []
    missing = [
        names[k] for k in ("session", "connect", "disconnect", "delivered") if names[k] not in flat.columns
    ]
    if missing:
        raise ValidationError([Problem(f"missing ACN column(s): {', '.join(missing)}", source)])

    def col(key: str) -> pd.Series:
        name = names[key]
        if name in flat.columns:
            return flat[name].reset_index(drop=True)
        return pd.Series([pd.NA] * len(flat), dtype="string")

    raw = {
        "session_id": _ids(col("session")),
        "site": _ids(col("site")).fillna("acn"),
        "station": _ids(col("station")),
        "user": _ids(col("user")),
        "timezone": _ids(col("timezone")).fillna("America/Los_Angeles"),
        "connect": _times(col("connect"), time_format, source, names["connect"], rows, problems),
        "disconnect": _times(col("disconnect"), time_format, source, names["disconnect"], rows, problems),
        "requested_departure": _times(col("req_dep"), time_format, source, names["req_dep"], rows, problems),
        "delivered": _numbers(col("delivered"), source, names["delivered"], rows, problems),
        "requested": _numbers(col("requested"), source, names["requested"], rows, problems),
    }
    return _acn_sessions(raw, rows, source, prefer, max_charge_kw, station_max_kw, names, problems)


_ACN_JSON_NAMES = {
    "session": "sessionID",
    "site": "siteID",
    "station": "stationID",
    "user": "userID",
    "timezone": "timezone",
    "connect": "connectionTime",
    "disconnect": "disconnectTime",
    "req_dep": "requestedDeparture",
    "delivered": "kWhDelivered",
    "requested": "kWhRequested",
}
_ACN_CSV_NAMES = {
    "session": "sessionID",
    "site": "siteID",
    "station": "stationID",
    "user": "userID",
    "timezone": "timezone",
    "connect": "connectionTime_utc",
    "disconnect": "disconnectTime_utc",
    "req_dep": "requestedDeparture_utc",
    "delivered": "kWhDelivered",
    "requested": "kWhRequested",
}


def acn_sessions_from_json(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    source: str = "<acn-json>",
    prefer: Prefer = "requested",
    max_charge_kw: float = ACN_L2_KW,
    station_max_kw: Mapping[str, float] | None = None,
) -> SessionTable:
    """Sessions from a parsed ACN-Data JSON export (the dict with ``_items``, or the list of items).

    Rows in problems are 1-based positions in ``_items``.  See :func:`read_acn_json` for the options.
    """
    _check_prefer(prefer)
    items = data.get("_items") if isinstance(data, Mapping) else data
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise VgiError(f"{source}: not an ACN-Data export (no '_items' list)")
    bad = [i + 1 for i, item in enumerate(items) if not isinstance(item, Mapping)]
    if bad:
        raise ValidationError([Problem("item is not a JSON object", source, r, None) for r in bad[:20]])
    flat = acn_items_frame(items)
    rows = np.arange(1, len(flat) + 1)
    return _acn_from_flat(
        flat, source, rows, prefer, max_charge_kw, station_max_kw, _ACN_JSON_NAMES, _RFC1123
    )


def read_acn_json(
    path: str | Path,
    prefer: Prefer = "requested",
    max_charge_kw: float = ACN_L2_KW,
    station_max_kw: Mapping[str, float] | None = None,
) -> SessionTable:
    """Read an ACN-Data JSON export.

    Args:
        path: the ``.json`` file (``{"_meta": ..., "_items": [...]}``).
        prefer: ``"requested"`` (default): the driver's last request, ``kWhRequested`` and
            ``requestedDeparture``, where present (and the departure after arrival), else the delivered energy
            ``kWhDelivered`` and ``disconnectTime``; ``"delivered"``: always the metered values.
        max_charge_kw: power of a station not in ``station_max_kw``, kW.
        station_max_kw: ``{stationID: kW}``; default :data:`ACN_DC_STATIONS`.
    """
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise VgiError(f"{p}: cannot read as JSON ({exc})") from exc
    return acn_sessions_from_json(data, str(p), prefer, max_charge_kw, station_max_kw)


def read_acn_csv(
    path: str | Path,
    prefer: Prefer = "requested",
    max_charge_kw: float = ACN_L2_KW,
    station_max_kw: Mapping[str, float] | None = None,
) -> SessionTable:
    """Read ACN-Data sessions flattened to CSV (``connectionTime_utc``, ``disconnectTime_utc``,
    ``kWhDelivered``, ``kWhRequested``, ``requestedDeparture_utc``, ``stationID``, ``userID``, ``timezone``).

    The options are those of :func:`read_acn_json`.  Rows in problems are 1-based data rows.
    """
    _check_prefer(prefer)
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    try:
        flat = pd.read_csv(p, dtype="string", keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise VgiError(f"{p}: cannot read as CSV ({exc})") from exc
    rows = np.arange(1, len(flat) + 1)
    return _acn_from_flat(flat, str(p), rows, prefer, max_charge_kw, station_max_kw, _ACN_CSV_NAMES, None)


def boulder_frame(
    records: pd.DataFrame,
    source: str = "<boulder>",
    timezone: str = "America/Denver",
    max_charge_kw: float = BOULDER_L2_KW,
    incomplete: Literal["skip", "error"] = "skip",
) -> SessionTable:
    """Sessions from start-plus-duration records (all columns as text, as read from the file).

    Accepts the City of Boulder raw columns (``Transaction_Date``, ``Transaction_Start_Time``,
    ``Charging_Time__minutes_``, ``Energy__kWh_``, ``Station_Name``, ``ObjectId``) or the normalised ones
    (``start_time``, ``charging_time_min``, ``energy_kwh``, ``station_name``, ``object_id``).  See
    :func:`read_boulder`.
    """
    if incomplete not in ("skip", "error"):
        raise VgiError(f"incomplete must be 'skip' or 'error', not {incomplete!r}")
    n = len(records)
    rows = np.arange(1, n + 1)
    problems: list[Problem] = []
    cols = set(map(str, records.columns))
    df = records.reset_index(drop=True)
    if {"Transaction_Date", "Transaction_Start_Time", "Charging_Time__minutes_", "Energy__kWh_"} <= cols:
        date = df["Transaction_Date"].astype("string").str.strip().str.slice(0, 10)
        clock = df["Transaction_Start_Time"].astype("string").str.strip().str.slice(11, 19)
        start_text = date + " " + clock
        start_fmt, start_field = "%Y/%m/%d %H:%M:%S", "Transaction_Start_Time"
        minutes_field, energy_field = "Charging_Time__minutes_", "Energy__kWh_"
        station = df["Station_Name"] if "Station_Name" in cols else pd.Series(["boulder"] * n)
        ids = df["ObjectId"] if "ObjectId" in cols else pd.Series(rows.astype(str))
    elif {"start_time", "charging_time_min", "energy_kwh"} <= cols:
        start_text = df["start_time"].astype("string").str.strip()
        start_fmt, start_field = "ISO8601", "start_time"
        minutes_field, energy_field = "charging_time_min", "energy_kwh"
        station = df["station_name"] if "station_name" in cols else pd.Series(["boulder"] * n)
        ids = df["object_id"] if "object_id" in cols else pd.Series(rows.astype(str))
    else:
        raise ValidationError(
            [
                Problem(
                    "not start-plus-duration records: expected Transaction_Date, Transaction_Start_Time, "
                    "Charging_Time__minutes_, Energy__kWh_ (or start_time, charging_time_min, energy_kwh); "
                    f"found {sorted(cols)}",
                    source,
                )
            ]
        )
    naive = pd.to_datetime(start_text, errors="coerce", format=start_fmt)
    naive_ns = pd.DatetimeIndex(naive).as_unit("ns").asi8
    bad_start = naive_ns == _NAT
    for i in np.flatnonzero(bad_start)[:20]:
        problems.append(
            Problem(f"not a start time: {start_text.iloc[i]!r}", source, int(rows[i]), start_field)
        )
    minutes = _numbers(df[minutes_field], source, minutes_field, rows, problems, thousands=",")
    energy = _numbers(df[energy_field], source, energy_field, rows, problems, thousands=",")
    if problems:
        raise ValidationError(problems)
    no_minutes = np.isnan(minutes)
    no_energy = np.isnan(energy)
    zero = ~no_minutes & (minutes <= 0)
    skip = no_minutes | no_energy | zero
    notes: list[str] = []
    if skip.any():
        if incomplete == "error":
            errs = [Problem("no charging time", source, int(r), minutes_field) for r in rows[no_minutes][:50]]
            errs += [Problem("no energy", source, int(r), energy_field) for r in rows[no_energy][:50]]
            errs += [
                Problem("charging time is not positive", source, int(r), minutes_field)
                for r in rows[zero][:50]
            ]
            raise ValidationError(errs)
        first = ", ".join(str(int(r)) for r in rows[skip][:10])
        notes.append(
            f"skipped {int(skip.sum())} of {n} row(s) that cannot make a session: "
            f"{int(no_minutes.sum())} without charging time, {int(no_energy.sum())} without energy, "
            f"{int(zero.sum())} with zero charging time "
            f"(first rows: {first}{', ...' if skip.sum() > 10 else ''})"
        )
    keep = ~skip
    local = pd.DatetimeIndex(naive_ns[keep].view("M8[ns]"))
    try:
        aware = local.tz_localize(
            timezone, ambiguous=np.zeros(len(local), dtype=bool), nonexistent="shift_forward"
        )
    except Exception as exc:  # unknown zone
        raise VgiError(f"{source}: cannot read local times in time zone {timezone!r} ({exc})") from exc
    shifted = int((aware.tz_localize(None) != local).sum())
    if shifted:
        notes.append(f"{shifted} start time(s) in the spring-forward gap moved forward by the DST change")
    notes.append(
        f"local clock times labelled '+00' read as {timezone} wall-clock time; departure = start + duration"
    )
    arrival_ns = aware.as_unit("ns").asi8
    departure_ns = arrival_ns + np.round(minutes[keep] * 60e9).astype(np.int64)
    frame = pd.DataFrame(
        {
            "session_id": _ids(ids.reset_index(drop=True)[keep].reset_index(drop=True)),
            "site_id": _ids(station.reset_index(drop=True)[keep].reset_index(drop=True)),
            "arrival": pd.DatetimeIndex(arrival_ns.view("M8[ns]")).tz_localize("UTC"),
            "departure": pd.DatetimeIndex(departure_ns.view("M8[ns]")).tz_localize("UTC"),
            "energy_kwh": energy[keep],
            "max_charge_kw": float(max_charge_kw),
            "charge_efficiency": 1.0,
            "discharge_efficiency": 1.0,
            "timezone": timezone,
        }
    )
    return sessions_from_frame(frame, source, row_numbers=rows[keep], notes=notes)


def read_boulder(
    path: str | Path,
    timezone: str = "America/Denver",
    max_charge_kw: float = BOULDER_L2_KW,
    incomplete: Literal["skip", "error"] = "skip",
) -> SessionTable:
    """Read start-plus-duration records such as the City of Boulder's export.

    The start is the date of ``Transaction_Date`` plus the clock time of ``Transaction_Start_Time`` (whose
    date part is an export artefact); both are labelled ``+00`` but are local wall-clock times, read in
    ``timezone``.  Departure = start + ``Charging_Time__minutes_`` (an estimate: the export has no plug-out
    time).  Energy is ``Energy__kWh_`` (metered, efficiencies 1).

    Args:
        timezone: the site's IANA zone (Boulder: America/Denver).  A repeated hour is read as standard time;
            a skipped hour is moved forward.
        max_charge_kw: port power, kW.
        incomplete: rows without charging time or energy, or with zero charging time, cannot make a session:
            ``"skip"`` (default) leaves them out and says how many in the table's ``notes``; ``"error"``
            raises a :class:`ValidationError` naming each row.
    """
    p = Path(path)
    if not p.exists():
        raise VgiError(f"{p}: no such file")
    try:
        records = pd.read_csv(p, dtype="string", keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise VgiError(f"{p}: cannot read as CSV ({exc})") from exc
    return boulder_frame(records, str(p), timezone, max_charge_kw, incomplete)


def read_any(
    path: str | Path,
    fmt: str = "generic",
    mapping: Mapping[str, str] | None = None,
    prefer: Prefer = "requested",
) -> SessionTable:
    """Read a session file in one of :data:`FORMATS` (``mapping`` applies to the generic layout only)."""
    if fmt not in FORMATS:
        raise VgiError(f"unknown session format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if mapping and fmt != "generic":
        raise VgiError("a column mapping applies to the generic layout only")
    if fmt == "acn-json":
        return read_acn_json(path, prefer=prefer)
    if fmt == "acn-csv":
        return read_acn_csv(path, prefer=prefer)
    if fmt == "boulder":
        return read_boulder(path)
    return read_sessions(path, mapping)
