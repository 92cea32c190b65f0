"""Seeded synthetic charging sessions by archetype, drawn from shipped distribution tables.

Archetypes and their tables (``src/vgi/data/distributions/``, sources in each file and in ``NOTICE.md``):

=============  ========================================================  ================================
archetype      arrival, plug-in time, energy                             chargers (share)
=============  ========================================================  ================================
``home``       ElaadNL *private* (weekday/weekend arrivals)              3.7 / 7.4 / 11 kW AC
``workplace``  ElaadNL *workplace* (weekday arrivals every day)          11 / 22 kW AC
``public_ac``  ElaadNL *public* (weekday/weekend arrivals)               11 / 22 kW AC
``public_dc``  vgi table: arrivals peak 12-18 h, mean 41 min, 22 kWh     50 / 150 / 350 kW DC
``depot``      vgi table: school buses back 14-19 h, leave 05-08 h next  19.2 kW AC / 60 kW DC
               day, one day's routes (mean 98 kWh)
=============  ========================================================  ================================

How one session is drawn (all vectorised, one pass per archetype, no Python loop per session):

1. a day (uniform over ``n_days`` from ``start_day``) and a 15-minute arrival slot from the weekday or weekend
   arrival table (by the local date), plus a uniform whole minute within the slot; local wall-clock times in
   ``timezone`` (a time skipped by a daylight-saving change moves forward; a repeated one is standard time);
2. plug-in time from the percentile table, scaled by the archetype's mean length for the 30-minute arrival
   slot over its arrival-weighted mean (ElaadNL archetypes), so that evening home arrivals stay the night;
   rounded to whole minutes, at least 5 minutes.  Depot buses instead leave at a drawn hour of the next
   morning;
3. energy from the percentile table, scaled the same way by the mean energy for the arrival slot;
4. a vehicle from ``vehicles.csv`` (cars by registrations for car archetypes, buses for the depot) and a
   charger from ``chargers.csv``.  V2G: each session at a home, workplace, public AC or depot charger consents
   with probability ``v2g_share`` and then uses a V2G-capable vehicle on a bidirectional DC charger of the
   drawn power (charge limited by the vehicle's DC rating, discharge by its ``max_discharge_kw``); public DC
   sessions never discharge;
5. power = min(charger, vehicle on-board AC limit) for AC, min(charger, vehicle DC rating) for DC; charge and
   discharge efficiency 0.90 for AC and 0.95 for DC;
6. energy is capped at 90 % of the battery; the initial SoC leaves 0-20 % headroom at departure
   (``initial = clip(1 - energy/battery - U(0, 0.2), 0.05, 1 - energy/battery)``); then, for all but
   :data:`UNCAPPED_SHARE` of the sessions, energy is capped at what the window allows
   (``max_charge_kw * charge_efficiency * dwell``), so most sessions are feasible and a few are flagged with
   a shortfall, as in real data.  V2G sessions keep ``min_soc`` = 0.2.  Energy is rounded down to 0.001 kWh
   and the initial SoC to 0.0001, so that a feasible session stays feasible.

Same arguments, same output: the only randomness is ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vgi.errors import VgiError
from vgi.model.sessions import SessionTable, sessions_from_frame
from vgi.model.timegrid import check_timezone

__all__ = [
    "ARCHETYPES",
    "UNCAPPED_SHARE",
    "ArchetypeTables",
    "archetype_tables",
    "generate_frame",
    "generate_sessions",
    "parse_archetypes",
    "vehicle_table",
]

ARCHETYPES = ("home", "workplace", "public_ac", "public_dc", "depot")
#: Share of sessions whose energy is not capped at what their window allows (some of them end up flagged).
UNCAPPED_SHARE = 0.03
AC_EFFICIENCY = 0.90
DC_EFFICIENCY = 0.95
V2G_MIN_SOC = 0.2
MAX_ENERGY_FRACTION = 0.9
MIN_INITIAL_SOC = 0.05
MAX_HEADROOM = 0.2
MIN_DWELL_MINUTES = 5
_NS_MIN = 60_000_000_000
_NS_DAY = 86_400_000_000_000
_ELAAD = {"home": ("private", "home"), "workplace": ("workplace", "work"), "public_ac": ("public", "public")}


@dataclass(frozen=True, eq=False)
class ArchetypeTables:
    """The distributions of one archetype, ready for inverse-CDF sampling.

    ``*_percentile`` are increasing (0-100, share of sessions at or below the value); arrival and departure
    weights are per 15-minute local slot (96, sum 1); factors are per 30-minute arrival slot (48), mean 1
    under the weekday arrival weights.
    """

    name: str
    segment: str
    arrival_weekday: np.ndarray
    arrival_weekend: np.ndarray
    dwell_percentile: np.ndarray
    dwell_hours: np.ndarray
    energy_percentile: np.ndarray
    energy_kwh: np.ndarray
    dwell_factor: np.ndarray
    energy_factor: np.ndarray
    departure_next_day: np.ndarray | None
    charger_kind_dc: np.ndarray
    charger_kw: np.ndarray
    charger_share: np.ndarray
    v2g_allowed: bool


def _data_dir() -> Path:
    return Path(str(resources.files("vgi") / "data"))


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(_data_dir() / "distributions" / name, comment="#", skipinitialspace=True)


def _normalise(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _hourly_to_slots(weights: np.ndarray) -> np.ndarray:
    return _normalise(np.repeat(np.asarray(weights, dtype=float), 4))


def _periodic_fill(values: np.ndarray) -> np.ndarray:
    """Fill NaNs of a daily profile by linear interpolation, wrapping around midnight."""
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    if ok.all():
        return v
    x = np.arange(len(v))
    xp = np.concatenate((x[ok] - len(v), x[ok], x[ok] + len(v)))
    fp = np.tile(v[ok], 3)
    return np.interp(x, xp, fp)


def _slot_factor(means: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """Per-30-minute factor = mean for the slot / arrival-weighted mean (so it averages 1)."""
    m = _periodic_fill(means)
    w30 = arrival.reshape(48, 2).sum(axis=1)
    return m / float(np.dot(w30, m))


@lru_cache(maxsize=1)
def archetype_tables() -> dict[str, ArchetypeTables]:
    """Load every archetype's tables from ``src/vgi/data/distributions/`` (cached)."""
    arrival = _read("elaadnl_arrival.csv")
    conn = _read("elaadnl_connection_time.csv")
    energy = _read("elaadnl_energy_demand.csv")
    means = _read("elaadnl_mean_by_arrival.csv")
    if list(means["slot"]) != [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]:
        raise VgiError("elaadnl_mean_by_arrival.csv: slots must be the 48 half hours in order")
    hourly = _read("vgi_arrival_hourly.csv").sort_values("hour")
    departure = _read("vgi_departure_hourly.csv")
    own_conn = _read("vgi_connection_time.csv")
    own_energy = _read("vgi_energy_demand.csv")
    chargers = _read("chargers.csv")
    # ElaadNL percentile tables count sessions *at least* the value: reverse into an increasing CDF
    conn_p = 100.0 - conn["percent_at_least"].to_numpy(dtype=float)[::-1]
    energy_p = 100.0 - energy["percent_at_least"].to_numpy(dtype=float)[::-1]
    out: dict[str, ArchetypeTables] = {}
    for name in ARCHETYPES:
        ch = chargers[chargers["archetype"] == name]
        if ch.empty:
            raise VgiError(f"chargers.csv: no charger for archetype {name!r}")
        charger_kind_dc = (ch["kind"].str.strip() == "dc").to_numpy()
        charger_kw = ch["power_kw"].to_numpy(dtype=float)
        charger_share = _normalise(ch["share"].to_numpy(dtype=float))
        if name in _ELAAD:
            col, mean_col = _ELAAD[name]
            weekday = _normalise(arrival[f"{col}_weekday"].to_numpy(dtype=float))
            weekend_col = f"{col}_weekend"
            weekend = (
                _normalise(arrival[weekend_col].to_numpy(dtype=float)) if weekend_col in arrival else weekday
            )
            out[name] = ArchetypeTables(
                name=name,
                segment="car",
                arrival_weekday=weekday,
                arrival_weekend=weekend,
                dwell_percentile=conn_p,
                dwell_hours=conn[col].to_numpy(dtype=float)[::-1].copy(),
                energy_percentile=energy_p,
                energy_kwh=energy[col].to_numpy(dtype=float)[::-1].copy(),
                dwell_factor=_slot_factor(means[f"length_h_{mean_col}"].to_numpy(dtype=float), weekday),
                energy_factor=_slot_factor(means[f"energy_kwh_{mean_col}"].to_numpy(dtype=float), weekday),
                departure_next_day=None,
                charger_kind_dc=charger_kind_dc,
                charger_kw=charger_kw,
                charger_share=charger_share,
                v2g_allowed=True,
            )
            continue
        slots = _hourly_to_slots(
            hourly.set_index("hour")[name].reindex(range(24), fill_value=0.0).to_numpy(dtype=float)
        )
        dep = None
        if name in departure.columns:
            dep = _hourly_to_slots(
                departure.set_index("hour")[name].reindex(range(24), fill_value=0.0).to_numpy(dtype=float)
            )
        if dep is None and name not in own_conn.columns:
            raise VgiError(f"vgi_connection_time.csv: no plug-in times for archetype {name!r}")
        ones = np.ones(48)
        out[name] = ArchetypeTables(
            name=name,
            segment="bus" if name == "depot" else "car",
            arrival_weekday=slots,
            arrival_weekend=slots,
            dwell_percentile=own_conn["percentile"].to_numpy(dtype=float),
            dwell_hours=own_conn[name].to_numpy(dtype=float) if name in own_conn else np.zeros(len(own_conn)),
            energy_percentile=own_energy["percentile"].to_numpy(dtype=float),
            energy_kwh=own_energy[name].to_numpy(dtype=float),
            dwell_factor=ones,
            energy_factor=ones,
            departure_next_day=dep,
            charger_kind_dc=charger_kind_dc,
            charger_kw=charger_kw,
            charger_share=charger_share,
            v2g_allowed=name != "public_dc",
        )
    return out


@lru_cache(maxsize=1)
def vehicle_table() -> pd.DataFrame:
    """The shipped vehicle specs (``src/vgi/data/vehicles.csv``): one row per model."""
    frame = pd.read_csv(_data_dir() / "vehicles.csv", comment="#")
    frame["v2g_capable"] = frame["v2g_capable"].astype(str).str.strip().str.lower() == "true"
    return frame


def parse_archetypes(spec: str | Mapping[str, float]) -> dict[str, float]:
    """Archetype shares summing to 1 from ``"home"``, ``"home=0.7,workplace=0.3"`` or a mapping.

    Names without a share split what the named shares leave of 1 equally (all equal when none has a share).
    """
    items: list[tuple[str, float | None]] = []
    if isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, share = part.partition("=")
            try:
                items.append((name.strip(), float(share) if sep else None))
            except ValueError as exc:
                raise VgiError(f"archetype share must be a number: {part!r}") from exc
    else:
        items = [(str(k), float(v)) for k, v in spec.items()]
    if not items:
        raise VgiError(f"no archetype given; choose from {', '.join(ARCHETYPES)}")
    names = [name for name, _ in items]
    unknown = [n for n in names if n not in ARCHETYPES]
    if unknown:
        raise VgiError(f"unknown archetype(s) {', '.join(unknown)}; choose from {', '.join(ARCHETYPES)}")
    if len(set(names)) != len(names):
        raise VgiError(f"archetype named twice: {names}")
    given = {n: s for n, s in items if s is not None}
    if any(not np.isfinite(s) or s < 0 for s in given.values()):
        raise VgiError(f"archetype shares must be non-negative numbers: {given}")
    rest = [n for n, s in items if s is None]
    if rest:
        left = 1.0 - sum(given.values()) if given else 1.0
        if left <= 0:
            raise VgiError(f"shares {given} leave nothing for {', '.join(rest)}")
        shares = {**given, **{n: left / len(rest) for n in rest}}
    else:
        shares = dict(given)
    total = sum(shares.values())
    if total <= 0:
        raise VgiError("archetype shares sum to zero")
    if abs(total - 1.0) < 1e-9:
        return {n: shares[n] for n in names}
    return {n: shares[n] / total for n in names}


def _counts(shares: Mapping[str, float], count: int) -> dict[str, int]:
    """Largest-remainder split of ``count`` by ``shares`` (deterministic)."""
    names = list(shares)
    exact = np.array([shares[n] * count for n in names])
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: count - int(base.sum())]] += 1
    return dict(zip(names, base.tolist(), strict=True))


def _sample_slots(rng: np.random.Generator, weights: np.ndarray, m: int) -> np.ndarray:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(m), side="right"), len(weights) - 1)


def _quantile(rng: np.random.Generator, percentile: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    return np.interp(rng.random(m) * 100.0, percentile, values)


def _localize(naive_ns: np.ndarray, timezone: str) -> np.ndarray:
    """Local wall-clock ns to UTC ns (skipped times move forward, repeated ones are standard time)."""
    idx = pd.DatetimeIndex(naive_ns.view("M8[ns]"))
    if timezone == "UTC":
        return naive_ns
    aware = idx.tz_localize(timezone, ambiguous=np.zeros(len(idx), dtype=bool), nonexistent="shift_forward")
    return aware.as_unit("ns").asi8


def _take_strings(labels: list[str], codes: np.ndarray) -> pd.Series:
    """``labels[codes]`` as a pandas ``string`` column, without a Python object per row."""
    return pd.Series(pd.array(pa.array(labels, type=pa.string()).take(pa.array(codes)), dtype="string"))


@dataclass
class _Drawn:
    archetype: int
    arrival_ns: np.ndarray
    departure_ns: np.ndarray
    energy_kwh: np.ndarray
    vehicle: np.ndarray
    max_charge_kw: np.ndarray
    max_discharge_kw: np.ndarray
    efficiency: np.ndarray
    v2g: np.ndarray
    initial_soc: np.ndarray


def _draw(
    rng: np.random.Generator,
    tables: ArchetypeTables,
    code: int,
    m: int,
    day0_ns: int,
    weekend_of_day: np.ndarray,
    timezone: str,
    v2g_share: float,
    vehicles: pd.DataFrame,
) -> _Drawn:
    n_days = len(weekend_of_day)
    day = rng.integers(0, n_days, m)
    weekend = weekend_of_day[day]
    slot = np.empty(m, dtype=np.int64)
    slot[~weekend] = _sample_slots(rng, tables.arrival_weekday, int((~weekend).sum()))
    slot[weekend] = _sample_slots(rng, tables.arrival_weekend, int(weekend.sum()))
    minute = rng.integers(0, 15, m)
    local_ns = day0_ns + day * _NS_DAY + slot * (15 * _NS_MIN) + minute * _NS_MIN
    arrival_ns = _localize(local_ns, timezone)
    half_hour = slot // 2
    if tables.departure_next_day is not None:
        dep_slot = _sample_slots(rng, tables.departure_next_day, m)
        dep_minute = rng.integers(0, 15, m)
        dep_local = day0_ns + (day + 1) * _NS_DAY + dep_slot * (15 * _NS_MIN) + dep_minute * _NS_MIN
        departure_ns = _localize(dep_local, timezone)
        departure_ns = np.maximum(departure_ns, arrival_ns + MIN_DWELL_MINUTES * _NS_MIN)
    else:
        hours = (
            _quantile(rng, tables.dwell_percentile, tables.dwell_hours, m) * tables.dwell_factor[half_hour]
        )
        hours = np.minimum(hours, float(tables.dwell_hours.max()))
        minutes = np.maximum(np.round(hours * 60.0), MIN_DWELL_MINUTES).astype(np.int64)
        departure_ns = arrival_ns + minutes * _NS_MIN
    energy = _quantile(rng, tables.energy_percentile, tables.energy_kwh, m) * tables.energy_factor[half_hour]
    energy = np.minimum(energy, float(tables.energy_kwh.max()))

    # vehicles: all of the segment, or its V2G-capable ones for consenting sessions
    seg = (vehicles["segment"] == tables.segment).to_numpy()
    weight = vehicles["weight"].to_numpy(dtype=float)
    capable = vehicles["v2g_capable"].to_numpy(dtype=bool)
    v2g = (rng.random(m) < v2g_share) if tables.v2g_allowed and v2g_share > 0 else np.zeros(m, dtype=bool)
    if v2g.any() and not (seg & capable).any():
        raise VgiError(f"vehicles.csv: no V2G-capable vehicle of segment {tables.segment!r}")
    all_idx = np.flatnonzero(seg)
    vehicle = all_idx[_sample_slots(rng, weight[all_idx], m)]
    if v2g.any():
        cap_idx = np.flatnonzero(seg & capable)
        vehicle[v2g] = cap_idx[_sample_slots(rng, weight[cap_idx], int(v2g.sum()))]
    charger = _sample_slots(rng, tables.charger_share, m)
    charger_kw = tables.charger_kw[charger]
    dc = tables.charger_kind_dc[charger] | v2g
    ac_kw = vehicles["max_ac_kw"].to_numpy(dtype=float)[vehicle]
    dc_kw = vehicles["max_dc_kw"].to_numpy(dtype=float)[vehicle]
    dc = dc | (ac_kw <= 0)
    max_charge = np.minimum(charger_kw, np.where(dc, dc_kw, ac_kw))
    max_discharge = np.where(
        v2g, np.minimum(charger_kw, vehicles["max_discharge_kw"].to_numpy(dtype=float)[vehicle]), 0.0
    )
    efficiency = np.where(dc, DC_EFFICIENCY, AC_EFFICIENCY)

    battery = vehicles["battery_kwh"].to_numpy(dtype=float)[vehicle]
    energy = np.minimum(energy, MAX_ENERGY_FRACTION * battery)
    frac = energy / battery
    headroom = rng.random(m) * MAX_HEADROOM
    initial = np.clip(1.0 - frac - headroom, MIN_INITIAL_SOC, 1.0 - frac)
    dwell_h = (departure_ns - arrival_ns) / 3.6e12
    capped = rng.random(m) >= UNCAPPED_SHARE
    energy = np.where(capped, np.minimum(energy, max_charge * efficiency * dwell_h), energy)
    # readable values, rounded down so that a feasible session stays feasible
    energy = np.floor(energy * 1000.0) / 1000.0
    initial = np.floor(initial * 10000.0) / 10000.0
    return _Drawn(
        archetype=code,
        arrival_ns=arrival_ns,
        departure_ns=departure_ns,
        energy_kwh=energy,
        vehicle=vehicle,
        max_charge_kw=max_charge,
        max_discharge_kw=max_discharge,
        efficiency=efficiency,
        v2g=v2g,
        initial_soc=initial,
    )


def generate_frame(
    count: int,
    archetypes: str | Mapping[str, float] = "home",
    seed: int = 0,
    start_day: str = "2024-06-03",
    n_days: int = 1,
    timezone: str = "UTC",
    v2g_share: float = 0.0,
    site_prefix: str = "",
) -> pd.DataFrame:
    """Generated sessions in the generic layout, not yet validated; see :func:`generate_sessions`."""
    if int(count) != count or count < 0:
        raise VgiError(f"count must be a non-negative whole number, not {count!r}")
    if int(n_days) != n_days or n_days < 1:
        raise VgiError(f"n_days must be a whole number >= 1, not {n_days!r}")
    if not 0.0 <= float(v2g_share) <= 1.0:
        raise VgiError(f"v2g_share must be within [0, 1], not {v2g_share!r}")
    check_timezone(timezone)
    try:
        first = dt.date.fromisoformat(str(start_day))
    except ValueError as exc:
        raise VgiError(f"start_day must be a date YYYY-MM-DD, not {start_day!r}") from exc
    count, n_days = int(count), int(n_days)
    shares = parse_archetypes(archetypes)
    tables = archetype_tables()
    vehicles = vehicle_table()
    rng = np.random.default_rng(seed)
    day0_ns = int(pd.Timestamp(first).as_unit("ns").value)
    weekend_of_day = np.array([(first + dt.timedelta(days=d)).weekday() >= 5 for d in range(n_days)])
    names = list(shares)
    drawn = [
        _draw(rng, tables[name], k, m, day0_ns, weekend_of_day, timezone, float(v2g_share), vehicles)
        for k, (name, m) in enumerate(_counts(shares, count).items())
    ]

    def cat(attr: str) -> np.ndarray:
        parts = [getattr(d, attr) for d in drawn]
        return np.concatenate(parts) if parts else np.zeros(0)

    arrival_ns = cat("arrival_ns").astype(np.int64)
    archetype = np.concatenate([np.full(len(d.arrival_ns), d.archetype) for d in drawn]).astype(np.int64)
    order = np.argsort(arrival_ns, kind="stable")
    vehicle = cat("vehicle").astype(np.int64)[order]
    width = max(len(str(max(count - 1, 0))), 1)
    number = pd.Series(np.arange(count)).astype("string").str.zfill(width)
    session_id = (site_prefix + "s") + number
    model = _take_strings([str(m) for m in vehicles["model"]], vehicle)
    v2g = cat("v2g").astype(bool)[order]
    efficiency = cat("efficiency")[order]
    return pd.DataFrame(
        {
            "session_id": session_id,
            "site_id": _take_strings([f"{site_prefix}{n}" for n in names], archetype[order]),
            "vehicle_id": model + "#" + number,
            "arrival": pd.DatetimeIndex(arrival_ns[order].view("M8[ns]")).tz_localize("UTC"),
            "departure": pd.DatetimeIndex(
                cat("departure_ns").astype(np.int64)[order].view("M8[ns]")
            ).tz_localize("UTC"),
            "energy_kwh": cat("energy_kwh")[order],
            "battery_kwh": vehicles["battery_kwh"].to_numpy(dtype=float)[vehicle],
            "initial_soc": cat("initial_soc")[order],
            "max_charge_kw": cat("max_charge_kw")[order],
            "max_discharge_kw": cat("max_discharge_kw")[order],
            "charge_efficiency": efficiency,
            "discharge_efficiency": efficiency,
            "v2g": v2g,
            "min_soc": np.where(v2g, V2G_MIN_SOC, 0.0),
            "timezone": _take_strings([timezone], np.zeros(count, dtype=np.int64)),
        }
    )


def generate_sessions(
    count: int,
    archetypes: str | Mapping[str, float] = "home",
    seed: int = 0,
    start_day: str = "2024-06-03",
    n_days: int = 1,
    timezone: str = "UTC",
    v2g_share: float = 0.0,
    site_prefix: str = "",
) -> SessionTable:
    """A validated synthetic fleet of ``count`` sessions (see the module docstring for how each is drawn).

    Args:
        count: number of sessions (all archetypes together), split by share with the largest remainder.
        archetypes: ``"home"``, ``"home=0.6,workplace=0.4"`` or ``{"home": 0.6, "workplace": 0.4}``;
            names from :data:`ARCHETYPES`.
        seed: seed of the random generator; the same arguments give the same table.
        start_day: first local day, ``YYYY-MM-DD``.
        n_days: number of days the arrivals spread over (uniformly); weekend days use the weekend arrivals.
        timezone: IANA zone whose wall clock the arrival tables are read in.
        v2g_share: probability that a session at a V2G-able archetype (all but ``public_dc``) consents to V2G.
        site_prefix: prefix of session ids (``<prefix>s000123``) and site ids (``<prefix><archetype>``).

    Returns:
        A :class:`~vgi.model.sessions.SessionTable` sorted by arrival; ``vehicle_id`` is ``<model>#<number>``.
    """
    frame = generate_frame(count, archetypes, seed, start_day, n_days, timezone, v2g_share, site_prefix)
    label = f"<generated: {count} x {archetypes!s}, seed {seed}>"
    return sessions_from_frame(frame, label)
