"""Turn a validated scenario into arrays: sessions, the simulation grid, prices per tariff, series, events,
limits.

The simulation grid starts at local midnight of the horizon's first day.  It ends at the horizon's end,
extended (the *run-out*) to the last departure of a session that arrived within the horizon, rounded up to the
hour and at most one day, so every session of the horizon is simulated to its departure and every mode
delivers the same energy.  Sessions that arrive outside the horizon are not simulated and are counted in
``Inputs.sessions_outside_horizon``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.io.files import series_path
from vgi.model.sessions import SessionTable, read_sessions
from vgi.model.tariffs import Tariff, tariff_prices
from vgi.model.timegrid import TimeGrid
from vgi.scenario.schema import Event, Scenario, Series

__all__ = ["EventWindow", "Inputs", "load_series", "prepare"]


@dataclass(frozen=True)
class EventWindow:
    """An event on the simulation grid: steps ``[start_step, stop_step)``."""

    id: str
    spec: Event
    start_step: int
    stop_step: int
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, eq=False)
class Inputs:
    """Everything a run needs, as arrays on the simulation grid (T steps).

    Attributes:
        grid: simulation grid (horizon plus run-out).
        horizon_steps: steps of the horizon proper (the first ``horizon_steps`` of the grid).
        sessions: the fleet (after V2G rules).
        tariffs: distinct tariffs, index 0 the default.
        tariff_index: (N,) which tariff each session pays.
        buy / sell: (K, T) import and export price per tariff, currency/kWh.
        period: (K, T) period name per step.
        offpeak: (K, T) bool, steps in the tariff's cheapest import price of that local day.
        onpeak: (K, T) bool, steps in the tariff's dearest import price of that local day.
        spot: (T,) the ``prices.spot`` series in its own unit, or None.
        export_spot: (T,) or None.
        renewable_kw / base_load_kw: (T,) or None.
        events: the events on the grid.
        site_limits_kw: {site id: kW} expanded from the scenario's patterns.
    """

    scenario: Scenario
    grid: TimeGrid
    horizon_steps: int
    sessions: SessionTable
    tariffs: list[Tariff]
    tariff_index: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    period: np.ndarray
    offpeak: np.ndarray
    onpeak: np.ndarray
    spot: np.ndarray | None
    export_spot: np.ndarray | None
    renewable_kw: np.ndarray | None
    base_load_kw: np.ndarray | None
    events: list[EventWindow]
    site_limits_kw: dict[str, float]
    sessions_outside_horizon: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.tariffs[0].currency

    @property
    def n_vehicles(self) -> int:
        """Vehicles for the per-EV figures: ``fleet.vehicles`` or the distinct vehicle ids."""
        if self.scenario.fleet.vehicles is not None:
            return int(self.scenario.fleet.vehicles)
        return int(self.sessions.frame["vehicle_id"].nunique())

    @property
    def horizon_grid(self) -> TimeGrid:
        """The horizon without the run-out (the first ``horizon_steps`` steps of ``grid``)."""
        end = self.grid.start + pd.Timedelta(minutes=self.horizon_steps * self.grid.step_minutes)
        return TimeGrid(self.grid.start, end, self.grid.step_minutes, self.grid.timezone)

    @property
    def horizon_days(self) -> int:
        return self.scenario.horizon.days

    @property
    def aggregator_prices(self) -> tuple[np.ndarray, np.ndarray]:
        """Buy and sell prices (T,) the aggregator optimises against in the direct modes, currency/kWh."""
        if self.scenario.aggregator.prices == "spot":
            assert self.spot is not None
            price = self.spot * self.scenario.aggregator.spot_to_currency_per_kwh
            return price, price.copy()
        return self.buy[0], self.sell[0]


def _read_series_file(path: Path, column: str | None, label: str) -> tuple[pd.Series, np.ndarray]:
    """The series (UTC index) and each row's wall-clock minute of the day as written."""
    from vgi.io.series import read_timestamped_csv

    series, text = read_timestamped_csv(path, column, label)
    clock = text.str.slice(11, 16).str.split(":", expand=True).astype(int)
    minutes = (clock[0] * 60 + clock[1]).to_numpy(dtype=np.int64)
    return series, minutes


def load_series(spec: Series, grid: TimeGrid, label: str) -> np.ndarray:
    """A series' value at each step start of ``grid`` (times ``scale``).

    Each step takes the last value at or before its start; a dated series must cover the whole grid (its last
    value holds for one of its own steps).
    """
    path = series_path(spec.shipped) if spec.shipped is not None else Path(str(spec.file))
    series, clock = _read_series_file(path, spec.column, label)
    if len(series) == 0:
        raise VgiError(f"{path}: {label} series is empty")
    if spec.daily:
        # a daily profile: the wall-clock time of day as written in the file, whatever its offset
        order = np.argsort(clock, kind="stable")
        prof_min, prof_val = clock[order], series.to_numpy()[order]
        step_local = grid.local_index
        step_min = (step_local.hour * 60 + step_local.minute).to_numpy()
        pos = np.searchsorted(prof_min, step_min, side="right") - 1
        pos = np.where(pos < 0, len(prof_min) - 1, pos)  # before the first point: wrap to the day's last
        return np.asarray(prof_val[pos] * spec.scale, dtype=float)
    idx = pd.DatetimeIndex(series.index).as_unit("ns").asi8
    steps = grid.utc_index.as_unit("ns").asi8
    pos = np.searchsorted(idx, steps, side="right") - 1
    if pos[0] < 0:
        raise VgiError(
            f"{path}: {label} series starts at {series.index[0]}, after the simulation starts at "
            f"{grid.start} "
            f"(expected values covering {grid.start} .. {grid.end})"
        )
    span = int(idx[-1] - idx[-2]) if len(idx) > 1 else 3_600 * 1_000_000_000
    if steps[-1] >= idx[-1] + span:
        raise VgiError(
            f"{path}: {label} series ends at {series.index[-1]}, before the simulation ends at {grid.end} "
            f"(expected values covering {grid.start} .. {grid.end})"
        )
    return np.asarray(series.to_numpy()[pos] * spec.scale, dtype=float)


def _match(values: np.ndarray, patterns: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    for pattern in patterns:
        hit = np.fromiter((fnmatch.fnmatchcase(u, pattern) for u in uniq), dtype=bool, count=len(uniq))
        out |= hit[inverse]
    return out


def _sessions(scn: Scenario) -> SessionTable:
    spec = scn.fleet
    rules = spec.v2g
    if spec.generator is not None:
        from vgi.model.generator import generate_sessions

        gen = spec.generator
        return generate_sessions(
            count=gen.count,
            archetypes=gen.archetypes,
            seed=gen.seed,
            start_day=scn.horizon.start.isoformat(),
            n_days=scn.horizon.days,
            timezone=scn.timezone,
            v2g_share=rules.share if rules.share is not None else 0.0,
            site_prefix=gen.site_prefix,
        )
    return read_sessions(str(spec.sessions), spec.mapping)


def _apply_v2g_rules(sessions: SessionTable, scn: Scenario) -> SessionTable:
    """Consent share (session files), discharge power, minimum SoC and where discharge is allowed."""
    rules = scn.fleet.v2g
    f = sessions.frame
    v2g = f["v2g"].to_numpy(dtype=bool).copy()
    max_dis = f["max_discharge_kw"].to_numpy(dtype=float).copy()
    min_soc = f["min_soc"].to_numpy(dtype=float).copy()
    changed = False
    if rules.share is not None and scn.fleet.sessions is not None:
        vehicles = pd.unique(f["vehicle_id"].astype(str))
        rng = np.random.default_rng(rules.seed)
        chosen = set(vehicles[rng.random(len(vehicles)) < rules.share].tolist())
        v2g = f["vehicle_id"].astype(str).isin(chosen).to_numpy()
        changed = True
    if rules.max_discharge_kw is not None:
        max_dis = np.where(v2g & (max_dis <= 0), rules.max_discharge_kw, max_dis)
        changed = True
    if rules.min_soc is not None:
        min_soc = np.where(v2g, np.maximum(min_soc, rules.min_soc), min_soc)
        changed = True
    if rules.sites is not None:
        v2g = v2g & _match(f["site_id"].to_numpy(), rules.sites)
        changed = True
    if not changed:
        return sessions
    return sessions.with_columns(v2g=v2g, max_discharge_kw=max_dis, min_soc=min_soc)


def _local_day_masks(prices: np.ndarray, local_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps at the day's cheapest and dearest price (ties within 1e-9 included)."""
    frame = pd.DataFrame({"day": local_days, "p": prices})
    lo = frame.groupby("day")["p"].transform("min").to_numpy()
    hi = frame.groupby("day")["p"].transform("max").to_numpy()
    cheapest = prices <= lo + 1e-9
    dearest = (prices >= hi - 1e-9) & (hi > lo + 1e-9)
    return cheapest, dearest


def prepare(scn: Scenario) -> Inputs:
    """Sessions, grid, prices, series, events and limits of a scenario."""
    from vgi.io.tariff_library import tariff_for_period

    notes: list[str] = []
    horizon = TimeGrid.local_days(scn.horizon.start, scn.horizon.days, scn.horizon.step_minutes, scn.timezone)
    sessions = _apply_v2g_rules(_sessions(scn), scn)
    arrival = sessions.arrival
    inside = np.asarray((arrival >= horizon.start) & (arrival < horizon.end))
    outside = int((~inside).sum())
    if outside:
        sessions = sessions.subset(inside)
        notes.append(
            f"{outside} session(s) arrive outside the horizon {horizon.start} .. {horizon.end} and are not simulated"
        )
    if len(sessions) == 0:
        raise VgiError(f"scenario '{scn.name}': no session arrives within the horizon {horizon.start} .. {horizon.end}")
    last_dep = pd.DatetimeIndex(sessions.frame["departure"]).max()
    end = horizon.end
    if last_dep > end:
        run_out = min(last_dep.ceil("h") - end, pd.Timedelta(days=1))
        step = pd.Timedelta(minutes=scn.horizon.step_minutes)
        run_out = step * int(np.ceil(run_out / step))
        end = end + run_out
        late = int((pd.DatetimeIndex(sessions.frame["departure"]) > end).sum())
        if late:
            notes.append(f"{late} session(s) leave more than a day after the horizon; their need is counted at {end}")
    grid = TimeGrid(horizon.start, end, scn.horizon.step_minutes, scn.timezone)

    # tariffs per session: first matching rule, else the default
    ids = [scn.tariffs.default] + [r.tariff for r in scn.tariffs.rules]
    distinct = list(dict.fromkeys(ids))
    # the version of each tariff in force over the simulated days (a tariff that ends or changes within them is a
    # clear error, never a bill at prices that no longer applied)
    tariffs = [tariff_for_period(t, grid.start, grid.end) for t in distinct]
    if scn.tariffs.export is not None:
        tariffs = [t.model_copy(update={"export": scn.tariffs.export}) for t in tariffs]
    index = np.zeros(len(sessions), dtype=np.int64)
    assigned = np.zeros(len(sessions), dtype=bool)
    f = sessions.frame
    for rule in scn.tariffs.rules:
        hit = ~assigned & (
            _match(f["site_id"].to_numpy(), rule.sites) | _match(f["vehicle_id"].to_numpy(), rule.vehicles)
        )
        index[hit] = distinct.index(rule.tariff)
        assigned |= hit

    series: dict[str, np.ndarray | None] = {}
    for key in ("spot", "export_spot", "renewable_kw", "base_load_kw"):
        spec = getattr(scn.prices, key)
        series[key] = None if spec is None else load_series(spec, grid, f"prices.{key}")
    cpp_days = list(scn.tariffs.critical_peak_days)
    buy, sell, period, offpeak, onpeak = [], [], [], [], []
    local_days = np.asarray(grid.local_index.date)
    for tariff in tariffs:
        pv = tariff_prices(tariff, grid.utc_index, series["spot"], series["export_spot"], cpp_days)
        buy.append(pv.import_price)
        sell.append(pv.export_price)
        period.append(pv.period)
        lo, hi = _local_day_masks(pv.import_price, local_days)
        offpeak.append(lo)
        onpeak.append(hi)

    events = []
    for eid, ev in zip(scn.event_ids(), scn.events, strict=True):
        day = pd.Timestamp(ev.day)
        start = (day + pd.Timedelta(hours=ev.start_hours)).tz_localize(
            scn.timezone, nonexistent="shift_forward", ambiguous=False
        )
        stop = (day + pd.Timedelta(hours=ev.end_hours)).tz_localize(
            scn.timezone, nonexistent="shift_forward", ambiguous=False
        )
        s0, s1 = (int(x) for x in grid.step_of(pd.DatetimeIndex([start, stop])))
        events.append(EventWindow(eid, ev, s0, s1, start, stop))

    sites = pd.unique(f["site_id"].astype(str))
    limits: dict[str, float] = {}
    for pattern, kw in scn.grid.site_limits_kw.items():
        hit = _match(np.asarray(sites), (pattern,))
        if not hit.any():
            notes.append(f"grid.site_limits_kw: pattern '{pattern}' matches no site")
        for s in np.asarray(sites)[hit]:
            limits.setdefault(str(s), float(kw))
    return Inputs(
        scenario=scn,
        grid=grid,
        horizon_steps=horizon.n_steps,
        sessions=sessions,
        tariffs=tariffs,
        tariff_index=index,
        buy=np.vstack(buy),
        sell=np.vstack(sell),
        period=np.vstack(period),
        offpeak=np.vstack(offpeak),
        onpeak=np.vstack(onpeak),
        spot=series["spot"],
        export_spot=series["export_spot"],
        renewable_kw=series["renewable_kw"],
        base_load_kw=series["base_load_kw"],
        events=events,
        site_limits_kw=limits,
        sessions_outside_horizon=outside,
        notes=notes,
    )
