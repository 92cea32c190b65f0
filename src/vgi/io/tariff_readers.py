"""Readers for tariffs published in other formats: OpenEI URDB JSON and acnportal's tariff JSON.

Both return a :class:`vgi.model.tariffs.Tariff` whose prices equal the file's:

* :func:`read_urdb_json` reads a record of the OpenEI Utility Rate Database (API v7 layout,
  ``{"items": [...]}`` or a bare record): ``energyratestructure`` (periods x tiers of ``rate + adj``
  USD/kWh), the 12 x 24 weekday and weekend schedules (month x local hour -> period),
  ``flatdemandstructure`` with ``flatdemandmonths``, ``demandratestructure`` with its own 12 x 24 schedules
  (a per-period demand charge in USD/kW-month) and ``fixedchargefirstmeter`` with ``fixedchargeunits``
  (``$/month``, ``$/day`` or ``$/year``); ``startdate`` and ``enddate`` (Unix times; ``enddate`` read as the
  first day no longer in force) give the validity dates.  Energy tiers (``max`` kWh per month) become tier
  blocks; URDB has no holiday list, so holidays price as their weekday.
* :func:`read_acnportal_tariff` reads acnportal's ``{name, effective, link, schedule: [...]}`` files: each
  schedule entry has month-day bounds, a day mask (``WEEKDAYS``, ``WEEKENDS``, ``ALL``), the start hours of
  its price segments (local time) with their USD/kWh prices, and a demand charge in USD/kW-month.  Fractional
  start hours (8.5 = 08:30) are kept as written (acnportal itself truncates them to whole hours).  When two
  entries cover the same months and day types the first one listed wins; the tariff's notes name the entries
  shadowed.

Imported tariffs are ``verification: secondary`` with ``hours_verified: false``: vgi reads the hours from the
file but has not checked them against the utility's own text.

Errors (a missing key, an unsupported unit, a structure vgi cannot represent) raise :class:`VgiError` naming
the file and the key.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from calendar import monthrange
from pathlib import Path
from typing import Any

import pydantic

from vgi.errors import VgiError
from vgi.model.tariffs import Tariff

__all__ = ["detect_tariff_json", "read_acnportal_tariff", "read_tariff_json", "read_urdb_json"]

# utility name fragments -> IANA time zone, for URDB records that carry no location
_URDB_ZONES = (
    ("pacific gas", "America/Los_Angeles"),
    ("southern california edison", "America/Los_Angeles"),
    ("san diego gas", "America/Los_Angeles"),
    ("sacramento municipal", "America/Los_Angeles"),
    ("los angeles department", "America/Los_Angeles"),
    ("ladwp", "America/Los_Angeles"),
    ("consolidated edison", "America/New_York"),
)


def _load_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise VgiError(f"{p}: cannot read tariff file ({exc.strerror})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise VgiError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "tariff"


def _validate(data: dict[str, Any], source: str) -> Tariff:
    from vgi.errors import validation_message

    try:
        return Tariff.model_validate(data)
    except pydantic.ValidationError as exc:
        raise VgiError(validation_message(source, exc)) from exc


def _runs(row: list[int]) -> list[tuple[int, int, int]]:
    """(start hour, end hour, value) runs of a 24-value row."""
    out: list[tuple[int, int, int]] = []
    start = 0
    for h in range(1, 25):
        if h == 24 or row[h] != row[start]:
            out.append((start, h, int(row[start])))
            start = h
    return out


def _check_schedule(rec: dict[str, Any], key: str, n_periods: int, source: str) -> list[list[int]]:
    sched = rec.get(key)
    if not isinstance(sched, list) or len(sched) != 12 or any(
        not isinstance(r, list) or len(r) != 24 for r in sched
    ):
        raise VgiError(f"{source}: '{key}' must be 12 months x 24 hours")
    try:
        out = [[int(v) for v in row] for row in sched]
    except (TypeError, ValueError) as exc:
        raise VgiError(f"{source}: '{key}' holds a value that is not a period index") from exc
    bad = sorted({v for row in out for v in row if not 0 <= v < n_periods})
    if bad:
        raise VgiError(f"{source}: '{key}' refers to period(s) {bad}, but only {n_periods} are defined")
    return out


def _rate(tier: dict[str, Any], source: str, key: str) -> float:
    try:
        return float(tier.get("rate", 0.0) or 0.0) + float(tier.get("adj", 0.0) or 0.0)
    except (TypeError, ValueError) as exc:
        raise VgiError(f"{source}: '{key}' has a rate that is not a number") from exc


def read_urdb_json(path: str | Path, index: int = 0, timezone: str | None = None) -> Tariff:
    """Read record ``index`` of an OpenEI URDB JSON file as a :class:`Tariff` (USD).

    Args:
        path: a URDB API v7 JSON file (``{"items": [...]}``, a list of records or one record).
        index: which record (0-based).
        timezone: IANA zone of the schedules' local hours; inferred for a few known utilities when omitted.
    """
    p = Path(path)
    source = str(p)
    data = _load_json(p)
    if isinstance(data, dict) and "items" in data:
        items = data["items"]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, dict) and "energyratestructure" in data:
        items = [data]
    else:
        raise VgiError(f"{source}: not a URDB record (no 'items' and no 'energyratestructure')")
    if not isinstance(items, list) or not items:
        raise VgiError(f"{source}: no URDB records in the file")
    if not 0 <= index < len(items):
        raise VgiError(f"{source}: record index {index} out of range (the file has {len(items)})")
    rec = items[index]
    where = f"{source} [item {index}]"
    label = str(rec.get("label", f"{p.stem}-{index}"))
    utility = str(rec.get("utility", "unknown utility"))
    name = str(rec.get("name", p.stem))
    if timezone is None:
        low = utility.lower()
        timezone = next((tz for frag, tz in _URDB_ZONES if frag in low), None)
        if timezone is None:
            raise VgiError(f"{where}: the time zone of '{utility}' is not known; pass timezone=...")
    if "startdate" in rec:
        try:
            valid_from = dt.datetime.fromtimestamp(int(rec["startdate"]), tz=dt.UTC).date()
        except (TypeError, ValueError, OverflowError) as exc:
            raise VgiError(f"{where}: 'startdate' is not a Unix time") from exc
    else:
        raise VgiError(f"{where}: no 'startdate'")
    valid_to: dt.date | None = None
    if rec.get("enddate") not in (None, ""):
        try:
            # URDB's enddate is the first day the rate is no longer in force: the last day is the one before
            valid_to = dt.datetime.fromtimestamp(int(rec["enddate"]), tz=dt.UTC).date() - dt.timedelta(days=1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise VgiError(f"{where}: 'enddate' is not a Unix time") from exc
        if valid_to < valid_from:
            raise VgiError(f"{where}: 'enddate' is not after 'startdate'")

    structure = rec.get("energyratestructure")
    if not isinstance(structure, list) or not structure:
        raise VgiError(f"{where}: no 'energyratestructure'")
    n_periods = len(structure)
    raw_labels = rec.get("energytoulabels") or []
    labels: list[str] = []
    for i in range(n_periods):
        lab = str(raw_labels[i]) if i < len(raw_labels) and raw_labels[i] else f"period {i}"
        labels.append(lab if lab not in labels else f"{lab} ({i})")
    notes: list[str] = [f"Read from URDB record {label} in {p.name}."]

    prices: dict[str, float] = {}
    tier_rates: list[list[float]] = []
    tier_max: list[list[float | None]] = []
    for i, tiers in enumerate(structure):
        key = f"energyratestructure[{i}]"
        if not isinstance(tiers, list) or not tiers:
            raise VgiError(f"{where}: '{key}' must be a list of tiers")
        rates, maxes = [], []
        for j, tier in enumerate(tiers):
            unit = str(tier.get("unit", "kWh"))
            if unit != "kWh":
                raise VgiError(
                    f"{where}: '{key}[{j}]' unit '{unit}' is not supported (only kWh tiers per month)"
                )
            rates.append(_rate(tier, where, key))
            maxes.append(float(tier["max"]) if tier.get("max") is not None else None)
        prices[labels[i]] = rates[0]
        tier_rates.append(rates)
        tier_max.append(maxes)

    weekday = _check_schedule(rec, "energyweekdayschedule", n_periods, where)
    weekend = _check_schedule(rec, "energyweekendschedule", n_periods, where)
    groups: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for m in range(12):
        groups.setdefault((tuple(weekday[m]), tuple(weekend[m])), []).append(m + 1)
    seasons = []
    for k, ((wd, we), months) in enumerate(groups.items()):
        windows = {
            "weekday": [{"start": a, "end": b, "period": labels[v]} for a, b, v in _runs(list(wd))],
            "weekend": [{"start": a, "end": b, "period": labels[v]} for a, b, v in _runs(list(we))],
        }
        seasons.append({"name": f"schedule {k + 1}", "months": months, "default_period": labels[wd[0]],
                        "windows": windows})

    tiers_model: dict[str, Any] | None = None
    if any(len(r) > 1 for r in tier_rates):
        depth = max(len(r) for r in tier_rates)
        if any(len(r) != depth for r in tier_rates) or any(m != tier_max[0] for m in tier_max):
            raise VgiError(f"{where}: energy tiers differ between periods; vgi needs the same kWh thresholds")
        blocks = []
        for j in range(depth):
            adders = {labels[i]: tier_rates[i][j] - tier_rates[i][0] for i in range(n_periods)}
            blocks.append({"up_to_kwh": tier_max[0][j], "adder": 0.0, "period_adders": adders})
        tiers_model = {"per": "month", "blocks": {"all": blocks}}
        notes.append("Energy tiers (kWh per month) become tier blocks with per-period adders.")

    interval = int(rec.get("demandwindow") or 15)
    demand: list[dict[str, Any]] = []
    for unit_key in ("flatdemandunit", "demandrateunit", "demandunits"):
        unit = rec.get(unit_key)
        if unit is not None and str(unit) != "kW":
            raise VgiError(f"{where}: '{unit_key}' is '{unit}'; only kW demand charges are supported")
    flat = rec.get("flatdemandstructure")
    if flat:
        months_idx = rec.get("flatdemandmonths") or [0] * 12
        if len(months_idx) != 12:
            raise VgiError(f"{where}: 'flatdemandmonths' must have 12 values")
        for i, tiers in enumerate(flat):
            if len(tiers) > 1:
                raise VgiError(f"{where}: tiered 'flatdemandstructure[{i}]' is not supported")
            rate = _rate(tiers[0], where, f"flatdemandstructure[{i}]")
            months = [m + 1 for m in range(12) if int(months_idx[m]) == i]
            if rate != 0.0 and months:
                demand.append({"name": f"flat demand {i}" if len(flat) > 1 else "flat demand",
                               "price_per_kw": rate, "months": months, "interval_minutes": interval})
    tou = rec.get("demandratestructure")
    if tou:
        n_dp = len(tou)
        d_wd = _check_schedule(rec, "demandweekdayschedule", n_dp, where)
        d_we = _check_schedule(rec, "demandweekendschedule", n_dp, where)
        for i, tiers in enumerate(tou):
            if len(tiers) > 1:
                raise VgiError(f"{where}: tiered 'demandratestructure[{i}]' is not supported")
            rate = _rate(tiers[0], where, f"demandratestructure[{i}]")
            if rate == 0.0:
                continue
            wins: dict[str, list[dict[str, Any]]] = {"weekday": [], "weekend": []}
            for day, sched in (("weekday", d_wd), ("weekend", d_we)):
                by_runs: dict[tuple[int, int], list[int]] = {}
                for m in range(12):
                    for a, b, v in _runs(sched[m]):
                        if v == i:
                            by_runs.setdefault((a, b), []).append(m + 1)
                wins[day] = [{"start": a, "end": b, "period": f"demand {i}", "months": ms}
                             for (a, b), ms in by_runs.items()]
            demand.append({"name": f"demand period {i}", "price_per_kw": rate, "windows": wins,
                           "interval_minutes": interval})

    fixed: list[dict[str, Any]] = []
    amount = rec.get("fixedchargefirstmeter")
    if amount:
        units = str(rec.get("fixedchargeunits", "$/month"))
        per_map = {"$/month": ("month", 1.0), "$/day": ("day", 1.0), "$/year": ("month", 1.0 / 12.0)}
        if units not in per_map:
            raise VgiError(f"{where}: 'fixedchargeunits' '{units}' is not supported ($/month, $/day, $/year)")
        per, factor = per_map[units]
        fixed.append({"name": f"fixed charge ({units})", "amount": float(amount) * factor, "per": per})
    if rec.get("mincharge"):
        min_unit = rec.get("minchargeunits", "")
        notes.append(f"A minimum charge of {rec['mincharge']} {min_unit} is not modelled.")
    notes.append("URDB lists no holidays: holidays are billed as their day of the week.")

    data_out: dict[str, Any] = {
        "id": f"urdb-{_slug(label)}",
        "name": f"{utility}: {name}",
        "region": utility,
        "country": "US",
        "currency": "USD",
        "timezone": timezone,
        "customer": str(rec.get("sector", "unknown")),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "verification": "secondary",
        "hours_verified": False,
        "source": tuple(s for s in (str(rec.get("uri", "")), str(rec.get("source", "")), source) if s),
        "notes": " ".join(notes),
        "energy": {"prices": prices, "seasons": seasons},
        "demand_charges": demand,
        "fixed_charges": fixed,
    }
    if tiers_model is not None:
        data_out["tiers"] = tiers_model
    return _validate(data_out, where)


def _month_day(text: object, source: str, key: str) -> tuple[int, int]:
    try:
        m, d = (int(x) for x in str(text).split("-"))
    except ValueError as exc:
        raise VgiError(f"{source}: '{key}' must be 'MM-DD', got {text!r}") from exc
    if not 1 <= m <= 12 or not 1 <= d <= 31:
        raise VgiError(f"{source}: '{key}' {text!r} is not a month-day")
    return m, d


def _rank_names(prices: list[float]) -> dict[float, str]:
    uniq = sorted(set(prices))
    names = {1: ["flat"], 2: ["off_peak", "on_peak"], 3: ["off_peak", "mid_peak", "on_peak"]}.get(
        len(uniq), [f"level_{k + 1}" for k in range(len(uniq))]
    )
    return dict(zip(uniq, names, strict=True))


def read_acnportal_tariff(path: str | Path, timezone: str = "America/Los_Angeles") -> Tariff:
    """Read an acnportal tariff schedule JSON as a :class:`Tariff` (USD; acnportal's files are Californian).

    Periods are named by price rank within each season (``off_peak``/``mid_peak``/``on_peak``, or ``flat``).
    Demand charges become a monthly demand charge per season (acnportal applies them to the peak of its
    simulation horizon; vgi bills the peak of each calendar month).
    """
    p = Path(path)
    source = str(p)
    data = _load_json(p)
    if not isinstance(data, dict) or not isinstance(data.get("schedule"), list) or not data["schedule"]:
        raise VgiError(f"{source}: not an acnportal tariff (no 'schedule' list)")
    name = str(data.get("name", p.stem))
    effective = str(data.get("effective", ""))
    try:
        y, m, d = (int(x) for x in effective.split("-"))
        valid_from = dt.date(y, m, d)
    except ValueError as exc:
        raise VgiError(f"{source}: 'effective' must be a date YYYY-M-D, got {effective!r}") from exc

    seasons: dict[tuple[int, ...], dict[str, Any]] = {}
    notes = [f"Read from acnportal tariff file {p.name}."]
    if data.get("comment"):
        notes.append(f"File comment: {data['comment']}")
    for k, entry in enumerate(data["schedule"]):
        where = f"{source}: schedule[{k}]"
        for key in ("effective_start", "effective_end", "dow_mask", "times", "tariffs"):
            if key not in entry:
                raise VgiError(f"{where}: missing '{key}'")
        m0, d0 = _month_day(entry["effective_start"], where, "effective_start")
        m1, d1 = _month_day(entry["effective_end"], where, "effective_end")
        if d0 != 1 or d1 < monthrange(2023, m1)[1]:
            bounds = f"{entry['effective_start']}..{entry['effective_end']}"
            raise VgiError(
                f"{where}: season bounds {bounds} do not follow whole months; vgi seasons are month ranges"
            )
        months = tuple(range(m0, m1 + 1)) if m0 <= m1 else tuple(list(range(m0, 13)) + list(range(1, m1 + 1)))
        mask = str(entry["dow_mask"]).upper()
        days = {"WEEKDAYS": ("weekday",), "WEEKENDS": ("weekend",), "ALL": ("weekday", "weekend")}.get(mask)
        if days is None:
            raise VgiError(
                f"{where}: 'dow_mask' must be WEEKDAYS, WEEKENDS or ALL, got {entry['dow_mask']!r}"
            )
        times, tariffs = entry["times"], entry["tariffs"]
        if (
            not isinstance(times, list)
            or not isinstance(tariffs, list)
            or len(times) != len(tariffs)
            or not times
        ):
            raise VgiError(f"{where}: 'times' and 'tariffs' must be lists of the same, non-zero length")
        try:
            segs = sorted((float(t), float(v)) for t, v in zip(times, tariffs, strict=True))
            demand_charge = float(entry.get("demand_charge", 0.0) or 0.0)
        except (TypeError, ValueError) as exc:
            raise VgiError(f"{where}: times, tariffs and demand_charge must be numbers") from exc
        if any(not 0.0 <= t < 24.0 for t, _ in segs):
            raise VgiError(f"{where}: 'times' must be hours in [0, 24)")
        overlap = [s for s in seasons if set(s) & set(months) and s != months]
        if overlap:
            raise VgiError(
                f"{where}: months {list(months)} overlap another entry's months {list(overlap[0])}"
            )
        season = seasons.setdefault(months, {"name": str(entry.get("id", f"season {len(seasons) + 1}")),
                                             "entries": {}, "demand": {}, "shadowed": []})
        for day in days:
            if day in season["entries"]:
                season["shadowed"].append(f"{entry.get('id', k)} ({day})")
                continue
            season["entries"][day] = segs
            season["demand"][day] = demand_charge

    season_models = []
    demand_models = []
    for months, season in seasons.items():
        all_prices = [v for segs in season["entries"].values() for _, v in segs]
        names = _rank_names(all_prices)
        windows: dict[str, list[dict[str, Any]]] = {}
        for day, segs in season["entries"].items():
            wins = []
            for j, (t, v) in enumerate(segs):
                end = segs[j + 1][0] if j + 1 < len(segs) else segs[0][0] + 24.0
                if end > 24.0:  # wraps past midnight: split
                    wins.append({"start": t, "end": 24.0, "period": names[v]})
                    wins.append({"start": 0.0, "end": end - 24.0, "period": names[v]})
                elif end > t:
                    wins.append({"start": t, "end": end, "period": names[v]})
            windows[day] = [w for w in wins if w["end"] > w["start"]]
        if "weekday" not in windows or "weekend" not in windows:
            missing = "weekend" if "weekend" not in windows else "weekday"
            raise VgiError(f"{source}: months {list(months)} have no {missing} schedule")
        season_name = re.sub(r"[-_ ]?(weekdays?|weekends?)$", "", season["name"], flags=re.I)
        season_name = season_name or season["name"]
        season_models.append({
            "name": season_name,
            "months": list(months),
            "default_period": names[season["entries"]["weekday"][0][1]],
            "prices": {n: v for v, n in names.items()},
            "windows": windows,
        })
        charges = set(season["demand"].values())
        if len(charges) > 1:
            raise VgiError(f"{source}: months {list(months)} have different demand charges by day type")
        charge = charges.pop()
        if charge:
            demand_models.append({"name": f"demand ({season_name})", "price_per_kw": charge,
                                  "months": list(months)})
        if season["shadowed"]:
            shadowed = ", ".join(season["shadowed"])
            notes.append(f"Entries {shadowed} repeat day types already covered for months {list(months)}; "
                         "the first entry listed is used.")
    notes.append("Holidays are billed as their day of the week (acnportal has no holiday list).")
    data_out = {
        "id": f"acnportal-{_slug(name)}-{valid_from.isoformat()}",
        "name": name,
        "region": "California",
        "country": "US",
        "currency": "USD",
        "timezone": timezone,
        "customer": "commercial EV charging",
        "valid_from": valid_from,
        "verification": "secondary",
        "hours_verified": False,
        "source": tuple(s for s in (str(data.get("link", "")), f"acnportal tariff file {p.name}") if s),
        "notes": " ".join(notes),
        "energy": {"prices": {}, "seasons": season_models},
        "demand_charges": demand_models,
    }
    return _validate(data_out, source)


def detect_tariff_json(data: object) -> str:
    """Which layout a parsed JSON document has: ``urdb``, ``acnportal`` or ``vgi``."""
    if isinstance(data, dict) and ("items" in data or "energyratestructure" in data):
        return "urdb"
    if isinstance(data, list) and data and isinstance(data[0], dict) and "energyratestructure" in data[0]:
        return "urdb"
    if isinstance(data, dict) and "schedule" in data and "id" not in data:
        return "acnportal"
    return "vgi"


def read_tariff_json(path: str | Path) -> Tariff | None:
    """Read a URDB or acnportal JSON file; None if the file is in vgi's own layout."""
    kind = detect_tariff_json(_load_json(path))
    if kind == "urdb":
        return read_urdb_json(path)
    if kind == "acnportal":
        return read_acnportal_tariff(path)
    return None
