"""Sessions on a time grid, and schedules: the shared input and output of every strategy.

:class:`FleetOnGrid` turns a :class:`~vgi.model.sessions.SessionTable` into per-session arrays on a
:class:`~vgi.model.timegrid.TimeGrid` (first and end step, the share of the first and last step the car is
plugged in, power and energy limits).  It holds no N x T array; :meth:`FleetOnGrid.charge_limit_kw` builds
one on demand for a slice of sessions.

Conventions (battery side vs grid side):

* ``charge_kw`` / ``discharge_kw`` are grid-side powers, both >= 0; the battery gains
  ``charge_kw * charge_efficiency * dt`` and loses ``discharge_kw / discharge_efficiency * dt``.
* ``e_*_kwh`` are battery energies: ``e_init`` at arrival, ``e_floor`` never gone below by discharging
  (``min(min_soc, initial_soc) * battery``), ``e_max`` the battery, ``e_need`` wanted at departure
  (``e_init + energy_kwh``; NOT capped at ``e_max``: a need above the battery is unmet by the difference, which
  strategies report through their soft need, never hide).
* In ``v1g`` mode discharge limits are zero; in ``v2g`` mode they are the session's ``max_discharge_kw`` where it
  consents (``v2g``) and zero elsewhere.
* A session outside the grid keeps its row with no steps (``start == stop``); its need is unmet, never dropped.
  A session that arrived before the grid starts is taken as it is at the grid's start (``e_init`` unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from vgi.model.sessions import SessionTable
from vgi.model.timegrid import TimeGrid

__all__ = ["FleetOnGrid", "Mode", "Schedule"]

Mode = Literal["v1g", "v2g"]


@dataclass(frozen=True, eq=False)
class FleetOnGrid:
    """Per-session arrays of a fleet on a time grid (length N each)."""

    grid: TimeGrid
    mode: Mode
    session_id: np.ndarray
    site_id: np.ndarray
    start: np.ndarray  # int64 first step the car is plugged in for (part of)
    stop: np.ndarray  # int64 one past the last such step
    first_fraction: np.ndarray  # share of step `start` the car is plugged in, (0, 1]
    last_fraction: np.ndarray  # share of step `stop - 1` plugged in, (0, 1]
    max_charge_kw: np.ndarray
    max_discharge_kw: np.ndarray  # 0 in v1g mode or without consent
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray
    e_init_kwh: np.ndarray
    e_floor_kwh: np.ndarray
    e_max_kwh: np.ndarray
    e_need_kwh: np.ndarray

    @classmethod
    def from_sessions(cls, sessions: SessionTable, grid: TimeGrid, mode: Mode = "v1g") -> FleetOnGrid:
        f = sessions.frame
        step_s = grid.step_minutes * 60.0
        t0 = float(grid.epoch_seconds[0])
        arr = (pd.DatetimeIndex(f["arrival"]).as_unit("ns").asi8 / 1e9 - t0) / step_s
        dep = (pd.DatetimeIndex(f["departure"]).as_unit("ns").asi8 / 1e9 - t0) / step_s
        n_steps = grid.n_steps
        arr_c = np.clip(arr, 0.0, n_steps)
        dep_c = np.clip(dep, 0.0, n_steps)
        start = np.floor(arr_c).astype(np.int64)
        stop = np.ceil(dep_c - 1e-9).astype(np.int64)
        stop = np.maximum(stop, start)
        empty = dep_c - arr_c <= 1e-9
        start = np.where(empty, np.minimum(start, n_steps), start)
        stop = np.where(empty, start, stop)
        first_fraction = np.where(stop > start, np.minimum(start + 1, dep_c) - arr_c, 1.0)
        last_fraction = np.where(stop > start, dep_c - np.maximum(stop - 1, arr_c), 1.0)
        one_step = stop - start == 1
        first_fraction = np.where(one_step, dep_c - arr_c, first_fraction)
        last_fraction = np.where(one_step, dep_c - arr_c, last_fraction)
        battery = f["battery_kwh"].to_numpy(dtype=float)
        e_init = f["initial_soc"].to_numpy(dtype=float) * battery
        e_floor = np.minimum(f["min_soc"].to_numpy(dtype=float), f["initial_soc"].to_numpy(dtype=float)) * battery
        e_need = e_init + f["energy_kwh"].to_numpy(dtype=float)
        discharge = f["max_discharge_kw"].to_numpy(dtype=float) * f["v2g"].to_numpy(dtype=bool)
        if mode == "v1g":
            discharge = np.zeros_like(discharge)
        return cls(
            grid=grid,
            mode=mode,
            session_id=f["session_id"].to_numpy(dtype=object),
            site_id=f["site_id"].to_numpy(dtype=object),
            start=start,
            stop=stop,
            first_fraction=np.clip(first_fraction, 0.0, 1.0),
            last_fraction=np.clip(last_fraction, 0.0, 1.0),
            max_charge_kw=f["max_charge_kw"].to_numpy(dtype=float),
            max_discharge_kw=discharge,
            charge_efficiency=f["charge_efficiency"].to_numpy(dtype=float),
            discharge_efficiency=f["discharge_efficiency"].to_numpy(dtype=float),
            e_init_kwh=e_init,
            e_floor_kwh=e_floor,
            e_max_kwh=battery,
            e_need_kwh=e_need,
        )

    def __len__(self) -> int:
        return len(self.session_id)

    @property
    def n_steps(self) -> int:
        return self.grid.n_steps

    @property
    def step_hours(self) -> float:
        return self.grid.step_hours

    def availability(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Share of each step each session is plugged in, (n x T) in [0, 1]; built on demand."""
        sel = slice(None) if rows is None else rows
        start, stop = self.start[sel], self.stop[sel]
        t = np.arange(self.n_steps)
        avail = ((t[None, :] >= start[:, None]) & (t[None, :] < stop[:, None])).astype(float)
        has = stop > start
        r = np.flatnonzero(has)
        avail[r, start[has]] = self.first_fraction[sel][has]
        avail[r, stop[has] - 1] = np.where(
            stop[has] - start[has] == 1, self.first_fraction[sel][has], self.last_fraction[sel][has]
        )
        return avail

    def charge_limit_kw(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Max average grid-side charging power per step (n x T): power limit x share of the step plugged in."""
        sel = slice(None) if rows is None else rows
        return self.availability(rows) * self.max_charge_kw[sel][:, None]

    def discharge_limit_kw(self, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Max average grid-side discharging power per step (n x T)."""
        sel = slice(None) if rows is None else rows
        return self.availability(rows) * self.max_discharge_kw[sel][:, None]

    def clip_power(
        self,
        charge_kw: np.ndarray,
        discharge_kw: np.ndarray | None = None,
        *,
        rows: slice | np.ndarray | None = None,
        first_step: int = 0,
        e_start_kwh: np.ndarray | None = None,
        e_cap_kwh: np.ndarray | None = None,
        inplace: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Proposed grid-side powers clipped to every bound of each session, the one clip every strategy uses.

        ``charge_kw`` and ``discharge_kw`` (kW, averages over each step, ``n x k`` for the sessions ``rows`` and the
        steps ``first_step .. first_step + k - 1``) come back (copies unless ``inplace``) with, for each session
        and step:

        * ``0 <= c <= Cmax_t`` and ``0 <= d <= Dmax_t`` (power limit x share of the step plugged in; 0 outside the
          window, and ``Dmax = 0`` in v1g mode or without consent);
        * ``c / Cmax_t + d / Dmax_t <= 1`` where both limits are positive (time-sharing): a step that breaks it
          keeps its battery-side net change ``eta_c c - d / eta_d`` and is moved onto the line (it charges at
          full power for a share ``alpha`` of the step and discharges for the rest), i.e. only the cycling goes;
        * battery energy within ``[e_floor, e_cap]`` at the end of every step in the window, going step by step
          from ``e_start_kwh`` (kWh at the start of ``first_step``; default ``e_init_kwh``, right when the steps
          start at or before the window).  A step that would go above ``e_cap`` (default ``e_max_kwh``) loses
          charge only, one that would go below ``e_floor`` loses discharge only; an energy already outside the
          bounds is never moved further out.

        The result is the proposal wherever the proposal keeps every bound (to rounding).  Rows are processed in
        blocks, so no temporary larger than a block x k is built besides the copies.
        """
        sel = np.arange(len(self))[slice(None) if rows is None else rows]
        take = np.asarray if inplace else np.array
        c_all = take(charge_kw, dtype=float)
        d_all = None if discharge_kw is None else take(discharge_kw, dtype=float)
        if c_all.ndim != 2 or c_all.shape[0] != len(sel) or (d_all is not None and d_all.shape != c_all.shape):
            raise ValueError(
                f"powers of shape {c_all.shape} (discharge {None if d_all is None else d_all.shape}) "
                f"do not match {len(sel)} sessions"
            )
        k = c_all.shape[1]
        steps = np.arange(first_step, first_step + k)
        dt = self.step_hours
        block = max(1, 4_000_000 // max(1, k))
        for b0 in range(0, len(sel), block):
            part = slice(b0, min(len(sel), b0 + block))
            r = sel[part]
            start, stop = self.start[r][:, None], self.stop[r][:, None]
            t = steps[None, :]
            share = ((t >= start) & (t < stop)).astype(float)
            share = np.where((t == stop - 1) & (stop - start >= 2), self.last_fraction[r][:, None], share)
            share = np.where((t == start) & (stop > start), self.first_fraction[r][:, None], share)
            c_max = share * self.max_charge_kw[r][:, None]
            c = c_all[part]
            np.clip(c, 0.0, c_max, out=c)
            eta_c = self.charge_efficiency[r]
            if d_all is not None:
                d = d_all[part]
                d_max = share * self.max_discharge_kw[r][:, None]
                np.clip(d, 0.0, d_max, out=d)
                eta_d = self.discharge_efficiency[r]
                both = (c_max > 0) & (d_max > 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    over = both & (c / c_max + d / d_max > 1.0)
                if over.any():
                    # keep the net battery change k, drop the cycling: alpha = (k + Y) / (X + Y) on the line
                    ii, jj = np.nonzero(over)
                    x_b = eta_c[ii] * c_max[ii, jj]
                    y_b = d_max[ii, jj] / eta_d[ii]
                    net = eta_c[ii] * c[ii, jj] - d[ii, jj] / eta_d[ii]
                    alpha = np.clip((net + y_b) / (x_b + y_b), 0.0, 1.0)
                    c[ii, jj] = alpha * c_max[ii, jj]
                    d[ii, jj] = (1.0 - alpha) * d_max[ii, jj]
            # battery energy: only sessions whose path leaves its bounds are walked step by step
            e0 = self.e_init_kwh[r] if e_start_kwh is None else np.asarray(e_start_kwh, dtype=float)[part]
            lo = self.e_floor_kwh[r]
            hi = self.e_max_kwh[r]
            if e_cap_kwh is not None:
                hi = np.minimum(np.asarray(e_cap_kwh, dtype=float)[part], hi)
            gain = c * (eta_c[:, None] * dt)
            if d_all is not None:
                gain -= d * (dt / eta_d[:, None])
            path = e0[:, None] + np.cumsum(gain, axis=1)
            out = np.flatnonzero(((path > hi[:, None]) | (path < lo[:, None])).any(axis=1))
            if len(out):
                cb = c[out]
                db = d[out] if d_all is not None else np.zeros_like(cb)
                _walk_energy(cb, db, e0[out], lo[out], hi[out], eta_c[out],
                             eta_d[out] if d_all is not None else np.ones(len(out)), dt)
                c[out] = cb
                if d_all is not None:
                    d[out] = db
        return c_all, d_all

    @property
    def deliverable_kwh(self) -> np.ndarray:
        """Most battery energy each session can gain on this grid (window and battery bound)."""
        plugged_steps = np.where(
            self.stop - self.start >= 2,
            (self.stop - self.start - 2) + self.first_fraction + self.last_fraction,
            np.where(self.stop > self.start, self.first_fraction, 0.0),
        )
        return np.minimum(
            plugged_steps * self.step_hours * self.max_charge_kw * self.charge_efficiency,
            self.e_max_kwh - self.e_init_kwh,
        )

    @property
    def shortfall_kwh(self) -> np.ndarray:
        """Need that no schedule can meet on this grid, kWh (battery side)."""
        return np.maximum(0.0, self.e_need_kwh - self.e_init_kwh - self.deliverable_kwh)


def _walk_energy(
    c: np.ndarray, d: np.ndarray, e: np.ndarray, lo: np.ndarray, hi: np.ndarray, eta_c: np.ndarray,
    eta_d: np.ndarray, dt: float,
) -> None:
    """Step by step from the energy ``e`` (kWh), cut charge where a step would end above ``hi`` and discharge where
    it would end below ``lo`` (never further out than it starts); ``c`` and ``d`` (n x k, kW) in place."""
    e = e.astype(float).copy()
    for j in range(c.shape[1]):
        cj, dj = c[:, j], d[:, j]
        gain = (cj * eta_c - dj / eta_d) * dt
        up = np.maximum(hi - e, 0.0)
        down = np.maximum(e - lo, 0.0)
        high = gain > up
        if high.any():
            cj[high] = np.maximum((up[high] + dj[high] / eta_d[high] * dt) / (eta_c[high] * dt), 0.0)
            gain[high] = up[high]
        low = -gain > down
        if low.any():
            dj[low] = np.maximum((down[low] + cj[low] * eta_c[low] * dt) * eta_d[low] / dt, 0.0)
            gain[low] = -down[low]
        e += gain


@dataclass(frozen=True, eq=False)
class Schedule:
    """Power of each session at each step, what it costs and what is left unmet.

    ``charge_kw`` and ``discharge_kw`` are grid-side averages over each step (N x T, >= 0); ``discharge_kw`` is None
    for a charge-only schedule.  ``unmet_kwh`` is battery-side energy short of each session's need at departure.
    ``stats`` holds figures of the solve: ``cost``, ``solve_seconds``, ``iterations``, ``certified_gap``,
    ``lp_gap``, ... as the strategy reports them.
    """

    fleet: FleetOnGrid
    strategy: str
    charge_kw: np.ndarray
    discharge_kw: np.ndarray | None = None
    unmet_kwh: np.ndarray | None = None
    stats: dict[str, float | int | str] = field(default_factory=dict)
    #: per-step or per-site arrays a strategy reports (``limit_violation_kw``, ``binding``, ...); see vgi.schedule.api
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def net_kw(self) -> np.ndarray:
        """Grid-side net power per session and step (positive import)."""
        return self.charge_kw if self.discharge_kw is None else self.charge_kw - self.discharge_kw

    @property
    def aggregate_kw(self) -> np.ndarray:
        """Fleet net power per step (T,)."""
        agg = self.charge_kw.sum(axis=0)
        return agg if self.discharge_kw is None else agg - self.discharge_kw.sum(axis=0)

    def battery_energy_kwh(self) -> np.ndarray:
        """Battery energy at the end of each step (N x T)."""
        fleet = self.fleet
        gain = self.charge_kw * fleet.charge_efficiency[:, None]
        if self.discharge_kw is not None:
            gain = gain - self.discharge_kw / fleet.discharge_efficiency[:, None]
        return fleet.e_init_kwh[:, None] + np.cumsum(gain * fleet.step_hours, axis=1)

    def delivered_kwh(self) -> np.ndarray:
        """Net battery energy gained per session over the grid (N,)."""
        fleet = self.fleet
        gain = self.charge_kw.sum(axis=1) * fleet.charge_efficiency
        if self.discharge_kw is not None:
            gain = gain - self.discharge_kw.sum(axis=1) / fleet.discharge_efficiency
        return gain * fleet.step_hours

    def short_sessions(self, tolerance_kwh: float = 1e-6) -> pd.DataFrame:
        """Sessions whose need is not met: ``session_id``, ``site_id``, ``unmet_kwh`` (battery side), largest first."""
        unmet = np.zeros(len(self.fleet)) if self.unmet_kwh is None else np.asarray(self.unmet_kwh, dtype=float)
        idx = np.flatnonzero(unmet > tolerance_kwh)
        idx = idx[np.argsort(-unmet[idx], kind="stable")]
        return pd.DataFrame(
            {
                "session_id": self.fleet.session_id[idx],
                "site_id": self.fleet.site_id[idx],
                "unmet_kwh": unmet[idx],
            }
        )

    def aggregate_by_site(self) -> pd.DataFrame:
        """Net power per site and step (T x sites), indexed by the grid's local time."""
        sites = pd.unique(self.fleet.site_id)
        data = {str(s): self.net_kw[self.fleet.site_id == s].sum(axis=0) for s in sites}
        return pd.DataFrame(data, index=self.fleet.grid.local_index)
