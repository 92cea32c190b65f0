"""Uncontrolled charging: every car charges at full power from arrival until its need is met.

"Full power" in a step is the session's maximum charging power times the share of the step it is plugged in (a
car arriving 5 minutes into a 15-minute step charges at most 2/3 of the step).  The last step charges only
what is left of the need.  A need above the battery stops at a full battery; a need the window cannot deliver
is unmet by the difference.  Uncontrolled charging never discharges, in V2G mode too.
"""

from __future__ import annotations

import time

import numpy as np

from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

__all__ = ["uncontrolled_charge_kw", "uncontrolled_strategy"]

#: sessions per block (bounds the temporary n x T arrays)
BLOCK = 32_768


def uncontrolled_charge_kw(fleet: FleetOnGrid) -> tuple[np.ndarray, np.ndarray]:
    """Grid-side charging power (N x T) of uncontrolled charging and each session's unmet energy (N,), kWh."""
    n, n_steps = len(fleet), fleet.n_steps
    dt = fleet.step_hours
    charge = np.zeros((n, n_steps))
    unmet = np.zeros(n)
    for b0 in range(0, n, BLOCK):
        rows = np.arange(b0, min(n, b0 + BLOCK))
        # full power wherever plugged in, clipped by the fleet's one clip with the need (or the battery) as cap
        want = np.minimum(fleet.e_need_kwh[rows], fleet.e_max_kwh[rows])
        power, _ = fleet.clip_power(fleet.charge_limit_kw(rows), rows=rows, e_cap_kwh=want, inplace=True)
        charge[rows] = power
        gain = power.sum(axis=1) * fleet.charge_efficiency[rows] * dt
        unmet[rows] = np.maximum(fleet.e_need_kwh[rows] - fleet.e_init_kwh[rows] - gain, 0.0)
    return charge, unmet


def uncontrolled_strategy(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    """The ``uncontrolled`` strategy (options that steer charging are named in
    ``stats["ignored_options"]``)."""
    t0 = time.perf_counter()
    charge, unmet = uncontrolled_charge_kw(fleet)
    stats: dict[str, float | int | str] = {"solve_seconds": time.perf_counter() - t0, "status": "done"}
    ignored = options.coupled_fields()
    if ignored:
        stats["ignored_options"] = ",".join(ignored)
    return Schedule(fleet, "uncontrolled", charge, None, unmet, stats)
