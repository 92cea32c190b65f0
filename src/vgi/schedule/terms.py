"""The coupling terms of a plan, as one model.

Everything that ties the cars of a fleet together — site import limits, the feeder's import and export limits, a
weight on the fleet's peak, demand-response events to deliver against their baselines, a dispatch curve to follow —
and the prices of falling short (an event's shortfall price, the price of a driver's unmet need) are one
:class:`CouplingTerms`.  :meth:`CouplingTerms.options` is the only place that turns them into the scheduler's
:class:`~vgi.schedule.options.ScheduleOptions`, which the LP, the decomposition and online re-planning all read, so
the scenario runner, :func:`vgi.aggregator.dispatch.dispatch_event` and the live service plan with the same terms.
:meth:`CouplingTerms.from_step` cuts them to a plan that starts later on the same grid (re-planning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from vgi.errors import VgiError
from vgi.schedule.options import DrEvent, ScheduleOptions, SiteLimit, target_curve
from vgi.schedule.problem import FleetOnGrid

__all__ = ["CouplingTerms", "EventTarget"]


@dataclass(frozen=True, eq=False)
class EventTarget:
    """A demand-response event as the planner sees it.

    Attributes:
        event_id: a label.
        start_step, stop_step: the event window on the plan's grid, steps ``[start_step, stop_step)``.
        direction: ``down`` (net import at most baseline - request) or ``up`` (at least baseline + request).
        requested_kw: the committed response per step of the window, kW (``stop_step - start_step`` values, >= 0).
        baseline_kw: the baseline the event is measured against, per step of the whole grid, kW (T,).
        shortfall_price_per_kwh: what each kWh of the request not delivered costs the aggregator.
    """

    event_id: str
    start_step: int
    stop_step: int
    direction: Literal["down", "up"]
    requested_kw: np.ndarray
    baseline_kw: np.ndarray
    shortfall_price_per_kwh: float

    def __post_init__(self) -> None:
        if self.direction not in ("down", "up"):
            raise VgiError(f"event '{self.event_id}': direction must be 'down' or 'up', got '{self.direction}'")
        if not 0 <= self.start_step < self.stop_step:
            raise VgiError(f"event '{self.event_id}': empty window [{self.start_step}, {self.stop_step})")
        req = np.broadcast_to(np.asarray(self.requested_kw, dtype=float), (self.stop_step - self.start_step,))
        if not np.isfinite(req).all() or (req < 0).any():
            raise VgiError(f"event '{self.event_id}': requested kW must be finite and non-negative")
        base = np.asarray(self.baseline_kw, dtype=float)
        if base.ndim != 1 or base.size < self.stop_step:
            raise VgiError(f"event '{self.event_id}': the baseline has {base.size} values, the window ends at step "
                           f"{self.stop_step}")
        if not np.isfinite(base[self.start_step : self.stop_step]).all():
            raise VgiError(f"event '{self.event_id}': the baseline is missing in the event window")
        if not self.shortfall_price_per_kwh >= 0:
            raise VgiError(f"event '{self.event_id}': the shortfall price must not be negative")
        object.__setattr__(self, "requested_kw", np.array(req))
        object.__setattr__(self, "baseline_kw", base)

    @property
    def window(self) -> slice:
        return slice(self.start_step, self.stop_step)

    def target_kw(self) -> np.ndarray:
        """The net import the fleet should keep to in the window: baseline -/+ the request, kW."""
        base = self.baseline_kw[self.window]
        return base - self.requested_kw if self.direction == "down" else base + self.requested_kw

    def from_step(self, t: int) -> EventTarget | None:
        """The event on a grid that starts ``t`` steps later (None once it is over)."""
        if self.stop_step <= t:
            return None
        skip = max(t - self.start_step, 0)
        return replace(
            self,
            start_step=max(self.start_step - t, 0),
            stop_step=self.stop_step - t,
            requested_kw=self.requested_kw[skip:],
            baseline_kw=self.baseline_kw[t:],
        )


def _cut(value: Any, t: int) -> Any:
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    return value if arr.ndim == 0 else arr[t:]


@dataclass(frozen=True, eq=False)
class CouplingTerms:
    """What ties a fleet's cars together in a plan, and the prices of falling short.

    Attributes:
        site_limit_kw: import limit of each site's net power (one number for every site, ``{site: kW}`` or
            ``{site: array (T,)}``).
        shared_meter: the sites whose cars share one meter, netted per step (True: every site; False: none).
        fleet_import_limit_kw, fleet_export_limit_kw: limits on the fleet's net import / export, kW (number or
            array (T,)).
        peak_weight_per_kw: weight per kW of the fleet's highest net import.
        events: demand-response events to deliver.
        target_kw: a dispatch curve to follow, kW (T,); energy above it costs ``over_penalty_per_kwh``, below it
            ``under_penalty_per_kwh``.  NaN in the steps without a target (a curve that covers only some steps,
            such as an OpenADR DISPATCH_SETPOINT); NaN everywhere is no curve (None), an infinite value an error.
            Not together with ``events`` (other than one ``down`` event).
        unmet_penalty_per_kwh: price of each battery kWh short of a driver's need (None: the scheduler's default,
            10 x the largest price per battery kWh + 1).
        wear_cost_per_kwh: battery wear per battery-side kWh discharged.
    """

    site_limit_kw: SiteLimit | None = None
    shared_meter: bool | tuple[str, ...] = False
    fleet_import_limit_kw: float | np.ndarray | None = None
    fleet_export_limit_kw: float | np.ndarray | None = None
    peak_weight_per_kw: float = 0.0
    events: tuple[EventTarget, ...] = field(default=())
    target_kw: np.ndarray | None = None
    over_penalty_per_kwh: float = 0.0
    under_penalty_per_kwh: float = 0.0
    unmet_penalty_per_kwh: float | None = None
    wear_cost_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(self, "target_kw", target_curve(self.target_kw, "target_kw"))
        if not isinstance(self.shared_meter, bool):
            object.__setattr__(self, "shared_meter", tuple(str(s) for s in self.shared_meter))
        one_down = len(self.events) == 1 and self.events[0].direction == "down"
        if self.events and self.target_kw is not None and not one_down:
            raise VgiError("a plan follows either a dispatch curve or events (other than one 'down' event), not both")
        directions = {ev.direction for ev in self.events}
        if len(directions) > 1:
            raise VgiError("events in one plan must all ask for the same direction (all 'down' or all 'up')")
        if self.peak_weight_per_kw < 0 or self.wear_cost_per_kwh < 0:
            raise VgiError("the peak weight and the wear cost must not be negative")

    @property
    def is_coupled(self) -> bool:
        """True when a term ties the cars together (a plan then needs the coupled strategy)."""
        return self.options().is_coupled

    def with_(self, **changes: Any) -> CouplingTerms:
        return replace(self, **changes)

    @classmethod
    def from_options(cls, options: ScheduleOptions, n_steps: int) -> CouplingTerms:
        """The terms that ``options`` carries (a ``dr_event`` becomes a ``down`` event of constant request on a grid
        of ``n_steps``); ``terms.options(options)`` gives the same coupling back."""
        events: tuple[EventTarget, ...] = ()
        if options.dr_event is not None:
            ev = options.dr_event if isinstance(options.dr_event, DrEvent) else DrEvent(*options.dr_event)
            base = np.broadcast_to(np.asarray(ev.baseline_kw, dtype=float), (n_steps,)).copy()
            width = int(ev.stop_step) - int(ev.start_step)
            events = (EventTarget("event", int(ev.start_step), int(ev.stop_step), "down",
                                  np.full(width, float(ev.reduction_kw)), base, float(ev.shortfall_penalty_per_kwh)),)
        return cls(
            site_limit_kw=options.site_limit_kw,
            shared_meter=options.shared_meter if isinstance(options.shared_meter, bool)
            else tuple(options.shared_meter),
            fleet_import_limit_kw=options.fleet_import_limit_kw,
            fleet_export_limit_kw=options.fleet_export_limit_kw,
            peak_weight_per_kw=options.minimise_peak,
            events=events,
            target_kw=options.target_kw,
            over_penalty_per_kwh=options.over_penalty_per_kwh,
            under_penalty_per_kwh=options.under_penalty_per_kwh,
            unmet_penalty_per_kwh=options.unmet_penalty_per_kwh,
            wear_cost_per_kwh=options.wear_cost_per_kwh,
        )

    def options(self, base: ScheduleOptions | None = None, fleet: FleetOnGrid | None = None) -> ScheduleOptions:
        """The scheduler options of these terms, on top of ``base`` (solver, gap, time limit, ...).

        ``fleet`` (the fleet planned) is not needed: several events' target curve is NaN (no target) outside their
        windows.  It is still accepted so that callers which pass it keep working."""
        base = base or ScheduleOptions()
        changes: dict[str, Any] = {
            "site_limit_kw": self.site_limit_kw if not isinstance(self.site_limit_kw, Mapping)
            else dict(self.site_limit_kw),
            "shared_meter": self.shared_meter,
            "fleet_import_limit_kw": self.fleet_import_limit_kw,
            "fleet_export_limit_kw": self.fleet_export_limit_kw,
            "minimise_peak": self.peak_weight_per_kw,
            "wear_cost_per_kwh": self.wear_cost_per_kwh,
            "target_kw": self.target_kw,
            "over_penalty_per_kwh": self.over_penalty_per_kwh,
            "under_penalty_per_kwh": self.under_penalty_per_kwh,
            "dr_event": None,
        }
        if self.unmet_penalty_per_kwh is not None:
            changes["unmet_penalty_per_kwh"] = float(self.unmet_penalty_per_kwh)
        changes.update(self._event_changes())
        return base.with_(**changes)

    def _event_changes(self) -> dict[str, Any]:
        """The events as scheduler options: one ``down`` event as a :class:`DrEvent`; otherwise a target curve
        that binds only in the windows (NaN, no target, elsewhere), at the dearest event's shortfall price."""
        if not self.events:
            return {}
        if len(self.events) == 1 and self.events[0].direction == "down":
            ev = self.events[0]
            # the scheduler's DrEvent takes one reduction; a request that varies goes through the baseline
            top = float(ev.requested_kw.max())
            base = ev.baseline_kw.copy()
            base[ev.window] = ev.baseline_kw[ev.window] + (top - ev.requested_kw)
            return {"dr_event": DrEvent(ev.start_step, ev.stop_step, top, base, ev.shortfall_price_per_kwh)}
        n_steps = min(ev.baseline_kw.size for ev in self.events)
        price = max(ev.shortfall_price_per_kwh for ev in self.events)
        # fmin / fmax keep an event's value where the curve so far is NaN; where windows overlap the stricter wins
        target = np.full(n_steps, np.nan)
        if self.events[0].direction == "down":
            for ev in self.events:
                target[ev.window] = np.fmin(target[ev.window], ev.target_kw())
            return {"target_kw": target, "over_penalty_per_kwh": price, "under_penalty_per_kwh": 0.0}
        for ev in self.events:
            target[ev.window] = np.fmax(target[ev.window], ev.target_kw())
        return {"target_kw": target, "under_penalty_per_kwh": price, "over_penalty_per_kwh": 0.0}

    def from_step(self, t: int) -> CouplingTerms:
        """The terms of a plan that starts ``t`` steps later on the same grid: arrays cut, events shifted, events
        already over dropped."""
        if t == 0:
            return self
        site: Any = self.site_limit_kw
        if isinstance(site, Mapping):
            site = {name: _cut(value, t) for name, value in site.items()}
        events = tuple(e for e in (ev.from_step(t) for ev in self.events) if e is not None)
        return replace(
            self,
            site_limit_kw=site,
            fleet_import_limit_kw=_cut(self.fleet_import_limit_kw, t),
            fleet_export_limit_kw=_cut(self.fleet_export_limit_kw, t),
            events=events,
            target_kw=_cut(self.target_kw, t),
        )

    def for_sites(self, sites: set[str]) -> CouplingTerms:
        """The terms with site limits and shared meters kept only for ``sites`` (the scheduler refuses a site it
        does not know)."""
        out = self
        if isinstance(self.site_limit_kw, Mapping):
            kept: dict[str, Any] = {name: value for name, value in self.site_limit_kw.items() if str(name) in sites}
            out = replace(out, site_limit_kw=kept or None)
        if not isinstance(self.shared_meter, bool):
            out = replace(out, shared_meter=tuple(s for s in self.shared_meter if s in sites))
        return out
