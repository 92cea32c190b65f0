"""Running scenarios: every summary figure is recomputed here from the written files, independently of the runner.

The recomputation reads ``schedules.parquet``, ``sessions.csv``, ``scenario.yaml`` and ``metrics.json`` only, builds
each mode's N x T power matrices from the long schedule table, takes prices straight from the tariff model, and
works out each metric by its definition (docs/scenarios.md, ``vgi.scenario.metrics``) with plain pandas/numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vgi.api import run
from vgi.dr.programmes import get_programme
from vgi.errors import VgiError
from vgi.flex.envelope import adjustable_potential
from vgi.io.tariff_library import get_tariff
from vgi.model.sessions import read_sessions
from vgi.model.tariffs import ExportPrice, tariff_prices
from vgi.model.timegrid import TimeGrid
from vgi.schedule.problem import FleetOnGrid

SMALL: dict[str, Any] = {
    "extends": "guangzhou-default",
    "name": "guangzhou-small",
    "horizon": {"start": "2024-07-01", "days": 2},
    "fleet": {"generator": {"count": 120, "seed": 5}, "vehicles": 60, "v2g": {"share": 0.3}},
    "programmes": [],
    "events": [
        {"id": "evening", "day": "2024-07-02", "start": "18:00", "end": "19:00", "reduction_kw": 25,
         "price_per_kwh": 2.0, "penalty_per_kwh": 0.5, "capacity_price_per_kw": 0.1},
    ],
}


def _utc(text: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601"))


def recompute(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every metric of every mode from the written files (see the module docstring)."""
    doc = json.loads((out / "metrics.json").read_text())
    scn = yaml.safe_load((out / "scenario.yaml").read_text())
    assert len(doc["tariffs"]) == 1, "this recomputation handles one tariff"
    sessions = pd.read_csv(out / "sessions.csv")
    sched = pd.read_parquet(out / "schedules.parquet")
    step = pd.Timedelta(minutes=doc["horizon"]["step_minutes"])
    dt_h = step / pd.Timedelta(hours=1)
    start = pd.Timestamp(doc["horizon"]["start"]).tz_convert("UTC")
    end = pd.Timestamp(doc["horizon"]["simulated_until"]).tz_convert("UTC")
    horizon_end = pd.Timestamp(doc["horizon"]["end"]).tz_convert("UTC")
    index = pd.date_range(start, end, freq=step, inclusive="left")
    n_t, n_h = len(index), int((horizon_end - start) / step)
    n = len(sessions)
    row_of = {sid: i for i, sid in enumerate(sessions["session_id"].astype(str))}
    local = index.tz_convert(doc["timezone"])
    days = np.asarray(local.date)

    tariff = get_tariff(doc["tariffs"][0])
    if scn["tariffs"].get("export") is not None:
        tariff = tariff.model_copy(update={"export": ExportPrice(**scn["tariffs"]["export"])})
    cpp = [pd.Timestamp(d).date() for d in scn["tariffs"].get("critical_peak_days", [])]
    pv = tariff_prices(tariff, index, critical_peak_days=cpp)
    buy, sell = pv.import_price, pv.export_price
    frame = pd.DataFrame({"day": days, "p": buy})
    lo = frame.groupby("day")["p"].transform("min").to_numpy()
    hi = frame.groupby("day")["p"].transform("max").to_numpy()
    offpeak = buy <= lo + 1e-9
    onpeak = (buy >= hi - 1e-9) & (hi > lo + 1e-9)

    eta_c = sessions["charge_efficiency"].to_numpy(float)
    eta_d = sessions["discharge_efficiency"].to_numpy(float)
    battery = sessions["battery_kwh"].to_numpy(float)
    e_init = sessions["initial_soc"].to_numpy(float) * battery
    want = np.minimum(sessions["energy_kwh"].to_numpy(float), battery - e_init)
    arrival = _utc(sessions["arrival"])
    departure = _utc(sessions["departure"])
    # share of each step each session is plugged in
    t0 = (index.as_unit("ns").asi8 - start.value) / step.value
    a = (arrival.as_unit("ns").asi8 - start.value) / step.value
    d = (departure.as_unit("ns").asi8 - start.value) / step.value
    overlap = np.clip(np.minimum(d[:, None], t0[None, :] + 1) - np.maximum(a[:, None], t0[None, :]), 0, 1)
    dis_limit = sessions["max_discharge_kw"].to_numpy(float) * sessions["v2g"].astype(bool).to_numpy()
    # the flexibility band of aggregate.parquet (the last mode's fleet): the plugged-in cars' power limits
    agg = pd.read_parquet(out / "aggregate.parquet")
    last_v2g = list(doc["modes"])[-1].endswith("v2g")
    lower = -(dis_limit[:, None] * overlap).sum(0) if last_v2g else np.zeros(len(index))
    upper = (sessions["max_charge_kw"].to_numpy(float)[:, None] * overlap).sum(0)
    np.testing.assert_allclose(agg["band_lower_kw"], lower, atol=1e-9)
    np.testing.assert_allclose(agg["band_upper_kw"], upper, atol=1e-9)
    vehicles = scn["fleet"].get("vehicles") or sessions["vehicle_id"].nunique()
    n_days = scn["horizon"]["days"]
    wear_price = scn.get("options", {}).get("wear_cost_per_kwh", 0.0)
    share = scn.get("aggregator", {}).get("driver_share", 0.5)

    def per_ev_year(x: float) -> float:
        return x / vehicles * 365.0 / n_days

    mats = {}
    for mode, grp in sched.groupby("mode"):
        c = np.zeros((n, n_t))
        dd = np.zeros((n, n_t))
        rows = grp["session_id"].astype(str).map(row_of).to_numpy()
        cols = ((pd.DatetimeIndex(grp["timestamp"]).tz_convert("UTC") - start) / step).to_numpy().astype(int)
        c[rows, cols] = grp["charge_kw"].to_numpy()
        dd[rows, cols] = grp["discharge_kw"].to_numpy()
        mats[str(mode)] = (c, dd)
    modes = list(doc["modes"])
    for mode in modes:  # a mode with no power at all writes no rows
        mats.setdefault(mode, (np.zeros((n, n_t)), np.zeros((n, n_t))))
    p_unc = mats["uncontrolled"][0].sum(0) - mats["uncontrolled"][1].sum(0)
    events = scn.get("events", [])
    # the fleet's downward potential through each event window, from the written sessions (whole fleet)
    table = read_sessions(out / "sessions.csv")
    grid = TimeGrid(start, end, doc["horizon"]["step_minutes"], doc["timezone"])
    potential: dict[str, float] = {}
    for kind in ("v1g", "v2g"):
        fleet = FleetOnGrid.from_sessions(table, grid, kind)
        vals = []
        for ev in events:
            w0 = (pd.Timestamp(ev["day"]) + pd.Timedelta(ev["start"] + ":00")).tz_localize(doc["timezone"])
            w1 = (pd.Timestamp(ev["day"]) + pd.Timedelta(ev["end"] + ":00")).tz_localize(doc["timezone"])
            ap = adjustable_potential(fleet, (w1 - w0) / pd.Timedelta(hours=1))
            vals.append(float(ap.loc[ap["start"] == w0, "down_kw"].iloc[0]))
        potential[kind] = float(np.mean(vals)) if vals else 0.0

    out: dict[str, dict[str, Any]] = {}
    for mode in modes:
        c, dd = mats[mode]
        p = c.sum(0) - dd.sum(0)
        h = p[:n_h]
        m: dict[str, Any] = {}
        m["charge_kwh"] = c.sum() * dt_h
        m["discharge_kwh"] = m["v2g_discharge_kwh"] = dd.sum() * dt_h
        m["net_import_kwh"] = m["charge_kwh"] - m["discharge_kwh"]
        delivered = (c * eta_c[:, None] - dd / eta_d[:, None]).sum(1) * dt_h
        m["delivered_kwh"] = delivered.sum()
        unmet = np.maximum(0.0, want - delivered)
        m["unmet_kwh"] = unmet.sum()
        m["sessions_short"] = int((unmet > 1e-6).sum())
        m["peak_kw"] = p.max()
        m["peak_reduction_kw"] = p_unc.max() - p.max()
        m["peak_reduction_pct"] = 100 * m["peak_reduction_kw"] / p_unc.max()
        m["valley_kw"] = h.min()
        m["load_factor"] = h.mean() / h.max()
        daily = pd.DataFrame({"day": days[:n_h], "p": h}).groupby("day")["p"]
        ratio = (daily.mean() / daily.max())[daily.max() > 0]
        m["daily_load_factor"] = ratio.mean()
        m["peak_to_valley_ratio"] = h.max() / h.min() if h.min() > 1e-9 else None
        m["peak_valley_difference_kw"] = h.max() - h.min()
        m["peak_valley_difference_rate"] = (h.max() - h.min()) / h.max()
        m["energy_shifted_kwh"] = np.clip(p_unc - p, 0, None).sum() * dt_h
        m["offpeak_share"] = (c * offpeak).sum() / c.sum()
        m["onpeak_share"] = (c * onpeak).sum() / c.sum()
        imp = (c * buy).sum(1) * dt_h
        credit = (dd * sell).sum(1) * dt_h
        wear = wear_price * (dd / eta_d[:, None]).sum(1) * dt_h
        m["driver_import_cost"] = imp.sum()
        m["v2g_export_revenue"] = credit.sum()
        m["battery_wear_cost"] = wear.sum()
        m["driver_energy_cost"] = imp.sum() - credit.sum()
        m["driver_cost_per_ev_year"] = per_ev_year(m["driver_energy_cost"])
        m["site_charges"] = 0.0  # the Guangzhou tariff has no demand charge or subscription; its tiers do not apply
        direct = mode.startswith("direct")
        if direct:
            m["aggregator_energy_cost"] = (np.clip(p, 0, None) @ buy - np.clip(-p, 0, None) @ sell) * dt_h
        revenue = penalties = payout = 0.0
        req_total = deliv_total = short_total = 0.0
        for i, ev in enumerate(events):
            day = pd.Timestamp(ev["day"])
            w0 = (day + pd.Timedelta(ev["start"] + ":00")).tz_localize(doc["timezone"]).tz_convert("UTC")
            w1 = (day + pd.Timedelta(ev["end"] + ":00")).tz_localize(doc["timezone"]).tz_convert("UTC")
            win = (index >= w0) & (index < w1)
            hours = win.sum() * dt_h
            base_kwh = p_unc[win].sum() * dt_h
            actual = p[win].sum() * dt_h
            req_kw = ev.get("reduction_kw") or ev["reduction_share"] * base_kwh / hours
            req = req_kw * hours
            got = base_kwh - actual
            short = max(req - got, 0.0)
            if not direct:
                pay = pen = 0.0
            elif ev.get("programme") == "cn-guangdong-dr-day-ahead":
                # Guangdong's rule by hand: price capped and floored; unpaid below 50 % performance; paid up to
                # 120 % of the commitment; below R1 = 50 %: (c R1 - r) x price x 0.5
                prog = get_programme(ev["programme"])
                rule = prog.payments.energy_down
                price = min(max(ev["price_per_kwh"], rule.floor_per_kwh or 0.0), rule.cap_per_kwh or math.inf)
                perf = got / req
                paid = 0.0 if perf < prog.penalties.min_performance_paid else min(
                    max(got, 0.0), req * prog.penalties.over_delivery_paid_up_to)
                pay = paid * price
                pen = max(0.0, req * prog.penalties.under_threshold - got) * price * prog.penalties.under_factor
            else:
                assert ev.get("programme") is None
                paid = max(got, 0.0) if ev.get("pay_over_delivery") else min(max(got, 0.0), req)
                pay = paid * ev["price_per_kwh"] + ev.get("capacity_price_per_kw", 0.0) * req_kw
                pen = short * ev.get("penalty_per_kwh", 0.0)
            revenue += pay
            penalties += pen
            payout += share * max(pay - pen, 0.0)
            req_total += req
            deliv_total += got
            short_total += short
            row = {"event": ev.get("id") or f"event-{i + 1}", "mode": mode, "delivered_kwh": got,
                   "shortfall_kwh": short, "net": pay - pen}
            m.setdefault("_settlement", []).append(row)
        if events:
            m["dr_requested_kwh"] = req_total
            m["dr_delivered_kwh"] = deliv_total
            m["dr_shortfall_kwh"] = short_total
            m["aggregator_revenue"] = revenue
            m["aggregator_penalties"] = penalties
            m["driver_dr_payout"] = payout
            m["aggregator_net_revenue"] = revenue - penalties - payout
            m["flex_down_kw"] = potential["v2g" if mode.endswith("v2g") else "v1g"]
            per_ev = m["flex_down_kw"] / vehicles
            m["flex_down_kw_per_ev"] = per_ev
            for thr in scn.get("aggregator", {}).get("thresholds_kw", [100, 500, 1000]):
                m[f"evs_for_{thr:g}_kw"] = math.ceil(thr / per_ev)
        # energy scales with 365 / days; the calls' money with events_per_year / events (else counted once)
        per_year = scn.get("aggregator", {}).get("events_per_year")
        payout_year = payout * per_year / len(events) if (events and per_year is not None) else payout
        if events:
            m["driver_dr_payout_per_ev_year"] = payout_year / vehicles
        m["driver_net_cost_per_ev_year"] = per_ev_year(imp.sum() - credit.sum() + wear.sum()) - payout_year / vehicles
        out[mode] = m
    for m in out.values():
        m["driver_savings_per_ev_year"] = out["uncontrolled"]["driver_net_cost_per_ev_year"] - m[
            "driver_net_cost_per_ev_year"]
    return out, doc


def check_against_files(out: Path) -> None:
    mine, doc = recompute(out)
    settlement = pd.read_csv(out / "settlement.csv") if (out / "settlement.csv").stat().st_size > 1 else None
    for mode, reported in doc["modes"].items():
        expected = mine[mode]
        keys = set(reported) - {"label", "solve_seconds"}
        missing = sorted(keys - set(expected))
        assert not missing, f"{mode}: no recomputation for {missing}"
        for key in sorted(keys):
            got, want = reported[key], expected[key]
            if want is None or got is None:
                assert got is None and want is None, (mode, key, got, want)
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), (mode, key, got, want)
        for row in expected.get("_settlement", []):
            assert settlement is not None
            hit = settlement[(settlement["event"] == row["event"]) & (settlement["mode"] == mode)]
            assert len(hit) == 1
            for key in ("delivered_kwh", "shortfall_kwh", "net"):
                assert hit.iloc[0][key] == pytest.approx(row[key], rel=1e-6, abs=1e-6), (mode, key)


def check_same_energy(out: Path) -> None:
    """Uncontrolled and controlled runs deliver the same energy to every session that can be served."""
    doc = json.loads((out / "metrics.json").read_text())
    sessions = pd.read_csv(out / "sessions.csv")
    sched = pd.read_parquet(out / "schedules.parquet")
    eta = sessions.set_index("session_id")[["charge_efficiency", "discharge_efficiency"]]
    dt_h = doc["horizon"]["step_minutes"] / 60.0
    sched = sched.join(eta, on="session_id")
    sched["battery_kwh_gained"] = (sched["charge_kw"] * sched["charge_efficiency"]
                                   - sched["discharge_kw"] / sched["discharge_efficiency"]) * dt_h
    gained = sched.pivot_table(index="session_id", columns="mode", values="battery_kwh_gained", aggfunc="sum",
                               fill_value=0.0)
    room = sessions["battery_kwh"] * (1 - sessions["initial_soc"])
    want = np.minimum(sessions["energy_kwh"], room).to_numpy()
    until = pd.Timestamp(doc["horizon"]["simulated_until"])
    dwell_h = (_utc(sessions["departure"]) - _utc(sessions["arrival"])).total_seconds().to_numpy() / 3600.0
    can = dwell_h * sessions["max_charge_kw"].to_numpy() * sessions["charge_efficiency"].to_numpy()
    feasible = (can >= want * (1 + 1e-9)) & np.asarray(_utc(sessions["departure"]) <= until.tz_convert("UTC"))
    assert feasible.sum() > 0.8 * len(sessions)
    gained = gained.reindex(sessions["session_id"].astype(str)).fillna(0.0)
    for mode in doc["modes"]:
        got = gained[mode].to_numpy()[feasible]
        np.testing.assert_allclose(got, want[feasible], rtol=1e-6, atol=1e-6, err_msg=mode)
    # the run-out lets every mode finish the same sessions: totals agree across modes
    totals = [doc["modes"][m]["delivered_kwh"] for m in doc["modes"]]
    assert max(totals) - min(totals) < 1e-6 * max(totals)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "out"
    run(SMALL, out=out)
    return out


def test_writes_every_file(small_run: Path) -> None:
    for name in ("report.html", "metrics.json", "schedules.parquet", "schedules.csv", "aggregate.parquet",
                 "aggregate.csv", "sessions.csv", "drivers.csv", "settlement.csv", "scenario.yaml"):
        assert (small_run / name).stat().st_size > 0, name
    doc = json.loads((small_run / "metrics.json").read_text())
    assert list(doc["modes"]) == ["uncontrolled", "indirect-v1g", "indirect-v2g", "direct-v1g", "direct-v2g"]
    assert doc["currency"] == "CNY" and doc["units"]["peak_kw"] == "kW"
    csv = pd.read_csv(small_run / "schedules.csv")
    parquet = pd.read_parquet(small_run / "schedules.parquet")
    assert len(csv) == len(parquet)
    np.testing.assert_allclose(csv["charge_kw"], parquet["charge_kw"], rtol=1e-9)


def test_every_metric_agrees_with_a_recomputation(small_run: Path) -> None:
    check_against_files(small_run)


def test_uncontrolled_and_controlled_deliver_the_same_energy(small_run: Path) -> None:
    check_same_energy(small_run)


def test_aggregate_file_matches_schedules(small_run: Path) -> None:
    agg = pd.read_parquet(small_run / "aggregate.parquet")
    sched = pd.read_parquet(small_run / "schedules.parquet")
    sched["net"] = sched["charge_kw"] - sched["discharge_kw"]
    for mode, grp in sched.groupby("mode"):
        by_t = grp.groupby("timestamp")["net"].sum()
        series = agg.set_index(pd.DatetimeIndex(agg["timestamp"]).tz_convert("UTC"))[f"{mode}_kw"]
        np.testing.assert_allclose(series.reindex(by_t.index).to_numpy(), by_t.to_numpy(), atol=1e-9)
        assert series.drop(by_t.index).abs().max() < 1e-9 if len(series) > len(by_t) else True
    assert (agg["band_lower_kw"] <= agg["direct-v2g_kw"] + 1e-6).all()
    assert (agg["direct-v2g_kw"] <= agg["band_upper_kw"] + 1e-6).all()


def test_direct_modes_deliver_the_event_and_indirect_do_not_get_paid(small_run: Path) -> None:
    st = pd.read_csv(small_run / "settlement.csv").set_index("mode")
    assert st.loc["uncontrolled", "delivered_kwh"] == pytest.approx(0.0, abs=1e-9)
    for mode in ("indirect-v1g", "indirect-v2g"):
        assert not st.loc[mode, "participates"] and st.loc[mode, "net"] == 0.0
    for mode in ("direct-v1g", "direct-v2g"):
        assert st.loc[mode, "participates"]
    # V2G can cut at least as much as V1G against the same baseline
    assert st.loc["direct-v2g", "delivered_kwh"] >= st.loc["direct-v1g", "delivered_kwh"] - 1e-6


def test_site_and_feeder_limits_bind_in_direct_modes(tmp_path: Path) -> None:
    limited = {**SMALL, "name": "limited", "events": [], "grid": {"feeder_import_limit_kw": 60.0},
               "modes": ["uncontrolled", "indirect-v1g", "direct-v1g"]}
    res = run(limited)
    assert res.metrics["uncontrolled"]["peak_kw"] > 60.0
    assert res.metrics["direct-v1g"]["peak_kw"] <= 60.0 + 1e-6
    assert res.metrics["indirect-v1g"]["peak_kw"] > 60.0  # nothing couples the drivers in the indirect mode
    # a limit this tight leaves some needs unmet: reported, never hidden
    assert res.metrics["direct-v1g"]["unmet_kwh"] >= res.metrics["uncontrolled"]["unmet_kwh"] - 1e-6
    assert res.metrics["direct-v1g"]["sessions_short"] >= res.metrics["uncontrolled"]["sessions_short"]


def test_results_api(small_run: Path) -> None:
    res = run(SMALL)
    summary = res.summary()
    assert summary.loc["peak_kw", "uncontrolled"] == res.metrics["uncontrolled"]["peak_kw"]
    assert set(res.drivers["mode"]) == set(res.modes)
    assert res.out_dir is None
    paths = res.write(small_run.parent / "again")
    assert "report" not in paths and paths["metrics"].exists()


@pytest.mark.slow
def test_default_scenario_end_to_end_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vgi run` with no argument: the shipped Guangzhou scenario, checked like the small one."""
    import time

    from vgi.cli import main

    out = tmp_path / "gz"
    t0 = time.perf_counter()
    main(["run", "--out", str(out)])
    seconds = time.perf_counter() - t0
    printed = capsys.readouterr().out
    assert "guangzhou-default" in printed and "peak_kw" in printed
    check_against_files(out)
    check_same_energy(out)
    doc = json.loads((out / "metrics.json").read_text())
    el = doc["eligibility"]
    assert {r["programme"] for r in el} == {"cn-guangdong-dr-day-ahead", "cn-v2g-pilot-2024"}
    assert seconds < 120, seconds  # generous for a shared CI machine; ~25 s of CPU on 2 cores


def test_direct_modes_replanning_online_on_a_simulated_clock() -> None:
    # the same small scenario with the aggregator re-planning every hour over the cars plugged in: what the meters
    # saw costs no less than the offline plan (which knew every session), and keeps every need the offline plan kept
    small = {**SMALL, "modes": ["uncontrolled", "direct-v1g"], "events": []}
    offline = run(small)
    online = run({**small, "aggregator": {"replan_every_minutes": 60}})
    off, on = offline.runs["direct-v1g"].schedule, online.runs["direct-v1g"].schedule
    grid = online.inputs.grid
    assert on.stats["n_replans"] >= grid.n_steps * grid.step_minutes // 60  # hourly, and at each arrival
    assert on.stats["energy_cost"] >= off.stats["energy_cost"] - 1e-6
    assert float(np.sum(on.unmet_kwh)) <= float(np.sum(off.unmet_kwh)) + 1e-6
    np.testing.assert_allclose(on.delivered_kwh().sum(), off.delivered_kwh().sum(), rtol=1e-6)
    with pytest.raises(VgiError, match="not a multiple"):
        run({**small, "aggregator": {"replan_every_minutes": 20}})
