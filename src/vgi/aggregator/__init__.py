"""The aggregator core: what an aggregator decides, the same on a simulated clock and a real one.

Its input is a :class:`~vgi.aggregator.snapshot.FleetSnapshot`: the sessions plugged in (or known to come) at a
moment, the energy each has had so far, the prices ahead, and the coupling terms (site and feeder limits, a peak
weight, event targets, the price of an unmet need) as one :class:`~vgi.schedule.terms.CouplingTerms`.  Its
operations are pure functions:

* :func:`~vgi.aggregator.core.replan` — the plan from now on (per session and step, and the setpoints to send now);
* :func:`~vgi.aggregator.core.deliver_event` — a plan that delivers demand-response events against their baselines;
* :func:`~vgi.aggregator.core.settle` — what a programme pays for an event, from metered power and its baseline.

:mod:`vgi.aggregator.driver` runs them step by step on a :mod:`~vgi.aggregator.clock`: the scenario runner drives
it on a simulated clock, ``vgi serve`` on the wall clock with OCPP charge points and OpenADR events.
"""

from vgi.aggregator.clock import Clock, SimulatedClock, WallClock
from vgi.aggregator.core import Plan, deliver_event, replan, settle
from vgi.aggregator.snapshot import FleetSnapshot, battery_gain_kwh, snapshot_at
from vgi.schedule.terms import CouplingTerms, EventTarget

__all__ = [
    "Clock",
    "CouplingTerms",
    "EventTarget",
    "FleetSnapshot",
    "Plan",
    "SimulatedClock",
    "WallClock",
    "battery_gain_kwh",
    "deliver_event",
    "replan",
    "settle",
    "snapshot_at",
]
