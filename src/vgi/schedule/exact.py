"""Exact price response of each EV alone (the indirect mode), vectorised over the fleet.

Each session solves, on its own, the linear programme (battery-side energies, ``dt`` the step in hours)::

    minimise   sum_t (buy_t c_t - sell_t d_t) dt + wear * sum_t d_t dt / eta_d + penalty * unmet
    subject to 0 <= c_t <= Cmax_t,  0 <= d_t <= Dmax_t   (power limit x share of the step plugged in)
               c_t / Cmax_t + d_t / Dmax_t <= 1            (where both limits are positive: time-sharing)
               e_t = e_{t-1} + eta_c c_t dt - d_t dt / eta_d,  e_floor <= e_t <= e_max  during the stay
               e_last >= e_need - unmet,  unmet >= 0

and this module returns its optimum exactly (the same value as :mod:`vgi.schedule.lp`, to rounding), without an
LP solver.

**Charge-only sessions** (V1G, or V2G without consent): the need and the battery bound only constrain the
total, so the optimum fills the cheapest steps of the window first (prices below zero up to the battery, then
the rest of the need while a battery kWh costs less than the penalty).  Ties are broken by the earlier step.

**Bidirectional sessions** (V2G): a backward dynamic programme on the value function ``V_t(e)`` (the least
cost of the remaining steps from battery energy ``e``), which is convex and piecewise linear.  In battery kWh,
a step offers charging at ``a_t = buy_t / eta_c`` per kWh gained (up to ``X_t = eta_c Cmax_t dt``) and
discharging at ``b_t = sell_t eta_d - wear`` per kWh removed (up to ``Y_t = Dmax_t dt / eta_d``).  The step's
least cost as a function of its net change ``k`` in ``[-Y_t, X_t]`` is the lower convex hull of the points
``(0, 0)``, ``(X_t, a_t X_t)`` and ``(-Y_t, -b_t Y_t)`` (a point between two of them is reached by
time-sharing, see below):

* ``b_t <= a_t`` (the usual case): two pieces, slope ``b_t`` on ``[-Y_t, 0]`` (discharging) and ``a_t`` on
  ``[0, X_t]`` (charging);
* ``b_t > a_t`` (discharging earns more per battery kWh than charging costs: an export price above the import
  price, or a negative price with losses, which makes cycling energy through the losses pay): ONE piece through
  the two end points, ``c0_t + s_t k`` with slope ``s_t = (a_t X_t + b_t Y_t) / (X_t + Y_t)`` and the constant
  ``c0_t = X_t Y_t (a_t - b_t) / (X_t + Y_t) < 0`` (the cycling profit, earned whatever ``k`` is).  The
  recursion below then uses ``a_t = b_t = s_t`` for that step (``s_t`` depends on the session only through
  ``X_t / (X_t + Y_t) = eta_c Cmax / (eta_c Cmax + Dmax / eta_d)``, the same for every step).

Let ``M_t(lam)`` be the length of the part of ``[e_floor, e_max]`` where the marginal value ``-V_t'(e)``
exceeds ``lam``.  Going one step back is, for every ``lam``, one add and one clip::

    M_{t-1}(lam) = clip(M_t(lam) + X_t [a_t > lam] + Y_t [b_t > lam] - X_t, 0, e_max - e_floor)

(the value function of the step is the infimal convolution of ``V_t`` with the step's cost, whose slopes ``a_t
>= b_t`` are merged into ``V_t``'s, and whose domain is then cut back to the battery's bounds).  With ``a_t =
b_t = s_t`` this merges one piece of length ``X_t + Y_t`` at slope ``s_t``, as it should (a piece whose
slope equals ``lam`` counts as not above it, both terms alike).  ``M_t`` is only needed at the session's own
prices: at step ``t``, ``M_t(a_t)`` and ``M_t(b_t)`` (only ``M_t(s_t)`` where the step time-shares).  Each
session carries either one threshold per step and price of its window (going back from step ``s`` only those
of earlier steps are still needed) or, when the day has fewer distinct prices than that, one per distinct
import price, export price and time-sharing (import, export) pair; either way each step back is a contiguous,
branch-free loop that the compiler vectorises.  The optimal policy is then "charge up to a level, discharge
down to a level"::

    e_t = clip(e_{t-1}, e_floor + M_t(a_t), e_floor + M_t(b_t))

clipped to what the step's power allows (``M_t(a_t) <= M_t(b_t)`` as ``a_t >= b_t``; where they are equal,
``e_t`` goes toward one level).

**Charging and discharging in the same step.**  A step's ``charge_kw`` and ``discharge_kw`` are averages over
the step; a charge point does one at a time, so within a step it can charge at full power for a share
``alpha`` of it and discharge at full power for the rest: ``c_t = alpha Cmax_t``, ``d_t = (1 - alpha) Dmax_t``,
and in general ``c_t / Cmax_t + d_t / Dmax_t <= 1`` (the meter records import and export separately).  Both at
full power at once is not possible.  Time-sharing pays only where ``b_t > a_t``: there the net change ``k_t``
from the policy is realised with ``alpha = (k_t + Y_t) / (X_t + Y_t)``, so both ``charge_kw`` and
``discharge_kw`` are positive unless ``k_t`` is at an end of ``[-Y_t, X_t]``, and the cost includes ``c0_t``.
:mod:`vgi.schedule.lp` has the row ``c / Cmax + d / Dmax <= 1``, so the two agree.  Where ``b_t <= a_t``
the policy never does both in one step.

Per session the work is ``min(W**2, W x distinct prices)`` additions for a window of ``W`` steps, no sorting.
With numba (a dependency of vgi) the fleet is split across the cores, each core reusing its scratch arrays;
without it (or with the environment variable ``VGI_DISABLE_NUMBA=1`` when the module is imported, or
``backend="numpy"``) a numpy version of the same recursion runs on blocks of sessions (slower, same results).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vgi.errors import VgiError
from vgi.schedule.options import ScheduleOptions, penalty_for
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

_numba: Any
try:  # numba is a dependency, but the numpy fallback keeps vgi working without it
    import numba as _numba

    HAVE_NUMBA = os.environ.get("VGI_DISABLE_NUMBA", "") not in ("1", "true", "yes")
except ImportError:  # pragma: no cover - depends on the environment
    _numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "ExactResult", "price_response", "price_strategy"]


@dataclass(frozen=True, eq=False)
class ExactResult:
    """Optimal per-EV schedules under given prices.

    Attributes:
        charge_kw: grid-side charging power, (N, T); or (n_aggregate, T) group sums when ``aggregate_by`` was
        given.
        discharge_kw: grid-side discharging power, same shape as ``charge_kw``.  Per session (no
            ``aggregate_by``) it is None when no session can discharge, so that a charge-only fleet does not
            carry a second N x T array of zeros; aggregated it is always an array.
        unmet_kwh: battery-side energy short of each session's need at departure, (N,) (always per session).
        cost: objective of each session (energy cost - export revenue + wear + penalty x unmet), (N,); or its
        sum
            per group, (n_aggregate,), when ``aggregate_by`` was given.
        objective: total objective (sum of ``cost``).
        session_cost: objective of each session, (N,), in both cases.
        unmet_penalty_per_kwh: the penalty used.
        aggregated: True when the power arrays and ``cost`` are group sums.
        backend: ``numba`` or ``numpy``.
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray | None
    unmet_kwh: np.ndarray
    cost: np.ndarray
    objective: float
    session_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unmet_penalty_per_kwh: float = 0.0
    aggregated: bool = False
    backend: str = "numpy"


# ----------------------------------------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------------------------------------


def _frac(s: int, start: int, stop: int, ff: float, lf: float) -> float:
    if s == start:
        return ff
    if s == stop - 1:
        return lf
    return 1.0


def _charge_only_one(
    start: int,
    stop: int,
    ff: float,
    lf: float,
    maxc: float,
    eta_c: float,
    e_init: float,
    hi: float,
    need: float,
    buy: np.ndarray,
    order: np.ndarray,
    dt: float,
    pen: float,
    rc: np.ndarray,
) -> tuple[float, float]:
    """Fill the cheapest steps of one charge-only session; writes ``rc[start:stop]``; returns (unmet,
    cost)."""
    cap = hi - e_init
    if cap < 0.0:
        cap = 0.0
    need_e = min(need, hi) - e_init
    if need_e < 0.0:
        need_e = 0.0
    taken = 0.0
    cost = 0.0
    n_steps = order.shape[0]
    for k in range(n_steps):
        t = order[k]
        if t < start or t >= stop:
            continue
        a = buy[t] / eta_c
        if a >= pen:
            break
        if a < 0.0:
            room = cap - taken
            if room <= 0.0:
                break
        else:
            room = need_e - taken
            if room <= 0.0:
                break
        cmax = maxc * _frac(t, start, stop, ff, lf)
        xmax = eta_c * cmax * dt
        if xmax <= 0.0:
            continue
        if xmax <= room:
            c = cmax
            taken += xmax
        else:
            c = room / (eta_c * dt)
            taken += room
        rc[t] = c
        cost += buy[t] * c * dt
    unmet = need - (e_init + taken)
    if unmet < 0.0:
        unmet = 0.0
    return unmet, cost + pen * unmet


def _bidirectional_one(
    start: int, stop: int, ff: float, lf: float, maxc: float, maxd: float, eta_c: float, eta_d: float,
    e_init: float, lo: float, hi: float, need: float, buy: np.ndarray, sell: np.ndarray, dt: float, wear: float,
    pen: float, uniq_buy: np.ndarray, n_ub: int, idx_buy: np.ndarray, uniq_sell: np.ndarray, n_us: int,
    idx_sell: np.ndarray, pair_buy: np.ndarray, pair_sell: np.ndarray, n_pairs: int, idx_pair: np.ndarray,
    lam: np.ndarray, m: np.ndarray, ta: np.ndarray, tb: np.ndarray, slot: np.ndarray, ulev: np.ndarray,
    llev: np.ndarray, rc: np.ndarray, rd: np.ndarray,
) -> tuple[float, float]:
    """Backward recursion on the thresholds of one V2G session, then the forward policy; returns (unmet, cost).

    Thresholds are the session's prices per battery kWh (``a`` and ``b`` of the module docstring, or the
    time-sharing slope ``s`` of a step where ``b > a``), ``m[j]`` the recursion's ``M(lam[j])``; ``ta[k]`` /
    ``tb[k]`` say which thresholds step ``start + k`` reads (the same one, ``s``, exactly where the step
    time-shares).  Two layouts:

    * one threshold per step and price (``2 W``): going back from step ``s`` only those of earlier steps are
      still needed, so the update runs over the first ``2 (s - start)`` entries (``W**2`` work);
    * one threshold per distinct price of the day (``uniq_buy``, ``uniq_sell``) and one per distinct (buy, sell)
      pair that time-shares (``pair_buy``, ``pair_sell``; ``slot`` maps a pair to its threshold): all are
      updated at every step (``W x distinct`` work), chosen when there are fewer of them than ``2 W`` (tariffs
      with periods).

    Either way each update is one contiguous branch-free loop.
    """
    width = hi - lo
    top = min(need, hi)
    n = stop - start
    x_full = eta_c * maxc * dt  # battery kWh per full step of charging
    y_full = maxd * dt / eta_d  # battery kWh per full step of discharging
    w_c = x_full / (x_full + y_full)  # share of a step's battery range [-Y, X] that is charging (maxd > 0)
    per_step = 2 * n <= n_ub + n_us
    n_share = 0
    if not per_step:  # count the (buy, sell) pairs of the day where this session time-shares
        for u in range(n_pairs):
            if pair_sell[u] * eta_d - wear > pair_buy[u] / eta_c:
                n_share += 1
        per_step = 2 * n <= n_ub + n_us + n_share
    if per_step:
        for k in range(n):
            t = start + k
            a = buy[t] / eta_c
            b = sell[t] * eta_d - wear
            if b > a:  # time-sharing: one linear piece of slope s over [-Y, X]
                sh = w_c * a + (1.0 - w_c) * b
                lam[2 * k] = sh
                lam[2 * k + 1] = sh
                ta[k] = 2 * k
                tb[k] = 2 * k
            else:
                lam[2 * k] = a
                lam[2 * k + 1] = b
                ta[k] = 2 * k
                tb[k] = 2 * k + 1
        n_thr = 2 * n
    else:
        for u in range(n_ub):
            lam[u] = uniq_buy[u] / eta_c
        for u in range(n_us):
            lam[n_ub + u] = uniq_sell[u] * eta_d - wear
        n_thr = n_ub + n_us
        for u in range(n_pairs):
            a = pair_buy[u] / eta_c
            b = pair_sell[u] * eta_d - wear
            if b > a:
                lam[n_thr] = w_c * a + (1.0 - w_c) * b
                slot[u] = n_thr
                n_thr += 1
            else:
                slot[u] = -1
        for k in range(n):
            j = slot[idx_pair[start + k]]
            if j >= 0:
                ta[k] = j
                tb[k] = j
            else:
                ta[k] = idx_buy[start + k]
                tb[k] = n_ub + idx_sell[start + k]
    for j in range(n_thr):
        v = 0.0
        if pen > lam[j]:
            v += top - lo
        if 0.0 > lam[j]:
            v += hi - top
        m[j] = v if v < width else width
    # backward pass (a >= b at every step: where the prices had b > a both are s)
    for k_s in range(n - 1, -1, -1):
        a = lam[ta[k_s]]
        b = lam[tb[k_s]]
        ulev[k_s] = lo + m[ta[k_s]]
        llev[k_s] = lo + m[tb[k_s]]
        if k_s == 0:
            break
        fr = _frac(start + k_s, start, stop, ff, lf)
        x_max = x_full * fr
        y_max = y_full * fr
        n_upd = 2 * k_s if per_step else n_thr
        for j in range(n_upd):
            threshold = lam[j]
            v = m[j] + (x_max if a > threshold else 0.0)
            v = v + (y_max if b > threshold else 0.0)
            v = v - x_max
            v = v if v > 0.0 else 0.0
            m[j] = v if v < width else width
    # forward pass
    e = e_init
    cost = 0.0
    to_charge_kw = 1.0 / (eta_c * dt)  # grid kW per battery kWh gained in a step
    to_discharge_kw = eta_d / dt  # grid kW per battery kWh removed in a step
    for k in range(n):
        s = start + k
        fr = _frac(s, start, stop, ff, lf)
        x_max = x_full * fr
        y_max = y_full * fr
        tgt = max(e, ulev[k])
        tgt = min(tgt, llev[k])
        tgt = min(tgt, e + x_max)
        tgt = max(tgt, e - y_max)
        delta = tgt - e
        if ta[k] == tb[k]:  # time-sharing step: charge at full power for alpha of it, discharge for the rest
            if delta >= x_max:
                c = maxc * fr
                d = 0.0
                y = 0.0
            elif delta <= -y_max:
                c = 0.0
                d = maxd * fr
                y = y_max
            else:
                alpha = (delta + y_max) / (x_max + y_max)
                c = maxc * fr * alpha
                d = maxd * fr * (1.0 - alpha)
                y = y_max * (1.0 - alpha)
        else:
            x = max(delta, 0.0)
            y = max(-delta, 0.0)
            c = maxc * fr if x >= x_max else x * to_charge_kw
            d = maxd * fr if y >= y_max else y * to_discharge_kw
        rc[s] = c
        rd[s] = d
        cost += (buy[s] * c - sell[s] * d) * dt + wear * y
        e = tgt
    unmet = need - e
    if unmet < 0.0:
        unmet = 0.0
    return unmet, cost + pen * unmet


def _run_chunks(
    start: np.ndarray,
    stop: np.ndarray,
    ff: np.ndarray,
    lf: np.ndarray,
    maxc: np.ndarray,
    maxd: np.ndarray,
    eta_c: np.ndarray,
    eta_d: np.ndarray,
    e_init: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    need: np.ndarray,
    grp: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    order_a: np.ndarray,
    uniq_buy: np.ndarray,
    n_ub: np.ndarray,
    idx_buy: np.ndarray,
    uniq_sell: np.ndarray,
    n_us: np.ndarray,
    idx_sell: np.ndarray,
    pair_buy: np.ndarray,
    pair_sell: np.ndarray,
    n_pairs: np.ndarray,
    idx_pair: np.ndarray,
    dt: float,
    wear: float,
    pen: float,
    bounds: np.ndarray,
    aggregate: bool,
    agg_index: np.ndarray,
    write_d: bool,
    out_c: np.ndarray,
    out_d: np.ndarray,
    agg_c: np.ndarray,
    agg_d: np.ndarray,
    agg_cost: np.ndarray,
    out_unmet: np.ndarray,
    out_cost: np.ndarray,
    shift: np.ndarray,
    use_shift: bool,
) -> None:
    n_steps = buy.shape[1]
    n_chunks = bounds.shape[0] - 1
    for ci in _prange(n_chunks):
        lam = np.empty(2 * n_steps)
        m = np.empty(2 * n_steps)
        ta = np.empty(n_steps, dtype=np.int64)
        tb = np.empty(n_steps, dtype=np.int64)
        slot = np.empty(n_steps, dtype=np.int64)
        ulev = np.empty(n_steps)
        llev = np.empty(n_steps)
        rc = np.zeros(n_steps)
        rd = np.zeros(n_steps)
        for i in range(bounds[ci], bounds[ci + 1]):
            s0 = start[i]
            s1 = stop[i]
            g = grp[i]
            if s1 <= s0:
                unmet = need[i] - e_init[i]
                if unmet < 0.0:
                    unmet = 0.0
                cost = pen * unmet
            elif maxd[i] > 0.0:
                unmet, cost = _bidirectional_one(
                    s0,
                    s1,
                    ff[i],
                    lf[i],
                    maxc[i],
                    maxd[i],
                    eta_c[i],
                    eta_d[i],
                    e_init[i],
                    lo[i],
                    hi[i],
                    need[i],
                    buy[g],
                    sell[g],
                    dt,
                    wear,
                    pen,
                    uniq_buy[g],
                    n_ub[g],
                    idx_buy[g],
                    uniq_sell[g],
                    n_us[g],
                    idx_sell[g],
                    pair_buy[g],
                    pair_sell[g],
                    n_pairs[g],
                    idx_pair[g],
                    lam,
                    m,
                    ta,
                    tb,
                    slot,
                    ulev,
                    llev,
                    rc,
                    rd,
                )
            else:
                unmet, cost = _charge_only_one(
                    s0,
                    s1,
                    ff[i],
                    lf[i],
                    maxc[i],
                    eta_c[i],
                    e_init[i],
                    hi[i],
                    need[i],
                    buy[g],
                    order_a[g],
                    dt,
                    pen,
                    rc,
                )
            out_unmet[i] = unmet
            out_cost[i] = cost
            if aggregate:
                gi = agg_index[i]
                if use_shift:  # the group's cost at the prices less the shift of the session's price row
                    moved = 0.0
                    for t in range(s0, s1):
                        moved += shift[g, t] * (rc[t] - rd[t])
                    agg_cost[ci, gi] += cost - dt * moved
                else:
                    agg_cost[ci, gi] += cost
                for t in range(s0, s1):
                    agg_c[ci, gi, t] += rc[t]
                    agg_d[ci, gi, t] += rd[t]
            else:
                for t in range(s0, s1):
                    out_c[i, t] = rc[t]
                if write_d:
                    for t in range(s0, s1):
                        out_d[i, t] = rd[t]
            for t in range(s0, s1):
                rc[t] = 0.0
                rd[t] = 0.0


_prange: Any
_run_chunks_jit: Any
if HAVE_NUMBA:
    assert _numba is not None
    _prange = _numba.prange
    _frac = _numba.njit(cache=True, inline="always")(_frac)
    _charge_only_one = _numba.njit(cache=True)(_charge_only_one)
    _bidirectional_one = _numba.njit(cache=True, fastmath={"nnan", "ninf", "nsz"})(_bidirectional_one)
    _run_chunks_jit = _numba.njit(parallel=True, cache=True)(_run_chunks)
else:  # pragma: no cover - depends on the environment
    _prange = range
    _run_chunks_jit = None


# ----------------------------------------------------------------------------------------------------------
# numpy fallback: the same recursion on blocks of sessions, all steps and thresholds at once
# ----------------------------------------------------------------------------------------------------------


def _numpy_block(
    rows: np.ndarray,
    p: dict[str, np.ndarray],
    buy: np.ndarray,
    sell: np.ndarray,
    order_a: np.ndarray,
    dt: float,
    wear: float,
    pen: float,
    with_d: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Charge, discharge (n x T), unmet and cost (n,) for the sessions ``rows`` (numpy only)."""
    n = len(rows)
    n_steps = buy.shape[1]
    g = p["grp"][rows]
    t_idx = np.arange(n_steps)
    start, stop = p["start"][rows], p["stop"][rows]
    inside = (t_idx[None, :] >= start[:, None]) & (t_idx[None, :] < stop[:, None])
    frac = inside.astype(float)
    has = stop > start
    r = np.flatnonzero(has)
    frac[r, stop[has] - 1] = p["lf"][rows][has]
    frac[r, start[has]] = p["ff"][rows][has]
    eta_c, eta_d = p["eta_c"][rows], p["eta_d"][rows]
    cmax = frac * p["maxc"][rows][:, None]
    dmax = frac * p["maxd"][rows][:, None]
    xmax = eta_c[:, None] * cmax * dt
    ymax = dmax * dt / eta_d[:, None]
    bu = buy[g]
    se = sell[g]
    a = bu / eta_c[:, None]
    b = se * eta_d[:, None] - wear
    e_init, lo, hi, need = p["e_init"][rows], p["lo"][rows], p["hi"][rows], p["need"][rows]
    charge = np.zeros((n, n_steps))
    discharge = np.zeros((n, n_steps))
    bidir = p["maxd"][rows] > 0
    # charge-only sessions: fill the cheapest steps (same order as the numba kernel: stable sort of the price)
    co = np.flatnonzero(~bidir)
    if len(co):
        cap = np.maximum(hi[co] - e_init[co], 0.0)
        need_e = np.maximum(np.minimum(need[co], hi[co]) - e_init[co], 0.0)
        taken = np.zeros(len(co))
        orders = order_a[g[co]]
        for k in range(n_steps):
            t = orders[:, k]
            ak = a[co, t]
            room = np.where(ak < 0.0, cap - taken, need_e - taken)
            room = np.where(ak >= pen, 0.0, np.maximum(room, 0.0))
            xk = xmax[co, t]
            take = np.minimum(xk, room)
            ck = np.where(take >= xk, cmax[co, t], take / (eta_c[co] * dt))
            charge[co, t] = np.where(take > 0.0, ck, 0.0)
            taken += take
    # bidirectional sessions: thresholds are all 2T prices of the session (steps outside the window move
    # nothing); where b > a the step time-shares and both of its prices are the slope s of its single piece
    bi = np.flatnonzero(bidir)
    if len(bi):
        x_full = eta_c[bi] * p["maxc"][rows][bi] * dt
        y_full = p["maxd"][rows][bi] * dt / eta_d[bi]
        w_c = (x_full / (x_full + y_full))[:, None]
        ab, bb = a[bi], b[bi]
        share = bb > ab
        s_share = w_c * ab + (1.0 - w_c) * bb
        ab = np.where(share, s_share, ab)
        bb = np.where(share, s_share, bb)
        lam = np.concatenate([ab, bb], axis=1)  # (nb, 2T)
        width = (hi[bi] - lo[bi])[:, None]
        top = np.minimum(need[bi], hi[bi])[:, None]
        m = (pen > lam) * (top - lo[bi][:, None]) + (lam < 0.0) * (hi[bi][:, None] - top)
        m = np.minimum(m, width)
        ulev = np.empty((len(bi), n_steps))
        llev = np.empty((len(bi), n_steps))
        for s in range(n_steps - 1, -1, -1):
            a_s, b_s = ab[:, s], bb[:, s]  # a_s >= b_s (equal where the step time-shares)
            ulev[:, s] = lo[bi] + m[:, s]
            llev[:, s] = lo[bi] + m[:, n_steps + s]
            x_s, y_s = xmax[bi, s][:, None], ymax[bi, s][:, None]
            m = m + x_s * (a_s[:, None] > lam) + y_s * (b_s[:, None] > lam) - x_s
            np.clip(m, 0.0, width, out=m)
        e = e_init[bi].copy()
        for s in range(n_steps):
            x_s, y_s = xmax[bi, s], ymax[bi, s]
            tgt = np.minimum(np.maximum(e, ulev[:, s]), llev[:, s])
            tgt = np.maximum(np.minimum(tgt, e + x_s), e - y_s)
            delta = tgt - e
            x = np.maximum(delta, 0.0)
            y = np.maximum(-delta, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                c_s = np.where(x >= x_s, cmax[bi, s], x / (eta_c[bi] * dt))
                d_s = np.where(y >= y_s, dmax[bi, s], y * eta_d[bi] / dt)
                # time-sharing steps: charge at full power for alpha of the step, discharge for the rest
                alpha = np.clip((delta + y_s) / (x_s + y_s), 0.0, 1.0)
            alpha = np.where(delta >= x_s, 1.0, np.where(delta <= -y_s, 0.0, alpha))
            sh = share[:, s]
            c_s = np.where(sh, cmax[bi, s] * alpha, c_s)
            d_s = np.where(sh, dmax[bi, s] * (1.0 - alpha), d_s)
            charge[bi, s] = c_s
            discharge[bi, s] = d_s
            e = tgt
    gained = (charge * eta_c[:, None] - discharge / eta_d[:, None]).sum(axis=1) * dt
    unmet = np.maximum(need - (e_init + gained), 0.0)
    cost = ((bu * charge - se * discharge).sum(axis=1) + wear * (discharge / eta_d[:, None]).sum(axis=1)) * dt
    cost = cost + pen * unmet
    return charge, (discharge if with_d else discharge[:0]), unmet, cost


# ----------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------


def _as_price_rows(values: np.ndarray, n_steps: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_steps:
        raise VgiError(
            f"{what} prices must have shape (T,) or (G, T) with T = {n_steps}, got {np.shape(values)}"
        )
    if not np.isfinite(arr).all():
        raise VgiError(f"{what} prices contain a value that is not a finite number")
    return np.ascontiguousarray(arr)


def _distinct(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per price row: its distinct values (ascending, padded to (G, T)), how many there are (G,), and the index
    of each step's price among them (G, T)."""
    order = np.argsort(prices, axis=1, kind="stable")
    ranked = np.take_along_axis(prices, order, axis=1)
    is_new = np.ones(prices.shape, dtype=bool)
    is_new[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    rank = np.cumsum(is_new, axis=1) - 1
    values = np.zeros(prices.shape)
    np.put_along_axis(values, rank, ranked, axis=1)
    index = np.empty(prices.shape, dtype=np.int64)
    np.put_along_axis(index, order, rank, axis=1)
    return values, is_new.sum(axis=1).astype(np.int64), index


def _distinct_pairs(buy: np.ndarray, sell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per price row: its distinct (buy, sell) pairs (buy values, sell values, each padded to (G, T)), how many
    there are (G,), and the index of each step's pair among them (G, T)."""
    order = np.lexsort((sell, buy), axis=-1)
    ranked_buy = np.take_along_axis(buy, order, axis=1)
    ranked_sell = np.take_along_axis(sell, order, axis=1)
    is_new = np.ones(buy.shape, dtype=bool)
    is_new[:, 1:] = (ranked_buy[:, 1:] != ranked_buy[:, :-1]) | (ranked_sell[:, 1:] != ranked_sell[:, :-1])
    rank = np.cumsum(is_new, axis=1) - 1
    values_buy = np.zeros(buy.shape)
    values_sell = np.zeros(buy.shape)
    np.put_along_axis(values_buy, rank, ranked_buy, axis=1)
    np.put_along_axis(values_sell, rank, ranked_sell, axis=1)
    index = np.empty(buy.shape, dtype=np.int64)
    np.put_along_axis(index, order, rank, axis=1)
    return values_buy, values_sell, is_new.sum(axis=1).astype(np.int64), index


def _distinct_loop(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_distinct` as one loop per row (compiled with numba: no per-call numpy overhead on small rows)."""
    n_rows, n_steps = prices.shape
    values = np.zeros((n_rows, n_steps))
    counts = np.zeros(n_rows, dtype=np.int64)
    index = np.empty((n_rows, n_steps), dtype=np.int64)
    for g in range(n_rows):
        order = np.argsort(prices[g], kind="mergesort")
        r = -1
        prev = 0.0
        for k in range(n_steps):
            v = prices[g, order[k]]
            if r < 0 or v != prev:
                r += 1
                values[g, r] = v
                prev = v
            index[g, order[k]] = r
        counts[g] = r + 1
    return values, counts, index


def _distinct_pairs_loop(
    buy: np.ndarray, sell: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_distinct_pairs` as one loop per row (compiled with numba)."""
    n_rows, n_steps = buy.shape
    values_buy = np.zeros((n_rows, n_steps))
    values_sell = np.zeros((n_rows, n_steps))
    counts = np.zeros(n_rows, dtype=np.int64)
    index = np.empty((n_rows, n_steps), dtype=np.int64)
    for g in range(n_rows):
        by_sell = np.argsort(sell[g], kind="mergesort")
        order = by_sell[np.argsort(buy[g][by_sell], kind="mergesort")]  # by buy, then sell (a lexsort)
        r = -1
        prev_b = 0.0
        prev_s = 0.0
        for k in range(n_steps):
            b = buy[g, order[k]]
            v = sell[g, order[k]]
            if r < 0 or b != prev_b or v != prev_s:
                r += 1
                values_buy[g, r] = b
                values_sell[g, r] = v
                prev_b = b
                prev_s = v
            index[g, order[k]] = r
        counts[g] = r + 1
    return values_buy, values_sell, counts, index


_distinct_jit: Any = None
_distinct_pairs_jit: Any = None
if HAVE_NUMBA:
    assert _numba is not None
    _distinct_jit = _numba.njit(cache=True)(_distinct_loop)
    _distinct_pairs_jit = _numba.njit(cache=True)(_distinct_pairs_loop)


def _fleet_arrays(fleet: FleetOnGrid) -> dict[str, np.ndarray]:
    return {
        "start": np.ascontiguousarray(fleet.start, dtype=np.int64),
        "stop": np.ascontiguousarray(fleet.stop, dtype=np.int64),
        "ff": np.ascontiguousarray(fleet.first_fraction, dtype=float),
        "lf": np.ascontiguousarray(fleet.last_fraction, dtype=float),
        "maxc": np.ascontiguousarray(fleet.max_charge_kw, dtype=float),
        "maxd": np.ascontiguousarray(fleet.max_discharge_kw, dtype=float),
        "eta_c": np.ascontiguousarray(fleet.charge_efficiency, dtype=float),
        "eta_d": np.ascontiguousarray(fleet.discharge_efficiency, dtype=float),
        "e_init": np.ascontiguousarray(fleet.e_init_kwh, dtype=float),
        "lo": np.ascontiguousarray(fleet.e_floor_kwh, dtype=float),
        "hi": np.ascontiguousarray(fleet.e_max_kwh, dtype=float),
        "need": np.ascontiguousarray(fleet.e_need_kwh, dtype=float),
    }


def price_response(
    fleet: FleetOnGrid,
    buy_price: np.ndarray,
    sell_price: np.ndarray | None = None,
    *,
    group: np.ndarray | None = None,
    wear_cost_per_kwh: float = 0.0,
    unmet_penalty_per_kwh: float | None = None,
    aggregate_by: np.ndarray | None = None,
    n_aggregate: int | None = None,
    cost_shift: np.ndarray | None = None,
    backend: str = "auto",
) -> ExactResult:
    """Each EV's cost-minimising schedule, exactly (equal to the LP optimum), vectorised over the fleet.

    Each EV solves: minimise sum_t (buy_t c_t - sell_t d_t) dt + wear * (sum_t d_t dt / eta_d) + penalty *
    unmet subject to 0 <= c_t <= Cmax_t (charge limit), 0 <= d_t <= Dmax_t (discharge limit), c_t / Cmax_t +
    d_t / Dmax_t <= 1 (charging and discharging time-share a step), e_t = e_{t-1} + eta_c c_t dt - d_t dt /
    eta_d in [e_floor, e_max] during the stay, e_last >= e_need - unmet, unmet >= 0 (see the module docstring
    for the method, and for the steps where time-sharing pays: there both ``charge_kw`` and ``discharge_kw``
    are positive and the cost includes the cycling profit).

    Args:
        fleet: sessions on a grid of T steps (its ``mode`` is already in the discharge limits).
        buy_price: import price per kWh, (T,) or (G, T) with ``group``.
        sell_price: export price per kWh, same shape; None = the buy price.
        group: (N,) int row of the price arrays for each session (e.g. per-site duals of a coupled solver).
        wear_cost_per_kwh: battery wear per battery-side kWh discharged.
        unmet_penalty_per_kwh: price of each battery kWh short of the need; None = 10 x the largest absolute
        price
            per battery kWh + 1 (:func:`vgi.schedule.options.penalty_for`).
        aggregate_by: (N,) int in [0, n_aggregate): return group sums of power and cost instead of N x T
        arrays.
        n_aggregate: number of aggregate groups (default: ``aggregate_by.max() + 1``).
        cost_shift: with ``aggregate_by``, currency/kWh of the same shape as the price rows: each group's ``cost``
            is then summed at the prices less the shift of each session's row (``buy - shift`` on charging, ``sell -
            shift`` on discharging; the schedules are still optimal at the full prices, and ``session_cost`` and
            ``objective`` stay at them).  A decomposition prices at ``cost + shadow price`` and needs the cost
            without it; this way no per-session or per-row array is built to take it off.
        backend: ``auto`` (numba where installed), ``numba`` or ``numpy``.

    Returns:
        An :class:`ExactResult`.
    """
    n_steps = fleet.n_steps
    n = len(fleet)
    buy = _as_price_rows(buy_price, n_steps, "buy")
    sell = buy if sell_price is None else _as_price_rows(sell_price, n_steps, "sell")
    if sell.shape != buy.shape:
        raise VgiError(f"sell prices have shape {sell.shape}, buy prices {buy.shape}")
    n_groups = buy.shape[0]
    if group is None:
        if n_groups != 1:
            raise VgiError(f"{n_groups} rows of prices need a group per session")
        grp = np.zeros(n, dtype=np.int64)
    else:
        grp = np.ascontiguousarray(group, dtype=np.int64)
        if grp.shape != (n,):
            raise VgiError(f"group must have one entry per session ({n}), got shape {grp.shape}")
        if n and (grp.min() < 0 or grp.max() >= n_groups):
            raise VgiError(f"group values must lie in [0, {n_groups})")
    wear = float(wear_cost_per_kwh)
    if wear < 0:
        raise VgiError("wear_cost_per_kwh must not be negative")
    pen = penalty_for(buy, sell, fleet) if unmet_penalty_per_kwh is None else float(unmet_penalty_per_kwh)
    aggregate = aggregate_by is not None
    if aggregate:
        assert aggregate_by is not None
        agg_index = np.ascontiguousarray(aggregate_by, dtype=np.int64)
        if agg_index.shape != (n,):
            raise VgiError(f"aggregate_by must have one entry per session ({n}), got shape {agg_index.shape}")
        n_agg = int(n_aggregate) if n_aggregate is not None else (int(agg_index.max()) + 1 if n else 0)
        if n and (agg_index.min() < 0 or agg_index.max() >= n_agg):
            raise VgiError(f"aggregate_by values must lie in [0, {n_agg})")
    else:
        agg_index = np.zeros(0, dtype=np.int64)
        n_agg = 0
    use_shift = cost_shift is not None
    if use_shift:
        if not aggregate:
            raise VgiError("cost_shift needs aggregate_by")
        shift = _as_price_rows(np.asarray(cost_shift, dtype=float), n_steps, "cost_shift")
        if shift.shape != buy.shape:
            raise VgiError(f"cost_shift has shape {shift.shape}, buy prices {buy.shape}")
    else:
        shift = np.zeros((1, 1))
    p = _fleet_arrays(fleet)
    can_discharge = bool((p["maxd"] > 0).any())
    dt = fleet.step_hours
    order_a = np.ascontiguousarray(np.argsort(buy, axis=1, kind="stable"), dtype=np.int64)
    use_numba = HAVE_NUMBA and backend in ("auto", "numba")
    if backend == "numba" and not HAVE_NUMBA:
        raise VgiError("the numba backend needs numba (pip install numba)")
    unmet = np.zeros(n)
    session_cost = np.zeros(n)
    if use_numba:
        threads = int(_numba.get_num_threads()) if _numba is not None else 1
        n_chunks = max(1, min(n, threads if aggregate else 8 * threads))
        bounds = np.linspace(0, n, n_chunks + 1).astype(np.int64)
        if aggregate:
            out_c = np.zeros((1, 1))
            out_d = np.zeros((1, 1))
            agg_c = np.zeros((n_chunks, n_agg, n_steps))
            agg_d = np.zeros((n_chunks, n_agg, n_steps))
            agg_cost = np.zeros((n_chunks, n_agg))
        else:
            out_c = np.zeros((n, n_steps))
            out_d = np.zeros((n, n_steps)) if can_discharge else np.zeros((1, 1))
            agg_c = np.zeros((1, 1, 1))
            agg_d = np.zeros((1, 1, 1))
            agg_cost = np.zeros((1, 1))
        assert _run_chunks_jit is not None
        _run_chunks_jit(
            p["start"],
            p["stop"],
            p["ff"],
            p["lf"],
            p["maxc"],
            p["maxd"],
            p["eta_c"],
            p["eta_d"],
            p["e_init"],
            p["lo"],
            p["hi"],
            p["need"],
            grp,
            buy,
            sell,
            order_a,
            *_distinct_jit(buy),
            *_distinct_jit(sell),
            *_distinct_pairs_jit(buy, sell),
            dt,
            wear,
            pen,
            bounds,
            aggregate,
            agg_index,
            can_discharge,
            out_c,
            out_d,
            agg_c,
            agg_d,
            agg_cost,
            unmet,
            session_cost,
            shift,
            use_shift,
        )
        if aggregate:
            # the chunks' partial sums, added in place into the first (no (chunks, groups, T) temporary)
            for ci in range(1, n_chunks):
                agg_c[0] += agg_c[ci]
                agg_d[0] += agg_d[ci]
                agg_cost[0] += agg_cost[ci]
            charge = agg_c[0]
            discharge: np.ndarray | None = agg_d[0]
            cost = agg_cost[0]
        else:
            charge = out_c
            discharge = out_d if can_discharge else None
            cost = session_cost
        backend_used = "numba"
    else:
        block = max(1, min(n, 4_000_000 // max(1, 2 * n_steps * n_steps)))
        p["grp"] = grp
        if aggregate:
            charge = np.zeros((n_agg, n_steps))
            discharge = np.zeros((n_agg, n_steps))
        else:
            charge = np.zeros((n, n_steps))
            discharge = np.zeros((n, n_steps)) if can_discharge else None
        agg_cost_np = np.zeros(n)
        for b0 in range(0, n, block):
            rows = np.arange(b0, min(n, b0 + block))
            c_blk, d_blk, u_blk, k_blk = _numpy_block(rows, p, buy, sell, order_a, dt, wear, pen, True)
            unmet[rows] = u_blk
            session_cost[rows] = k_blk
            if use_shift:
                moved = np.einsum("it,it->i", shift[grp[rows]], c_blk - d_blk)
                k_blk = k_blk - dt * moved
            if aggregate:
                agg_cost_np[rows] = k_blk
                np.add.at(charge, agg_index[rows], c_blk)
                assert discharge is not None
                np.add.at(discharge, agg_index[rows], d_blk)
            else:
                charge[rows] = c_blk
                if discharge is not None:
                    discharge[rows] = d_blk
        cost = np.bincount(agg_index, weights=agg_cost_np, minlength=n_agg) if aggregate else session_cost
        backend_used = "numpy"
    return ExactResult(
        charge_kw=charge,
        discharge_kw=discharge,
        unmet_kwh=unmet,
        cost=cost,
        objective=float(session_cost.sum()),
        session_cost=session_cost,
        unmet_penalty_per_kwh=pen,
        aggregated=aggregate,
        backend=backend_used,
    )


def price_strategy(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    """The ``price`` strategy: every session minimises its own cost under ``prices`` (exact, see module docs).

    Options that tie sessions together (site limits, targets, events) are not honoured here; they are named in
    ``stats["ignored_options"]``.
    """
    t0 = time.perf_counter()
    res = price_response(
        fleet,
        prices.buy,
        prices.sell,
        wear_cost_per_kwh=options.wear_cost_per_kwh,
        unmet_penalty_per_kwh=options.unmet_penalty_per_kwh,
    )
    elapsed = time.perf_counter() - t0
    stats: dict[str, float | int | str] = {
        "objective": res.objective,
        "solve_seconds": elapsed,
        "status": "optimal",
        "solver": f"exact-{res.backend}",
        "unmet_penalty_per_kwh": res.unmet_penalty_per_kwh,
    }
    ignored = options.coupled_fields()
    if ignored:
        stats["ignored_options"] = ",".join(ignored)
    return Schedule(fleet, "price", res.charge_kw, res.discharge_kw, res.unmet_kwh, stats)
