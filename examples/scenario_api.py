"""vgi's main job from Python: run a scenario, read its figures, change it, and sweep a parameter.

    .venv/bin/python examples/scenario_api.py

Mirrors ``vgi run`` and ``vgi sweep`` (docs/scenarios.md).  Takes about a minute on two cores.
"""

from __future__ import annotations

import pandas as pd

import vgi.api as api

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 10)


def main() -> None:
    # 1. The default scenario: a Guangzhou fleet over a summer week with a Shenzhen-style evening call.
    res = api.run()  # == api.run("guangzhou-default"); nothing is written unless out= is given
    print(
        res.summary()
        .loc[
            [
                "peak_kw",
                "peak_reduction_pct",
                "offpeak_share",
                "driver_savings_per_ev_year",
                "v2g_discharge_kwh",
                "dr_delivered_kwh",
                "aggregator_net_revenue",
            ]
        ]
        .round(2)
    )
    print(res.settlement[["event", "mode", "rule", "requested_kwh", "delivered_kwh", "net"]].round(1))
    print(res.eligibility[["mode", "programme", "eligible", "size_kw", "min_kw", "vehicles_needed"]])

    # The schedules themselves: N sessions x T steps per mode, and the aggregate curve.
    direct = res.runs["direct-v1g"].schedule
    print("direct V1G: charge matrix", direct.charge_kw.shape, "peak", round(float(direct.aggregate_kw.max()), 1), "kW")

    # 2. A variant written as a mapping that extends the shipped scenario: more V2G cars, a feeder limit, and only the
    #    modes we care about.
    variant = {
        "extends": "guangzhou-default",
        "name": "guangzhou-more-v2g",
        "fleet": {"v2g": {"share": 0.2}},
        "grid": {"feeder_import_limit_kw": 400},
        "modes": ["uncontrolled", "indirect-v2g", "direct-v2g"],
    }
    res2 = api.run(variant, out="vgi-results/guangzhou-more-v2g")  # writes report.html, metrics.json, ...
    print(
        res2.summary()
        .loc[["peak_kw", "v2g_discharge_kwh", "v2g_export_revenue", "battery_wear_cost", "driver_savings_per_ev_year"]]
        .round(1)
    )
    print("report:", res2.out_dir / "report.html")

    # 3. A sweep: the default scenario's price-responsive modes at three Chinese regional tariffs (table 3-3), run in
    #    parallel processes; run it again and it resumes (every point is already on disk).
    sweep = api.sweep(
        "guangzhou-default",
        {"tariffs.default": ["cn-guangzhou-residential-ev", "cn-shanghai-residential-ev", "cn-sichuan-residential-ev"]},
        overrides={"modes": ["uncontrolled", "indirect-v1g", "indirect-v2g"]},
        out="vgi-results/example-sweep",
        workers=2,
    )
    rows = sweep.rows[sweep.rows["mode"] == "indirect-v1g"]
    print(rows[["tariffs.default", "price_spread", "driver_savings_per_ev_year", "peak_reduction_pct"]].round(3))


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
