"""Demand response and markets: programmes, baselines, eligibility, offers, dispatch, settlement and pilots.

* :mod:`vgi.dr.programmes` — programmes and market products as validated data (``src/vgi/data/programmes``);
* :mod:`vgi.dr.baselines` — baselines as pure functions on a metered history;
* :mod:`vgi.dr.capability` — the largest response a fleet can hold over a window without breaking a driver's need;
* :mod:`vgi.dr.eligibility` — whether an aggregation qualifies, and what it would take;
* :mod:`vgi.dr.offers` — day-ahead offers deliverable with a stated probability;
* dispatch (delivering an event or a dispatch curve) is the aggregator's: :mod:`vgi.aggregator.dispatch`;
* :mod:`vgi.dr.settlement` — measured response, payments, penalties, double compensation, the driver split;
* :mod:`vgi.dr.pilots` — the report's pilots recomputed from public facts.

See ``docs/demand-response.md`` and ``docs/pilots.md``.
"""
