"""Options of the scheduling strategies (:class:`ScheduleOptions`) and the figures every schedule reports.

Kept apart from :mod:`vgi.schedule.api` so that solvers can import them without importing the registry.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vgi.errors import VgiError
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid

__all__ = [
    "DrEvent",
    "ScheduleOptions",
    "SiteLimit",
    "default_unmet_penalty",
    "fleet_limit_array",
    "netting_credit",
    "penalty_for",
    "shared_meter_sites",
    "site_codes",
    "site_flows_kw",
    "site_limit_arrays",
    "target_curve",
    "target_curve_array",
]

SolverName = Literal["auto", "lp", "decomposition"] | str


class DrEvent(NamedTuple):
    """A demand-response event: between ``start_step`` (inclusive) and ``stop_step`` (exclusive) the fleet's
    net import should be at most ``baseline_kw[t] - reduction_kw``; each kWh above that costs
    ``shortfall_penalty_per_kwh``."""

    start_step: int
    stop_step: int
    reduction_kw: float
    baseline_kw: np.ndarray
    shortfall_penalty_per_kwh: float = 1000.0


SiteLimit = float | Mapping[str, float] | Mapping[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class ScheduleOptions:
    """What a strategy may take into account besides prices (every field optional).

    Attributes:
        wear_cost_per_kwh: battery wear per battery-side kWh discharged, currency/kWh.
        unmet_penalty_per_kwh: price of each battery kWh short of a need; None = 10 x the largest absolute
        price + 1,
            so that every need that can be met is met.
        site_limit_kw: import limit of each site's net power: one number for every site, ``{site: kW}``, or
            ``{site: array (T,)}``; sites not named are unlimited.
        fleet_import_limit_kw: limit on the fleet's net import, kW (number or array (T,)).
        fleet_export_limit_kw: limit on the fleet's net export, kW (number or array (T,)).
        minimise_peak: weight per kW of the fleet's highest net import (a soft peak objective).
        demand_charge_per_kw: price per kW of the fleet's highest net import (a demand charge); adds to
            ``minimise_peak``.
        target_kw: an aggregate curve to follow, kW (T,); ``over_penalty_per_kwh`` / ``under_penalty_per_kwh``
            price the energy above / below it.  NaN in a step: no target there (no penalty); a curve that is NaN
            in every step is no curve (None); an infinite value is an error.
        dr_event: a :class:`DrEvent` (or a tuple in its field order).
        solver: for ``coupled``: ``auto``, ``lp``, ``decomposition`` or another registered solver name.
        gap_tolerance: relative optimality gap a solver may stop at.
        time_limit_s: wall-clock limit of a solve, seconds.
        online_forecast: for ``online``: what the planner knows of a car at its arrival: ``declared`` (the
            driver's departure and energy), ``noisy`` (declared with errors) or ``hourly_mean`` (history only).
        online_replan_every: for ``online``: re-plan every k steps.
        online_inner: for ``online``: the strategy re-planned each time (``auto``: ``price`` without coupled
            options, else ``coupled``).
        reference_lp: for ``coupled`` by decomposition: also solve the direct LP and report ``lp_gap``.
        limit_penalty_per_kw: price of each kWh a limit is exceeded by (site, fleet); None = 1000 x the need
            penalty.  Limits are soft only so that an impossible one (a negative import limit the fleet cannot
            export down to) is reported rather than failing; a feasible limit is always kept.
        shared_meter: which sites' cars share one meter (site-meter netting): False (each car is priced on its
            own import and export, the default), True (every site) or a collection of site ids.  At a shared
            meter the site pays the import price on the site's net import and earns the export price on its net
            export, per step, so one car's discharge feeding another's charge is not bought and sold (see
            ``docs/scheduling-coupled.md``); only the ``coupled`` strategy plans with it, every strategy's
            reported ``cost`` is the metered bill.
    """

    wear_cost_per_kwh: float = 0.0
    unmet_penalty_per_kwh: float | None = None
    site_limit_kw: SiteLimit | None = None
    fleet_import_limit_kw: float | np.ndarray | None = None
    fleet_export_limit_kw: float | np.ndarray | None = None
    minimise_peak: float = 0.0
    demand_charge_per_kw: float = 0.0
    target_kw: np.ndarray | None = None
    over_penalty_per_kwh: float = 0.0
    under_penalty_per_kwh: float = 0.0
    dr_event: DrEvent | tuple[Any, ...] | None = None
    solver: SolverName = "auto"
    gap_tolerance: float = 1e-6
    time_limit_s: float | None = None
    limit_penalty_per_kw: float | None = None
    online_forecast: Literal["declared", "noisy", "hourly_mean"] = "declared"
    online_replan_every: int = 1
    online_inner: Literal["auto", "price", "coupled"] = "auto"
    reference_lp: bool = False
    shared_meter: bool | Collection[str] = False

    def __post_init__(self) -> None:
        if not isinstance(self.shared_meter, bool):
            if isinstance(self.shared_meter, str):
                raise VgiError(
                    f"shared_meter is True, False or a collection of site ids, got the string {self.shared_meter!r}"
                )
            object.__setattr__(self, "shared_meter", tuple(str(s) for s in self.shared_meter))
        if self.dr_event is not None and not isinstance(self.dr_event, DrEvent):
            object.__setattr__(self, "dr_event", DrEvent(*self.dr_event))
        if self.online_replan_every < 1:
            raise VgiError(f"online_replan_every must be at least 1, got {self.online_replan_every}")
        if self.wear_cost_per_kwh < 0:
            raise VgiError(f"wear_cost_per_kwh must not be negative, got {self.wear_cost_per_kwh}")
        if self.unmet_penalty_per_kwh is not None and self.unmet_penalty_per_kwh < 0:
            raise VgiError(f"unmet_penalty_per_kwh must not be negative, got {self.unmet_penalty_per_kwh}")
        object.__setattr__(self, "target_kw", target_curve(self.target_kw, "target_kw"))

    def with_(self, **changes: Any) -> ScheduleOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def is_coupled(self) -> bool:
        """True when an option ties sessions together (only the ``coupled`` strategy honours those)."""
        return any(
            (
                self.site_limit_kw is not None,
                self.fleet_import_limit_kw is not None,
                self.fleet_export_limit_kw is not None,
                self.minimise_peak > 0,
                self.demand_charge_per_kw > 0,
                self.target_kw is not None,
                self.dr_event is not None,
                bool(self.shared_meter),
            )
        )

    def coupled_fields(self) -> list[str]:
        """Names of the options set that tie sessions together."""
        names = ["site_limit_kw", "fleet_import_limit_kw", "fleet_export_limit_kw", "target_kw", "dr_event"]
        out = [n for n in names if getattr(self, n) is not None]
        out += [n for n in ("minimise_peak", "demand_charge_per_kw") if getattr(self, n) > 0]
        if self.shared_meter:
            out.append("shared_meter")
        return out


def penalty_for(buy: np.ndarray, sell: np.ndarray | None, fleet: FleetOnGrid | None = None) -> float:
    """The default price of an unmet battery kWh: 10 x the largest absolute price per battery kWh (the price
    divided by the smallest charge efficiency) + 1, so that meeting a need always beats paying the penalty."""
    top = float(np.abs(buy).max(initial=0.0))
    if sell is not None:
        top = max(top, float(np.abs(sell).max(initial=0.0)))
    eta = 1.0
    if fleet is not None and len(fleet):
        eta = float(min(fleet.charge_efficiency.min(), 1.0))
    return 10.0 * top / max(eta, 1e-3) + 1.0


def default_unmet_penalty(prices: PriceInputs, fleet: FleetOnGrid | None = None) -> float:
    """:func:`penalty_for` of a :class:`PriceInputs`."""
    return penalty_for(prices.buy, prices.sell, fleet)


def option_names() -> list[str]:
    """Field names of :class:`ScheduleOptions`."""
    return [f.name for f in fields(ScheduleOptions)]


def fleet_limit_array(value: float | np.ndarray | None, n_steps: int, what: str) -> np.ndarray | None:
    """A fleet limit as an array (T,) (None stays None)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n_steps, float(arr))
    if arr.shape != (n_steps,):
        raise VgiError(f"{what} has {arr.size} values for {n_steps} steps")
    if np.isnan(arr).any():
        raise VgiError(f"{what} has a missing value at step {int(np.flatnonzero(np.isnan(arr))[0])}")
    return arr


def target_curve(value: float | np.ndarray | None, what: str) -> np.ndarray | None:
    """A dispatch curve checked: None, or a float array (a number stays 0-d) with NaN in the steps without a
    target.  A curve that is NaN everywhere is None (no curve); an infinite value is an error naming the step."""
    if value is None:
        return None
    arr = np.array(value, dtype=float)
    if np.isinf(arr).any():
        step = int(np.flatnonzero(np.isinf(arr.ravel()))[0])
        raise VgiError(f"{what} has an infinite value at step {step} (NaN means no target in a step)")
    if np.isnan(arr).all():
        return None
    return arr


def target_curve_array(value: float | np.ndarray | None, n_steps: int, what: str) -> np.ndarray | None:
    """A dispatch curve as an array (T,), kW, NaN in the steps without a target (None: no curve, also when every
    step is NaN); a number is the same target in every step."""
    arr = target_curve(value, what)
    if arr is None:
        return None
    if arr.ndim == 0:
        arr = np.full(n_steps, float(arr))
    if arr.shape != (n_steps,):
        raise VgiError(f"{what} has {arr.size} values for {n_steps} steps")
    return arr


def site_limit_arrays(fleet: FleetOnGrid, site_limit_kw: SiteLimit | None) -> dict[str, np.ndarray]:
    """Import limit per site as ``{site: array (T,)}`` for the sites that have one (unknown sites are an
    error)."""
    if site_limit_kw is None:
        return {}
    n_steps = fleet.n_steps
    sites = [str(s) for s in dict.fromkeys(fleet.site_id.tolist())]
    if isinstance(site_limit_kw, Mapping):
        unknown = [str(s) for s in site_limit_kw if str(s) not in sites]
        if unknown:
            raise VgiError(f"site limit names site(s) not in the sessions: {', '.join(unknown)}")
        items = {str(k): v for k, v in site_limit_kw.items()}
    else:
        items = {s: site_limit_kw for s in sites}
    out: dict[str, np.ndarray] = {}
    for site, value in items.items():
        arr = fleet_limit_array(value, n_steps, f"site limit of '{site}'")
        assert arr is not None
        out[site] = arr
    return out


def shared_meter_sites(fleet: FleetOnGrid, shared_meter: bool | Collection[str]) -> list[str]:
    """The sites whose cars share one meter, in the order they first appear (unknown site ids are an error)."""
    if shared_meter is False or (not isinstance(shared_meter, bool) and len(shared_meter) == 0):
        return []
    sites = [str(s) for s in dict.fromkeys(fleet.site_id.tolist())]
    if shared_meter is True:
        return sites
    assert not isinstance(shared_meter, bool)
    named = [str(s) for s in shared_meter]
    unknown = [s for s in named if s not in sites]
    if unknown:
        raise VgiError(f"shared meter names site(s) not in the sessions: {', '.join(unknown)}")
    wanted = set(named)
    return [s for s in sites if s in wanted]


def netting_credit(
    buy: np.ndarray, sell: np.ndarray, charge_kw: np.ndarray, discharge_kw: np.ndarray, step_hours: float
) -> float:
    """What netting at shared meters saves over pricing each car's import and export apart, currency.

    ``charge_kw`` and ``discharge_kw`` are the grid-side sums per shared meter, (S, T).  A meter that nets
    per step bills ``buy * max(C - D, 0) - sell * max(D - C, 0)``, which is ``buy * C - sell * D - (buy -
    sell) * min(C, D)``: where export pays less than import the site saves ``(buy - sell) * min(C, D)``.  Where
    export pays at least the import price (``sell >= buy``) the per-step net bill would rise with the overlap
    (not convex, so not a linear programme); there each car's import and export are priced apart, the saving is
    0, and that is the rule every solver and report of vgi uses.
    """
    gain = np.maximum(np.asarray(buy, dtype=float) - np.asarray(sell, dtype=float), 0.0)
    if charge_kw.size == 0:
        return 0.0
    return float((np.minimum(charge_kw, discharge_kw) @ gain).sum() * step_hours)


def site_flows_kw(
    fleet: FleetOnGrid, sites: list[str], charge_kw: np.ndarray, discharge_kw: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Grid-side charge and discharge summed over the sessions of each of ``sites``: two arrays (S, T), kW."""
    n_steps = charge_kw.shape[1] if charge_kw.ndim == 2 else fleet.n_steps
    if not sites:
        return np.zeros((0, n_steps)), np.zeros((0, n_steps))
    code = site_codes(fleet, sites)
    rows = np.flatnonzero(code >= 0)
    ind = sp.csr_matrix((np.ones(len(rows)), (code[rows], rows)), shape=(len(sites), len(fleet)))
    charge = np.asarray(ind @ charge_kw)
    discharge = np.zeros_like(charge) if discharge_kw is None else np.asarray(ind @ discharge_kw)
    return charge, discharge


def site_codes(fleet: FleetOnGrid, sites: list[str]) -> np.ndarray:
    """(N,) index of each session's site in ``sites``, -1 for a session at another site."""
    if not sites:
        return np.full(len(fleet), -1, dtype=np.int64)
    index = pd.Index([str(s) for s in sites])
    return np.asarray(index.get_indexer(pd.Index(fleet.site_id.astype(str))), dtype=np.int64)
