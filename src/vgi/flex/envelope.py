"""Flexibility envelopes: what each session, and the fleet, can do while every need is still met.

Per session and step (:func:`session_envelope`):

* power bounds, grid side: ``power_min_kw = -discharge limit`` and ``power_max_kw = charge limit`` (the session's
  power times the share of the step it is plugged in; zero outside its window);
* battery-energy bounds at the end of each step, kWh: the highest energy reachable,
  ``min(e_max, e_init + charge gained at full power so far)``, and the lowest energy from which the need can still
  be met, ``max(e_floor, e_init - energy discharged at full power so far, need - what full power can still add
  before departure)``.  "The need" is the part that can be met at all: ``min(e_need, e_max, e_init + all the
  window can deliver)``.  Both bounds are tight (each is reached by some schedule that meets the need), and
  every schedule that keeps the session's limits and meets its need lies between them.  After departure the
  bounds stay at their last values; before arrival both are ``e_init``.

For the fleet (:func:`fleet_envelope`), the "virtual battery": the sums over sessions of the power bounds and of
the energy bounds counted from each session's arrival energy (``e - e_init``), i.e. the bounds on the fleet's
cumulative net battery energy since the grid's start.  Every fleet schedule that meets every need lies inside; the
converse does not hold in general (summing bounds forgets which car holds the energy), so the virtual battery is an
outer approximation, good for screening and for warm starts, not for commitments.

The adjustable potential (:func:`adjustable_potential`, the report's 可调节潜力) is for commitments: for each hour
and a duration ``D``, how many kW the fleet can lower (``down_kw``) or raise (``up_kw``) its load below / above a
baseline (default: uncontrolled charging) for ``D`` hours from that hour, with every need still met.  It is
computed per session, each holding a constant deviation over the whole window, and summed: a deliverable value (a
fleet can always do at least this), exact for each session (bisection to ``1e-9`` kW on the session's reachable
battery interval), and a lower bound of the fleet-level optimum where cars could take turns.  A session's power in
a step is its net power: it does not charge and discharge at once to soak up more energy through its losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.schedule.problem import FleetOnGrid

__all__ = [
    "FleetEnvelope",
    "SessionEnvelope",
    "adjustable_potential",
    "feasible_need_kwh",
    "fleet_envelope",
    "session_envelope",
]

#: sessions per block when building n x T arrays
BLOCK = 32_768


@dataclass(frozen=True, eq=False)
class SessionEnvelope:
    """Per-session bounds, each (n, T): grid-side power in kW and battery energy at the end of each step in kWh."""

    power_min_kw: np.ndarray
    power_max_kw: np.ndarray
    energy_min_kwh: np.ndarray
    energy_max_kwh: np.ndarray


@dataclass(frozen=True, eq=False)
class FleetEnvelope:
    """The fleet's "virtual battery": sums of the session bounds per step, each (T,).

    ``energy_*_kwh`` count the net battery energy the fleet has gained since the grid's start (each session from its
    arrival energy).  ``plugged_in`` is the number of sessions plugged in (any part of the step).
    """

    index: pd.DatetimeIndex
    power_min_kw: np.ndarray
    power_max_kw: np.ndarray
    energy_min_kwh: np.ndarray
    energy_max_kwh: np.ndarray
    plugged_in: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """The envelope as a table indexed by the grid's local time."""
        return pd.DataFrame(
            {
                "power_min_kw": self.power_min_kw,
                "power_max_kw": self.power_max_kw,
                "energy_min_kwh": self.energy_min_kwh,
                "energy_max_kwh": self.energy_max_kwh,
                "plugged_in": self.plugged_in,
            },
            index=self.index,
        )


def feasible_need_kwh(fleet: FleetOnGrid) -> np.ndarray:
    """The battery energy each session can have at departure at best, capped at its need (N,), kWh."""
    reach = np.minimum(fleet.e_max_kwh, fleet.e_init_kwh + _total_gain(fleet))
    return np.maximum(np.minimum(fleet.e_need_kwh, reach), fleet.e_init_kwh)


def _total_gain(fleet: FleetOnGrid) -> np.ndarray:
    """Battery energy full-power charging adds over each whole window (no battery bound), kWh."""
    n_full = fleet.stop - fleet.start
    plugged = np.where(
        n_full >= 2,
        (n_full - 2) + fleet.first_fraction + fleet.last_fraction,
        np.where(n_full == 1, fleet.first_fraction, 0.0),
    )
    return plugged * fleet.max_charge_kw * fleet.charge_efficiency * fleet.step_hours


def session_envelope(fleet: FleetOnGrid, rows: slice | np.ndarray | None = None) -> SessionEnvelope:
    """Power and battery-energy bounds of the sessions ``rows`` (all by default), each (n, T)."""
    sel = slice(None) if rows is None else rows
    dt = fleet.step_hours
    avail = fleet.availability(rows)
    pmax = avail * fleet.max_charge_kw[sel][:, None]
    pmin = -avail * fleet.max_discharge_kw[sel][:, None]
    x = pmax * fleet.charge_efficiency[sel][:, None] * dt  # battery kWh per step at full charge
    y = -pmin / fleet.discharge_efficiency[sel][:, None] * dt  # battery kWh per step at full discharge
    e_init = fleet.e_init_kwh[sel][:, None]
    cum_x = np.cumsum(x, axis=1)
    e_max = np.minimum(fleet.e_max_kwh[sel][:, None], e_init + cum_x)
    need = feasible_need_kwh(fleet)[sel][:, None]
    remaining = cum_x[:, -1:] - cum_x  # what full power can still add after each step
    e_min = np.maximum(fleet.e_floor_kwh[sel][:, None], e_init - np.cumsum(y, axis=1))
    e_min = np.maximum(e_min, need - remaining)
    e_min = np.minimum(e_min, e_max)  # equal where the need takes everything (rounding only)
    return SessionEnvelope(pmin, pmax, e_min, e_max)


def fleet_envelope(fleet: FleetOnGrid) -> FleetEnvelope:
    """The virtual battery of the whole fleet (sums of :func:`session_envelope` per step), built block by block."""
    n_steps = fleet.n_steps
    out = {k: np.zeros(n_steps) for k in ("pmin", "pmax", "emin", "emax", "plugged")}
    for b0 in range(0, len(fleet), BLOCK):
        rows = np.arange(b0, min(len(fleet), b0 + BLOCK))
        env = session_envelope(fleet, rows)
        e_init = fleet.e_init_kwh[rows][:, None]
        out["pmin"] += env.power_min_kw.sum(axis=0)
        out["pmax"] += env.power_max_kw.sum(axis=0)
        out["emin"] += (env.energy_min_kwh - e_init).sum(axis=0)
        out["emax"] += (env.energy_max_kwh - e_init).sum(axis=0)
        out["plugged"] += (fleet.availability(rows) > 0).sum(axis=0)
    return FleetEnvelope(
        index=fleet.grid.local_index,
        power_min_kw=out["pmin"],
        power_max_kw=out["pmax"],
        energy_min_kwh=out["emin"],
        energy_max_kwh=out["emax"],
        plugged_in=out["plugged"].astype(np.int64),
    )


def _gain(power_kw: np.ndarray, eta_c: np.ndarray, eta_d: np.ndarray, dt: float) -> np.ndarray:
    """Battery kWh gained in a step at grid-side power ``power_kw`` (negative = discharging)."""
    return np.where(power_kw >= 0.0, power_kw * eta_c * dt, power_kw / eta_d * dt)


def _bisect(
    fn: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, iterations: int = 60
) -> np.ndarray:
    """Largest r in [lo, hi] with fn(r) true, per element (fn(lo) must hold; fn is monotone)."""
    ok_hi = fn(hi)
    a, b = lo.copy(), hi.copy()
    a[ok_hi] = hi[ok_hi]
    todo = ~ok_hi
    for _ in range(iterations):
        if not todo.any():
            break
        mid = 0.5 * (a + b)
        ok = fn(mid)
        a = np.where(todo & ok, mid, a)
        b = np.where(todo & ~ok, mid, b)
        todo &= (b - a) > 1e-9
    return a


def _session_potential(
    fleet: FleetOnGrid, rows: np.ndarray, baseline_kw: np.ndarray, k0: int, k1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Down and up potential (kW) of the sessions ``rows`` that are plugged in over steps [k0, k1)."""
    dt = fleet.step_hours
    avail = fleet.availability(rows)
    cmax = avail * fleet.max_charge_kw[rows][:, None]
    dmax = avail * fleet.max_discharge_kw[rows][:, None]
    eta_c = fleet.charge_efficiency[rows][:, None]
    eta_d = fleet.discharge_efficiency[rows][:, None]
    x = cmax * eta_c * dt
    y = dmax / eta_d * dt
    lo = fleet.e_floor_kwh[rows]
    hi = fleet.e_max_kwh[rows]
    e_init = fleet.e_init_kwh[rows]
    need = feasible_need_kwh(fleet)[rows]
    base = baseline_kw[:, k0:k1]
    upper_before = np.minimum(hi, e_init + x[:, :k0].sum(axis=1))  # highest energy when the window opens
    lower_before = np.maximum(lo, e_init - y[:, :k0].sum(axis=1))  # lowest energy when the window opens
    after = x[:, k1:].sum(axis=1)  # what full power adds after the window
    c_w, d_w = cmax[:, k0:k1], dmax[:, k0:k1]
    ec, ed = eta_c[:, 0:1], eta_d[:, 0:1]

    def down_ok(r: np.ndarray) -> np.ndarray:
        q = np.minimum(c_w, base - r[:, None])  # most power allowed in the window
        u = upper_before.copy()
        ok = np.ones(len(r), dtype=bool)
        for j in range(q.shape[1]):
            u = np.minimum(hi, u + _gain(q[:, j], ec[:, 0], ed[:, 0], dt))
            ok &= u >= lo - 1e-12
        return ok & (np.minimum(hi, u + after) >= need - 1e-9)

    def up_ok(r: np.ndarray) -> np.ndarray:
        q = np.maximum(-d_w, base + r[:, None])  # least power allowed in the window
        low = lower_before.copy()
        ok = np.ones(len(r), dtype=bool)
        for j in range(q.shape[1]):
            low = np.maximum(lo, low + _gain(q[:, j], ec[:, 0], ed[:, 0], dt))
            ok &= low <= hi + 1e-12
        return ok

    zero = np.zeros(len(rows))
    down_max = np.maximum(0.0, (base + d_w).min(axis=1, initial=np.inf))
    up_max = np.maximum(0.0, (c_w - base).min(axis=1, initial=np.inf))
    down_start = down_ok(zero)
    up_start = up_ok(zero)
    down = np.where(down_start, _bisect(down_ok, zero, down_max), 0.0)
    up = np.where(up_start, _bisect(up_ok, zero, up_max), 0.0)
    return down, up


def adjustable_potential(
    fleet: FleetOnGrid, duration_hours: float = 1.0, baseline_kw: np.ndarray | None = None
) -> pd.DataFrame:
    """Hourly adjustable potential: kW the fleet can hold below (``down_kw``) / above (``up_kw``) a baseline for
    ``duration_hours`` from each hour, every need that can be met still met (see the module docstring).

    Args:
        fleet: sessions on a grid.
        duration_hours: how long the deviation is held; a whole number of steps.
        baseline_kw: (N, T) grid-side net power of each session the deviation is measured from; default:
            uncontrolled charging.

    Returns:
        One row per hour start (local time, steps whose minute is 0; every step for steps longer than an hour)
        whose window fits in the grid: ``start``, ``steps``, ``baseline_kw`` (fleet, mean over the window),
        ``down_kw``, ``up_kw``, ``sessions`` (plugged in over the whole window).
    """
    step_min = fleet.grid.step_minutes
    n_win = duration_hours * 60.0 / step_min
    if duration_hours <= 0 or abs(n_win - round(n_win)) > 1e-9:
        raise VgiError(f"duration of {duration_hours} h is not a whole number of {step_min}-min steps")
    n_win_steps = round(n_win)
    if baseline_kw is None:
        from vgi.schedule.uncontrolled import uncontrolled_charge_kw

        baseline_kw, _ = uncontrolled_charge_kw(fleet)
    baseline_kw = np.asarray(baseline_kw, dtype=float)
    if baseline_kw.shape != (len(fleet), fleet.n_steps):
        raise VgiError(f"baseline must be (sessions, steps) = {(len(fleet), fleet.n_steps)}, got {baseline_kw.shape}")
    local = fleet.grid.local_index
    starts = np.flatnonzero(local.minute == 0) if step_min <= 60 else np.arange(fleet.n_steps)
    starts = starts[starts + n_win_steps <= fleet.n_steps]
    records = []
    for k0 in starts.tolist():
        k1 = k0 + n_win_steps
        covering = np.flatnonzero((fleet.start <= k0) & (fleet.stop >= k1))
        down = up = 0.0
        for b0 in range(0, len(covering), BLOCK):
            rows = covering[b0 : b0 + BLOCK]
            d, u = _session_potential(fleet, rows, baseline_kw[rows], k0, k1)
            down += float(d.sum())
            up += float(u.sum())
        records.append(
            {
                "start": local[k0],
                "steps": n_win_steps,
                "baseline_kw": float(baseline_kw[:, k0:k1].sum(axis=0).mean()),
                "down_kw": down,
                "up_kw": up,
                "sessions": len(covering),
            }
        )
    return pd.DataFrame.from_records(
        records, columns=["start", "steps", "baseline_kw", "down_kw", "up_kw", "sessions"]
    )
