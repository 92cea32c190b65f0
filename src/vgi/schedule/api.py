"""One entry point for every scheduling strategy: :func:`schedule`.

Strategies are functions ``(fleet, prices, options) -> Schedule`` kept in a registry, so that another module
can add one (:func:`register_strategy`) or a solver of the coupled problem (:func:`register_coupled_solver`)
without this module knowing it.  Built in:

* ``uncontrolled``: full power from arrival until the need is met (:mod:`vgi.schedule.uncontrolled`);
* ``price``: each EV alone minimises its own cost, exactly (:func:`vgi.schedule.exact.price_response`);
* ``coupled``: the fleet under site/fleet limits, peak and demand charges, a target curve and a
  demand-response event; ``options.solver`` picks the solver: ``lp`` (the direct HiGHS LP,
  :func:`vgi.schedule.lp.solve_lp`), ``decomposition`` (registered by :mod:`vgi.schedule.decompose` where
  present) or ``auto`` (the LP for small problems or when no other solver is registered, else the
  decomposition).

Whatever the strategy, the returned :attr:`Schedule.stats` holds ``cost`` (energy cost - export revenue +
wear, in the price currency, without penalties), ``objective`` (with penalties and peak terms where the
strategy has them), ``unmet_kwh`` (total), ``n_short_sessions``, ``peak_kw`` (fleet net import maximum),
``solve_seconds``, ``status``, with ``options.shared_meter`` the metered ``cost`` and its ``netting_credit``
(whatever the strategy planned with, a shared meter bills the site's net power) and, where a limit is given in the
options, ``limit_violation_kwh`` and
``n_binding_steps``; per-step arrays (``net_kw``, ``limit_violation_kw``, ``binding_steps``) are in
:attr:`Schedule.details`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vgi.errors import VgiError
from vgi.schedule import exact, lp, uncontrolled
from vgi.schedule.options import (
    DrEvent,
    ScheduleOptions,
    default_unmet_penalty,
    fleet_limit_array,
    netting_credit,
    shared_meter_sites,
    site_flows_kw,
    site_limit_arrays,
)
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

__all__ = [
    "DrEvent",
    "ScheduleOptions",
    "StrategyFn",
    "complete_stats",
    "coupled_solvers",
    "register_coupled_solver",
    "register_strategy",
    "schedule",
    "site_net_kw",
    "strategies",
]

StrategyFn = Callable[[FleetOnGrid, PriceInputs, ScheduleOptions], Schedule]

#: modules that register more strategies or coupled solvers when imported (absent ones are skipped)
PLUGIN_MODULES = ("vgi.schedule.decompose", "vgi.schedule.decomposition", "vgi.schedule.online")
#: ``solver="auto"`` uses the LP up to this many session-steps in the sessions' windows
AUTO_LP_MAX_SESSION_STEPS = 50_000


_STRATEGIES: dict[str, StrategyFn] = {}
_COUPLED_SOLVERS: dict[str, StrategyFn] = {}
_plugins_loaded = False


def register_strategy(name: str, fn: StrategyFn | None = None, *, replace_existing: bool = False) -> Any:
    """Register ``fn`` as strategy ``name`` (usable as a decorator: ``@register_strategy("online")``)."""

    def deco(f: StrategyFn) -> StrategyFn:
        if name in _STRATEGIES and not replace_existing and _STRATEGIES[name] is not f:
            raise ValueError(f"strategy '{name}' is already registered")
        _STRATEGIES[name] = f
        return f

    return deco(fn) if fn is not None else deco


def register_coupled_solver(
    name: str, fn: StrategyFn | None = None, *, replace_existing: bool = False
) -> Any:
    """Register ``fn`` as a solver of the ``coupled`` strategy, chosen by ``options.solver == name``."""

    def deco(f: StrategyFn) -> StrategyFn:
        if name in _COUPLED_SOLVERS and not replace_existing and _COUPLED_SOLVERS[name] is not f:
            raise ValueError(f"coupled solver '{name}' is already registered")
        _COUPLED_SOLVERS[name] = f
        return f

    return deco(fn) if fn is not None else deco


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def strategies() -> list[str]:
    """Names of the registered strategies."""
    _load_plugins()
    return sorted(_STRATEGIES)


def coupled_solvers() -> list[str]:
    """Names of the registered solvers of the ``coupled`` strategy."""
    _load_plugins()
    return sorted(_COUPLED_SOLVERS)


def _session_steps(fleet: FleetOnGrid) -> int:
    return int((fleet.stop - fleet.start).sum())


def _coupled(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    solver = options.solver or "auto"
    if solver == "auto":
        others = [s for s in _COUPLED_SOLVERS if s != "lp"]
        if _session_steps(fleet) <= AUTO_LP_MAX_SESSION_STEPS or "decomposition" not in others:
            solver = "lp"
        else:
            solver = "decomposition"
    fn = _COUPLED_SOLVERS.get(solver)
    if fn is None:
        raise VgiError(
            f"unknown solver '{solver}' for the coupled strategy; known: {', '.join(coupled_solvers())}"
        )
    return fn(fleet, prices, options)


def schedule(
    fleet: FleetOnGrid, strategy: str, prices: PriceInputs, options: ScheduleOptions | None = None
) -> Schedule:
    """Schedule ``fleet`` by ``strategy`` (``uncontrolled``, ``price``, ``coupled``, ``online``, ...).

    The fleet's ``mode`` says V1G or V2G.  Options a strategy cannot honour (a site limit for ``price`` or
    ``uncontrolled``) are not silently dropped: the result's ``stats["ignored_options"]`` names them and the
    limits' violations are still measured in ``stats`` / ``details``.
    """
    _load_plugins()
    options = options or ScheduleOptions()
    prices.check_grid(fleet.grid)
    fn = _STRATEGIES.get(strategy)
    if fn is None:
        raise VgiError(f"unknown strategy '{strategy}'; known: {', '.join(strategies())}")
    t0 = time.perf_counter()
    result = fn(fleet, prices, options)
    elapsed = time.perf_counter() - t0
    return complete_stats(result, prices, options, elapsed, coupled=strategy not in ("uncontrolled", "price"))


def site_net_kw(result: Schedule) -> tuple[list[str], np.ndarray]:
    """Net import per site and step: (site names, array (S, T)), without an N x T temporary."""
    fleet = result.fleet
    codes, names = pd.factorize(pd.Series(fleet.site_id.astype(str)), sort=False)
    ind = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(names), len(codes)))
    net = np.asarray(ind @ result.charge_kw)
    if result.discharge_kw is not None:
        net = net - np.asarray(ind @ result.discharge_kw)
    return [str(x) for x in names], net


def complete_stats(
    result: Schedule, prices: PriceInputs, options: ScheduleOptions, elapsed_s: float, *, coupled: bool
) -> Schedule:
    """Fill the figures every schedule reports (see the module docstring) where the strategy did not."""
    fleet = result.fleet
    dt = fleet.step_hours
    stats = dict(result.stats)
    details = dict(result.details)
    charge_sum = result.charge_kw.sum(axis=0)
    discharge_sum = (
        result.discharge_kw.sum(axis=0) if result.discharge_kw is not None else np.zeros(fleet.n_steps)
    )
    net = charge_sum - discharge_sum
    energy_cost = float((prices.buy @ charge_sum - prices.sell @ discharge_sum) * dt)
    shared = shared_meter_sites(fleet, options.shared_meter)
    if shared and result.discharge_kw is not None:
        # cars behind one meter: the site's net import and export are billed, not each car's (whatever the
        # strategy planned with, the meter nets)
        site_c, site_d = site_flows_kw(fleet, shared, result.charge_kw, result.discharge_kw)
        credit = netting_credit(prices.buy, prices.sell, site_c, site_d, dt)
        energy_cost -= credit
        stats["netting_credit"] = credit
    wear = 0.0
    if result.discharge_kw is not None and options.wear_cost_per_kwh:
        wear = float(
            options.wear_cost_per_kwh
            * (result.discharge_kw.sum(axis=1) / fleet.discharge_efficiency).sum()
            * dt
        )
    unmet = np.zeros(len(fleet)) if result.unmet_kwh is None else np.asarray(result.unmet_kwh, dtype=float)
    pen = (
        default_unmet_penalty(prices, fleet)
        if options.unmet_penalty_per_kwh is None
        else float(options.unmet_penalty_per_kwh)
    )
    stats.setdefault("cost", energy_cost + wear)
    stats["energy_cost"] = energy_cost
    stats["wear_cost"] = wear
    stats.setdefault("objective", energy_cost + wear + pen * float(unmet.sum()))
    stats["unmet_kwh"] = float(unmet.sum())
    stats["n_short_sessions"] = int((unmet > 1e-6).sum())
    stats["peak_kw"] = float(net.max(initial=0.0))
    stats["import_kwh"] = float(charge_sum.sum() * dt)
    stats["export_kwh"] = float(discharge_sum.sum() * dt)
    stats.setdefault("solve_seconds", elapsed_s)
    stats["wall_seconds"] = elapsed_s
    stats.setdefault("status", "done")
    stats["n_sessions"] = len(fleet)
    details.setdefault("net_kw", net)
    if "limit_violation_kw" not in details:
        # measure the limits the strategy did not model (uncontrolled, price) on the schedule it produced
        excess = np.zeros(fleet.n_steps)
        binding = np.zeros(fleet.n_steps, dtype=bool)
        limits = site_limit_arrays(fleet, options.site_limit_kw)
        if limits:
            names, site_net = site_net_kw(result)
            index = {name: i for i, name in enumerate(names)}
            for site, limit in limits.items():
                row = site_net[index[site]]
                excess += np.maximum(row - limit, 0.0)
                binding |= row >= limit - 1e-6 * np.maximum(1.0, np.abs(limit))
        imp = fleet_limit_array(options.fleet_import_limit_kw, fleet.n_steps, "fleet import limit")
        if imp is not None:
            excess += np.maximum(net - imp, 0.0)
            binding |= net >= imp - 1e-6 * np.maximum(1.0, np.abs(imp))
        exp = fleet_limit_array(options.fleet_export_limit_kw, fleet.n_steps, "fleet export limit")
        if exp is not None:
            excess += np.maximum(-net - exp, 0.0)
            binding |= -net >= exp - 1e-6 * np.maximum(1.0, np.abs(exp))
        details["limit_violation_kw"] = excess
        details["binding_steps"] = np.flatnonzero(binding)
        stats.setdefault("limit_violation_kwh", float(excess.sum() * dt))
        stats.setdefault("n_binding_steps", int(binding.sum()))
    return Schedule(
        fleet, result.strategy, result.charge_kw, result.discharge_kw, result.unmet_kwh, stats, details
    )


def _register_builtins() -> None:
    register_strategy("uncontrolled", uncontrolled.uncontrolled_strategy)
    register_strategy("price", exact.price_strategy)
    register_strategy("coupled", _coupled)
    register_coupled_solver("lp", lp.lp_strategy)


_register_builtins()
