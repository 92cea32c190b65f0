"""Revenue stacking: an aggregator's direct-V2G plan that holds capacity for services beside trading energy.

The plan is the coupled LP of :func:`vgi.schedule.lp.build_lp` (grid-side charge ``c`` and discharge ``d`` per
session and step, battery energy ``e`` with the efficiencies, the time-sharing row ``c/Cmax + d/Dmax <= 1``, the
unmet-need penalty and every coupled term of the options) with, for each service ``s`` of
:mod:`vgi.dr.services` and each of its contract blocks ``b`` that lies wholly on the plan's grid (and in the
service's windows):

* ``r[s,b] >= 0`` — kW held for the block (``up``: discharge more or charge less; ``down``: charge more or
  discharge less; ``symmetric``: the same ``r`` both ways);
* per session-step ``k`` in the block, its share ``x_up[k,s] >= 0`` / ``x_down[k,s] >= 0`` with
  ``sum_k x[k,s] >= r[s,b]`` at every step of the block;
* power headroom per session-step: ``(d - c) + sum_s x_up <= Dmax`` and ``(c - d) + sum_s x_down <= Cmax``
  (with the time-sharing row, any net power in ``[-Cmax, Dmax]`` is reachable within a step, so a car that
  charges holds its charge as up-reserve and can discharge beyond it);
* energy reserve per session-step, at both ends of the step (the energy before and after it):
  ``e - sum_s x_up[s] D_s / eta_d >= e_floor`` and ``e + sum_s x_down[s] D_s eta_c <= e_max``, with ``D_s`` the
  hours the service must sustain full delivery.  Each car backs its own share (no aggregate relaxation).  Up
  delivery by charging less takes ``eta_c`` per kWh from the battery, not ``1/eta_d``; the row uses ``1/eta_d``,
  which is more (a safe side).  The rows assume that after a call the aggregator restores the planned energy
  (state-of-energy management, which NESO's services allow through baseline changes); they do not re-check a
  departure need after a full call;
* minimum size: with ``min_kw > 0`` a binary ``z[s,b]`` and ``min_kw z <= r <= M z`` (a mixed-integer
  programme, which HiGHS solves by branch and bound): a block held below the minimum would earn nothing, so the
  plan holds 0 or at least the minimum.  ``M`` is a bound of the block: at its least step, the plugged-in cars'
  power ranges (``Cmax + Dmax``) capped by what their usable energy sustains for the duration, and for a symmetric
  service also half what they could hold both ways together (see :func:`_reserve_bound_kw`); a block whose bound
  is below the minimum is not offered (no binary).

Exact reductions (``plan_stacked(..., reduce=True)``, the default; ``reduce=False`` builds every share and row
above, and tests and ``benchmarks/bench_stacking.py`` check that both give the same optimum):

* a block whose pay per kW held is not positive (``hours_b (availability x de-rating + mileage) + utilisation
  energy <= 0``, e.g. utilisation bought at a dear import price) has ``r`` bounded to 0 and no shares, coverage
  rows or binary: ``r = 0`` with zero shares is feasible with any schedule and costs nothing, so no optimum needs
  more; so has a block below the minimum size;
* a session-step gets no share in a direction where it can hold nothing (``Cmax + Dmax = 0`` or no usable energy
  ``e_max - e_floor``: its rows would force the share to 0);
* where a car cannot discharge in a step its energy only rises, so the up row before the step implies the one
  after it and the down row after the step the one before it; only those are written (and the reverse where it
  cannot charge).

These rely on each car's arrival energy being within ``[e_floor, e_max]`` (as
:meth:`~vgi.schedule.problem.FleetOnGrid.from_sessions` builds it from an initial SoC in [0, 1]); a car outside it
made the full model infeasible in every block covering its first step, where the reduced model checks only the
blocks and directions it keeps.

Objective (minimised, in the prices' currency)::

    energy cost + wear + unmet penalty + coupled penalties
      - sum_{s,b} r[s,b] hours_b (availability price_s x derating factor_s + mileage pay_s)
      - sum_{s,b} r[s,b] dt (u_up_s sum_{t in b} sell_t - u_down_s sum_{t in b} buy_t)

A capacity market pays per kW of de-rated capacity, so the availability price is scaled by the service's
``derating_factor`` (1 for a service that pays every held kW); the reserve rows still back the whole kW held.  The
last line is the expected energy of utilisation: ``u`` is the share of the held kW the service delivers on
average; up-delivery is export sold at the export price, down-delivery import bought at the import price.  It is
an expectation over calls, not a change of the planned energy (the energy rows cover the worst call instead).

:class:`StackedPlan` gives the schedule, the capacity held per block and service, each revenue stream
(``energy``, ``availability:<id>``, ``capacity:<id>``, ``utilisation:<id>``, ``mileage:<id>``, ``wear``) and the
aggregator's table.  With no services the plan is the plain coupled LP (tests check the optimum equals
``schedule(fleet, "coupled", ...)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vgi.dr.services import ServiceProduct, get_service
from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.schedule.lp import build_lp, new_highs
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

__all__ = ["StackedPlan", "plan_stacked", "service_blocks"]


def service_blocks(grid: TimeGrid, service: ServiceProduct) -> np.ndarray:
    """The service's contract blocks that lie wholly on ``grid`` and in its windows, as steps ``[start, stop)``
    (an int array of shape (B, 2)).  Blocks follow the service's local clock (``block_start``, ``block_minutes``);
    a block the grid covers only in part is not offered (its contract would run beyond the plan)."""
    if (service.block_minutes % grid.step_minutes) or (service.block_start_minutes % grid.step_minutes):
        raise VgiError(f"service '{service.id}': {service.block_minutes}-min blocks from {service.block_start} are "
                       f"not on the grid's {grid.step_minutes}-min steps")
    local = grid.utc_index.tz_convert(service.timezone)
    wall = local.tz_localize(None)
    minute = np.asarray(wall.hour * 60 + wall.minute, dtype=np.int64)
    # blocks are counted from the service's clock origin; naive wall time keeps a block on the local clock
    shifted = wall - pd.Timedelta(minutes=service.block_start_minutes)
    key = np.asarray(shifted.floor(f"{service.block_minutes}min").asi8)
    steps_per_block = service.block_minutes // grid.step_minutes
    in_window = np.ones(grid.n_steps, dtype=bool)
    if service.windows:
        in_window = np.zeros(grid.n_steps, dtype=bool)
        for w in service.windows:
            in_window |= np.asarray(w.contains(minute), dtype=bool)
    out = []
    if grid.n_steps == 0:
        return np.zeros((0, 2), dtype=np.int64)
    change = np.flatnonzero(np.diff(key) != 0) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [grid.n_steps]])
    for a, b in zip(starts, stops, strict=True):
        whole = b - a == steps_per_block  # a DST change makes a wall-clock block longer or shorter: not offered
        if whole and in_window[a:b].all():
            out.append((int(a), int(b)))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True, eq=False)
class StackedPlan:
    """A stacked plan (see the module docstring).

    Attributes:
        schedule: charge and discharge per session and step (strategy ``stacked``).
        held: one row per service and block offered: ``service``, ``kind``, ``direction``, ``block_start``,
            ``block_end`` (local times of the service), ``start_step``, ``stop_step``, ``held_kw``, ``derated_kw``
            (``held_kw`` x the service's de-rating factor: the kW the buyer pays for), ``availability``,
            ``utilisation``, ``mileage`` (revenue of the block, currency).
        streams: revenue per stream, currency (positive: earned; ``energy`` is minus the energy bill, ``wear``
            minus the wear cost).
        reserve_up_kw / reserve_down_kw: total held per step, kW (T,).
        currency: the prices' currency.
        notes: what the planner decided that the reader should know (a block too small to offer, a price applied
            outside its dates).
    """

    schedule: Schedule
    held: pd.DataFrame
    streams: dict[str, float]
    reserve_up_kw: np.ndarray
    reserve_down_kw: np.ndarray
    currency: str
    notes: tuple[str, ...] = ()
    stats: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def total_revenue(self) -> float:
        """The sum of every stream (energy net of its bill, services, minus wear), currency."""
        return float(sum(self.streams.values()))

    def revenue_table(self) -> pd.DataFrame:
        """One row per stream: ``stream``, ``service``, ``kind``, ``revenue`` (currency), then a ``total`` row."""
        rows = []
        for name, value in self.streams.items():
            kind, _, svc = name.partition(":")
            rows.append({"stream": name, "service": svc, "kind": kind, "revenue": float(value)})
        rows.append({"stream": "total", "service": "", "kind": "total", "revenue": self.total_revenue})
        return pd.DataFrame(rows)

    def aggregator_table(self) -> pd.DataFrame:
        """Capacity held per service and block with its revenue (the ``held`` table, blocks held above 0 kW)."""
        return self.held[self.held["held_kw"] > 1e-9].reset_index(drop=True)


def _check_services(services: Sequence[ServiceProduct], prices: PriceInputs, grid: TimeGrid) -> list[str]:
    notes = []
    ids = [s.id for s in services]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise VgiError(f"service(s) {dup} listed twice")
    for s in services:
        first = grid.utc_index[0].tz_convert(s.timezone).date() if grid.n_steps else None
        if s.currency != prices.currency:
            raise VgiError(f"service '{s.id}' is priced in {s.currency}, the plan's prices in {prices.currency}")
        if first is not None and (first < s.valid_from or (s.valid_to is not None and first > s.valid_to)):
            until = s.valid_to.isoformat() if s.valid_to else "open"
            notes.append(f"service '{s.id}': its prices apply {s.valid_from.isoformat()} .. {until}; the plan "
                         f"starts {first.isoformat()}")
    return notes


def plan_stacked(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    services: Sequence[ServiceProduct | str] = (),
    options: ScheduleOptions | None = None,
    *,
    reduce: bool = True,
) -> StackedPlan:
    """Plan ``fleet`` to trade energy at ``prices`` and hold capacity for ``services`` (ids, paths or products).

    ``options`` carries wear, the unmet penalty, the coupled terms and the time limit, as for the coupled LP.
    Raises :class:`~vgi.errors.VgiError` on a currency mismatch, a service listed twice, blocks off the grid's
    steps or a solve that ends without a solution.

    ``reduce`` (default) leaves out what cannot change the optimum: blocks that pay nothing per kW held, shares of
    session-steps that can hold nothing, and the energy row at the end of a step that the other end's row implies
    (see the module docstring); ``reduce=False`` builds the full model, for benchmarks and tests that compare the two.
    """
    options = options or ScheduleOptions()
    products = [get_service(s) for s in services]
    t0 = time.perf_counter()
    notes = _check_services(products, prices, fleet.grid)
    model = build_lp(fleet, prices, options)
    n_steps, dt = fleet.n_steps, fleet.step_hours
    session, step = model.entry_session, model.entry_step
    k_total = len(session)
    # plugged-in limits of each entry, as the LP has them (column bounds of c and d)
    cmax = model.col_upper[model.c_col]
    has_d = model.d_col >= 0
    dmax = np.zeros(k_total)
    dmax[has_d] = model.col_upper[model.d_col[has_d]]
    eta_c = fleet.charge_efficiency[session]
    eta_d = fleet.discharge_efficiency[session]
    e_floor = fleet.e_floor_kwh[session]
    e_max = fleet.e_max_kwh[session]
    lengths = (fleet.stop - fleet.start).astype(np.int64)
    first_of = (np.cumsum(lengths) - lengths)
    is_first = np.zeros(k_total, dtype=bool)
    is_first[first_of[lengths > 0]] = True

    n_base_cols = model.matrix.shape[1]
    cost = [model.cost]
    col_lo = [model.col_lower]
    col_hi = [model.col_upper]
    integer: list[int] = []
    cursor = n_base_cols
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    row_lo: list[np.ndarray] = []
    row_hi: list[np.ndarray] = []
    n_rows = model.matrix.shape[0]

    def new_cols(count: int, c: np.ndarray | float, hi: np.ndarray | float = np.inf) -> np.ndarray:
        nonlocal cursor
        cols = cursor + np.arange(count, dtype=np.int64)
        cursor += count
        cost.append(np.broadcast_to(np.asarray(c, dtype=float), (count,)).copy())
        col_lo.append(np.zeros(count))
        col_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (count,)).copy())
        return cols

    def new_rows(i: list[np.ndarray], j: list[np.ndarray], v: list[np.ndarray], lo: np.ndarray, hi: np.ndarray) -> None:
        nonlocal n_rows
        for a, b, c in zip(i, j, v, strict=True):
            rows_i.append(a + n_rows)
            rows_j.append(b)
            vals.append(c)
        row_lo.append(lo)
        row_hi.append(hi)
        n_rows += len(lo)

    # per entry, the reserve columns of each direction and the hours each must be backed for
    up_terms: list[tuple[np.ndarray, np.ndarray, float]] = []  # (entry index, column, hours)
    down_terms: list[tuple[np.ndarray, np.ndarray, float]] = []
    block_of_service: list[tuple[ServiceProduct, np.ndarray, np.ndarray]] = []
    for svc in products:
        blocks = service_blocks(fleet.grid, svc)
        if len(blocks) == 0:
            notes.append(f"service '{svc.id}': no whole block of it lies on the plan's grid")
            block_of_service.append((svc, blocks, np.zeros(0, dtype=np.int64)))  # its streams show 0
            continue
        hours = (blocks[:, 1] - blocks[:, 0]) * dt
        # objective weight of r per block: availability + mileage + expected utilisation energy
        per_kw = hours * (svc.availability_pay_per_kw_h + svc.mileage_price_per_kw_h)
        util = np.array([
            (svc.utilisation_up * prices.sell[a:b].sum() - svc.utilisation_down * prices.buy[a:b].sum()) * dt
            for a, b in blocks
        ])
        # an upper bound of what each block can hold: per step, the plugged-in cars' power range (Cmax + Dmax)
        # capped by what each car's usable energy sustains for the delivery duration; the least step of the block
        if reduce:
            cap_t = _reserve_bound_kw(step, n_steps, cmax, dmax, e_max - e_floor, eta_c, eta_d, svc)
        else:  # the full model's looser bound (each session-step's own range, both ways at once)
            cap_k = _reserve_cap_kw(cmax, dmax, e_max - e_floor, eta_c, eta_d, svc)
            cap_t = np.bincount(step, weights=cap_k, minlength=n_steps)
        bound = np.array([float(cap_t[a:b].min()) for a, b in blocks])
        too_small = bound < svc.min_kw
        if svc.min_kw > 0 and too_small.any():
            notes.append(f"service '{svc.id}': {int(too_small.sum())} of {len(blocks)} block(s) cannot reach its "
                         f"minimum of {svc.min_kw:g} kW with the cars plugged in (most: {bound.max():g} kW); "
                         "nothing is held there")
        upper = np.where(too_small, 0.0, bound)
        weight = per_kw + util
        # a block that pays nothing per kW held (utilisation energy costing more than the service pays) is never
        # held at an optimum: r = 0 with every share 0 is feasible for any schedule and no worse, so it gets no
        # shares, rows or binary (an exact reduction; r stays, bounded to 0, for the tables)
        offered = (weight > 0) & (upper > 0) if reduce else ~too_small
        shared_out = offered if reduce else np.ones(len(blocks), dtype=bool)  # blocks that get shares and rows
        r = new_cols(len(blocks), -weight, np.where(offered, upper, 0.0))
        block_of_service.append((svc, blocks, r))
        need_z = np.flatnonzero(offered) if svc.min_kw > 0 else np.zeros(0, dtype=np.int64)
        if len(need_z):
            z = new_cols(len(need_z), 0.0, 1.0)
            integer += z.tolist()
            nb = np.arange(len(need_z), dtype=np.int64)
            # r - U z <= 0 ; r - min z >= 0, with U the block's bound (a tight big-M)
            new_rows([nb, nb], [r[need_z], z], [np.ones(len(nb)), -bound[need_z]],
                     np.full(len(nb), -np.inf), np.zeros(len(nb)))
            new_rows([nb, nb], [r[need_z], z], [np.ones(len(nb)), np.full(len(nb), -svc.min_kw)],
                     np.zeros(len(nb)), np.full(len(nb), np.inf))
        # offered block of each step (-1 outside)
        block_at = np.full(n_steps, -1, dtype=np.int64)
        for i in np.flatnonzero(shared_out):
            block_at[blocks[i, 0]:blocks[i, 1]] = i
        in_block = block_at[step] >= 0
        steps_held = np.flatnonzero(block_at >= 0)
        row_of_step = np.full(n_steps, -1, dtype=np.int64)
        row_of_step[steps_held] = np.arange(len(steps_held), dtype=np.int64)
        for holds, terms, one_way in ((svc.holds_up, up_terms, "up"), (svc.holds_down, down_terms, "down")):
            if not holds:
                continue
            # an entry whose power range or usable energy is 0 can hold nothing this way: no share
            cap_way = _reserve_cap_kw(cmax, dmax, e_max - e_floor, eta_c, eta_d, svc, one_way)
            ent = np.flatnonzero(in_block & (cap_way > 0)) if reduce else np.flatnonzero(in_block)
            x = new_cols(len(ent), 0.0)
            terms.append((ent, x, svc.delivery_minutes / 60.0))
            # sum over the step's entries of x - r[block] >= 0
            new_rows(
                [row_of_step[step[ent]], row_of_step[steps_held]],
                [x, r[block_at[steps_held]]],
                [np.ones(len(ent)), -np.ones(len(steps_held))],
                np.zeros(len(steps_held)),
                np.full(len(steps_held), np.inf),
            )

    # power headroom and energy reserve per entry, for each direction held
    for terms, sign in ((up_terms, 1.0), (down_terms, -1.0)):
        if not terms:
            continue
        ent_all = np.concatenate([t[0] for t in terms])
        x_all = np.concatenate([t[1] for t in terms])
        hours_all = np.concatenate([np.full(len(t[0]), t[2]) for t in terms])
        kk = np.unique(ent_all)
        local = np.searchsorted(kk, ent_all)
        nk = len(kk)
        idx = np.arange(nk, dtype=np.int64)
        # headroom: sign (d - c) + sum x <= (Dmax if up else Cmax)
        kd = idx[has_d[kk]]
        new_rows(
            [idx, kd, local],
            [model.c_col[kk], model.d_col[kk][has_d[kk]], x_all],
            [np.full(nk, -sign), np.full(len(kd), sign), np.ones(len(x_all))],
            np.full(nk, -np.inf),
            dmax[kk] if sign > 0 else cmax[kk],
        )
        # energy after the step:  up: e - sum x D/eta_d >= floor;  down: e + sum x D eta_c <= e_max
        coef = (-hours_all / eta_d[ent_all]) if sign > 0 else (hours_all * eta_c[ent_all])
        lo = e_floor[kk] if sign > 0 else np.full(nk, -np.inf)
        hi = np.full(nk, np.inf) if sign > 0 else e_max[kk]
        # where the car cannot discharge in the step its energy only rises (e_after >= e_before), where it cannot
        # charge it only falls: then one end's row implies the other's and only the binding end gets a row (up:
        # the lower end, down: the higher end)
        rises = ~has_d[kk] if reduce else np.zeros(nk, dtype=bool)
        falls = (cmax[kk] <= 0) & ~rises if reduce else np.zeros(nk, dtype=bool)
        skip_after, skip_before = (rises, falls) if sign > 0 else (falls, rises)
        _energy_rows(new_rows, idx, local, x_all, coef, model.e_col[kk], ~skip_after, lo, hi)
        # energy before the step: the previous entry's e, or e_init for a session's first step
        first = is_first[kk]
        e0 = np.where(first, fleet.e_init_kwh[session[kk]], 0.0)
        before_col = np.where(first, -1, model.e_col[kk] - 1)
        _energy_rows(new_rows, idx, local, x_all, coef, before_col, ~skip_before, lo - e0, hi - e0)

    n_cols = cursor
    base = model.matrix.tocoo()
    if rows_i:
        extra = sp.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(rows_j))), shape=(n_rows, n_cols)
        )
        base_full = sp.coo_matrix((base.data, (base.row, base.col)), shape=(n_rows, n_cols))
        matrix = (base_full + extra).tocsc()
        rlo = np.concatenate([model.row_lower, *row_lo])
        rhi = np.concatenate([model.row_upper, *row_hi])
    else:
        matrix = sp.csc_matrix((base.data, (base.row, base.col)), shape=(n_rows, n_cols))
        rlo, rhi = model.row_lower, model.row_upper
    c_vec = np.concatenate(cost)
    t1 = time.perf_counter()
    has_shares = any(len(t[0]) for t in (*up_terms, *down_terms))
    x, status, obj = _solve(matrix, c_vec, np.concatenate(col_lo), np.concatenate(col_hi), rlo, rhi, integer, options,
                            interior_point=has_shares)
    t2 = time.perf_counter()

    # ------------------------------------------------------------------ results
    n = len(fleet)
    charge = np.zeros((n, n_steps))
    discharge = np.zeros((n, n_steps))
    if k_total:
        charge[session, step] = np.maximum(x[model.c_col], 0.0)
        discharge[session[has_d], step[has_d]] = np.maximum(x[model.d_col[has_d]], 0.0)
    unmet = model.unmet_fixed.copy()
    has_u = model.u_col >= 0
    unmet[has_u] = np.maximum(x[model.u_col[has_u]], 0.0)
    energy = -float((prices.buy @ charge.sum(axis=0) - prices.sell @ discharge.sum(axis=0)) * dt)
    wear = float(options.wear_cost_per_kwh * (discharge.sum(axis=1) / fleet.discharge_efficiency).sum() * dt)
    streams: dict[str, float] = {"energy": energy}
    held_rows = []
    up_kw = np.zeros(n_steps)
    down_kw = np.zeros(n_steps)
    for svc, blocks, r in block_of_service:
        label = "capacity" if svc.kind == "capacity" else "availability"
        totals = {label: 0.0, "utilisation": 0.0, "mileage": 0.0}
        clock = fleet.grid.utc_index.tz_convert(svc.timezone)
        end = clock + pd.Timedelta(minutes=fleet.grid.step_minutes)
        for (a, b), col in zip(blocks, r, strict=True):
            held = max(float(x[col]), 0.0)
            if held < 1e-9:
                held = 0.0
            block_h = (b - a) * dt
            avail = held * block_h * svc.availability_pay_per_kw_h
            util_pay = held * dt * (svc.utilisation_up * float(prices.sell[a:b].sum())
                                    - svc.utilisation_down * float(prices.buy[a:b].sum()))
            mileage = held * block_h * svc.mileage_price_per_kw_h
            totals[label] += avail
            totals["utilisation"] += util_pay
            totals["mileage"] += mileage
            if svc.holds_up:
                up_kw[a:b] += held
            if svc.holds_down:
                down_kw[a:b] += held
            held_rows.append({
                "service": svc.id, "kind": svc.kind, "direction": svc.direction,
                "block_start": clock[a], "block_end": end[b - 1], "start_step": int(a), "stop_step": int(b),
                "held_kw": held, "derated_kw": held * svc.derating_factor, "availability": avail,
                "utilisation": util_pay, "mileage": mileage,
            })
        streams[f"{label}:{svc.id}"] = totals[label]
        if svc.utilisation_up > 0 or svc.utilisation_down > 0:
            streams[f"utilisation:{svc.id}"] = totals["utilisation"]
        if svc.mileage_price_per_kw_h > 0:
            streams[f"mileage:{svc.id}"] = totals["mileage"]
    streams["wear"] = -wear
    columns = ["service", "kind", "direction", "block_start", "block_end", "start_step", "stop_step", "held_kw",
               "derated_kw", "availability", "utilisation", "mileage"]
    held_df = pd.DataFrame(held_rows, columns=columns)
    objective = obj + model.offset
    stats: dict[str, float | int | str] = {
        "objective": objective,
        "cost": -energy + wear,
        "status": status,
        "solver": "highs-mip" if integer else ("highs-ipm" if has_shares else "highs"),
        "build_seconds": t1 - t0,
        "solve_seconds": t2 - t0,
        "unmet_penalty_per_kwh": model.penalty,
        "n_variables": int(n_cols),
        "n_constraints": int(n_rows),
        "n_binaries": len(integer),
        "total_revenue": float(sum(streams.values())),
    }
    sched = Schedule(fleet, "stacked", charge, discharge if fleet.mode == "v2g" or has_d.any() else None, unmet,
                     stats, {"net_kw": charge.sum(axis=0) - discharge.sum(axis=0), "reserve_up_kw": up_kw,
                             "reserve_down_kw": down_kw})
    return StackedPlan(sched, held_df, streams, up_kw, down_kw, prices.currency, tuple(notes), stats)


def _energy_rows(
    new_rows: Callable[..., None],
    idx: np.ndarray,
    local: np.ndarray,
    x_all: np.ndarray,
    coef: np.ndarray,
    e_col: np.ndarray,
    keep: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> None:
    """Rows ``lo <= e + sum coef x <= hi`` for the entries ``idx[keep]`` (``e_col`` -1: no energy column, a
    constant already in ``lo``/``hi``); ``local`` maps each x term to its entry."""
    renum = np.full(len(idx), -1, dtype=np.int64)
    renum[keep] = np.arange(int(keep.sum()), dtype=np.int64)
    with_e = keep & (e_col >= 0)
    term = keep[local]
    new_rows([renum[with_e], renum[local[term]]], [e_col[with_e], x_all[term]],
             [np.ones(int(with_e.sum())), coef[term]], lo[keep], hi[keep])


def _reserve_bound_kw(
    step: np.ndarray,
    n_steps: int,
    cmax: np.ndarray,
    dmax: np.ndarray,
    usable_kwh: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    svc: ServiceProduct,
) -> np.ndarray:
    """Most kW the fleet could hold for ``svc`` at each step (T,), a bound: the sum over the plugged-in session-steps
    of what each could hold (:func:`_reserve_cap_kw`).  A symmetric service needs ``r`` both ways from the same
    cars: ``x_up + x_down <= Cmax + Dmax`` (the two headroom rows added) and ``x_up D/eta_d + x_down D eta_c <=
    e_max - e_floor`` (the two energy rows after the step), so ``2 r <= sum (x_up + x_down) <= sum min(Cmax + Dmax,
    usable / min(D/eta_d, D eta_c))`` as well."""
    bound = np.bincount(step, weights=_reserve_cap_kw(cmax, dmax, usable_kwh, eta_c, eta_d, svc), minlength=n_steps)
    if svc.holds_up and svc.holds_down:
        hours = svc.delivery_minutes / 60.0
        both = np.minimum(cmax + dmax, usable_kwh / (hours * np.minimum(1.0 / eta_d, eta_c)))
        bound = np.minimum(bound, 0.5 * np.bincount(step, weights=np.maximum(both, 0.0), minlength=n_steps))
    return bound


def _reserve_cap_kw(
    cmax: np.ndarray,
    dmax: np.ndarray,
    usable_kwh: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    svc: ServiceProduct,
    direction: str | None = None,
) -> np.ndarray:
    """Most kW each session-step could hold for ``svc`` (a bound, not a plan): its power range ``Cmax + Dmax``,
    capped by the usable energy ``e_max - e_floor`` over the delivery duration in each direction held (or only
    in ``direction``, ``up`` or ``down``, when given)."""
    hours = svc.delivery_minutes / 60.0
    cap = cmax + dmax
    if svc.holds_up and direction in (None, "up"):
        cap = np.minimum(cap, usable_kwh * eta_d / hours)
    if svc.holds_down and direction in (None, "down"):
        cap = np.minimum(cap, usable_kwh / (eta_c * hours))
    return np.maximum(cap, 0.0)


def _solve(
    matrix: sp.csc_matrix,
    cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: list[int],
    options: ScheduleOptions,
    interior_point: bool = True,
) -> tuple[np.ndarray, str, float]:
    import highspy

    if matrix.shape[1] == 0:
        return np.zeros(0), "Optimal", 0.0
    h = new_highs()
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    if options.time_limit_s is not None:
        h.setOptionValue("time_limit", float(options.time_limit_s))
    if not integer and interior_point:
        # the reserve shares make the LP highly degenerate: interior point with crossover solved the benchmark's
        # 1000-session instance in 20 s where dual simplex took 43 s (presolve off; at 300 sessions dual simplex took
        # 3 s without presolve and 16 s with it, interior point 3-4 s; docs/stacking.md).  Without
        # shares (no block worth holding) the model is the plain LP, where HiGHS's own choice (dual simplex) is faster
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "on")
    lp = highspy.HighsLp()
    lp.num_col_ = matrix.shape[1]
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    if integer:
        kinds = [highspy.HighsVarType.kContinuous] * lp.num_col_
        for j in integer:
            kinds[j] = highspy.HighsVarType.kInteger
        lp.integrality_ = kinds
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value, dtype=float)
    if len(x) != lp.num_col_ or status not in ("Optimal", "Time limit reached"):
        raise VgiError(f"the stacked plan has no solution (HiGHS status: {status})")
    return x, status, float(h.getInfo().objective_function_value)
