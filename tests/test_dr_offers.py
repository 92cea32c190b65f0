"""Day-ahead offers worked out by hand on identical days, and the product's rules (size, duration, gate closure)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from vgi.dr.offers import build_offer, gate_closure, scenario_sessions
from vgi.dr.programmes import ClockWindow, Programme, get_programme
from vgi.model.sessions import SessionTable, sessions_from_frame

TZ = "Asia/Shanghai"
DAYS = [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7, 10, 11, 12)]  # weekdays before and after a weekend


def history(counts: dict[dt.date, int] | None = None) -> SessionTable:
    """``counts[d]`` identical sessions a day: plug in 18:00, leave 23:00, 7 kW, need 14 kWh (V1G, efficiency 1).
    Uncontrolled, each charges 7 kW 18:00-20:00."""
    rows = []
    for d in DAYS:
        for i in range((counts or {}).get(d, 3)):
            rows.append({
                "session_id": f"{d}-{i}",
                "arrival": f"{d}T18:00:00+08:00", "departure": f"{d}T23:00:00+08:00",
                "energy_kwh": 14.0, "battery_kwh": 60.0, "initial_soc": 0.3, "max_charge_kw": 7.0,
                "charge_efficiency": 1.0, "discharge_efficiency": 1.0,
            })
    return sessions_from_frame(pd.DataFrame(rows))


def product(**changes: object) -> Programme:
    base = get_programme("cn-guangdong-dr-day-ahead")
    timing = base.timing.model_copy(update={"call_windows": (), **changes.pop("timing", {})})  # type: ignore[arg-type]
    size = base.size.model_copy(update={"min_kw": 0.0, **changes.pop("size", {})})  # type: ignore[arg-type]
    return base.model_copy(update={"direction": "down", "timing": timing, "size": size, **changes})


def by_label(offer: object) -> pd.DataFrame:
    return offer.hours.set_index("label")  # type: ignore[attr-defined]


def test_offer_on_identical_days_by_hand() -> None:
    # three sessions each scenario; 18:00 and 19:00: all three defer their 7 kW to 20:00-23:00 -> 21 kW down;
    # other hours: nothing charging uncontrolled -> nothing to reduce
    offer = build_offer(history(), product(), "2024-06-13", probability=0.9, n_scenarios=5)
    h = by_label(offer)
    assert len(h) == 24
    assert h.loc["18:00", "quantity_kw"] == pytest.approx(21.0, abs=1e-6)
    assert h.loc["19:00", "quantity_kw"] == pytest.approx(21.0, abs=1e-6)
    assert h.loc["20:00", "quantity_kw"] == 0.0 and h.loc["20:00", "status"] == "nothing deliverable"
    assert h.loc["18:00", "achieved_probability"] == 1.0
    assert offer.gate_closure == pd.Timestamp("2024-06-12 10:00", tz=TZ)


def test_min_duration_lengthens_the_window() -> None:
    # 2 h: 18:00-20:00 both deferred into 20:00-23:00 (3 h x 7 kW = 21 >= 14 kWh) -> 21 kW
    two = build_offer(history(), product(timing={"min_duration_minutes": 120}), "2024-06-13", n_scenarios=3)
    assert by_label(two).loc["18:00", "quantity_kw"] == pytest.approx(21.0, abs=1e-6)
    # 4 h from 18:00: the reference is 0 in 20:00-22:00, so no constant reduction can be held
    four = build_offer(history(), product(timing={"min_duration_minutes": 240}), "2024-06-13", n_scenarios=3)
    assert by_label(four).loc["18:00", "quantity_kw"] == 0.0


def test_size_rules_min_max_and_increment() -> None:
    small = build_offer(history(), product(size={"min_kw": 25.0}), "2024-06-13", n_scenarios=3)
    assert by_label(small).loc["18:00", "status"] == "below minimum size"
    assert by_label(small).loc["18:00", "quantity_kw"] == 0.0
    capped = build_offer(history(), product(size={"max_kw": 12.0, "increment_kw": 5.0}), "2024-06-13",
                         n_scenarios=3)
    row = by_label(capped).loc["18:00"]
    # 21 kW capped at 12, rounded down to the 5 kW increment -> 10 kW
    assert row["quantity_kw"] == pytest.approx(10.0) and row["status"] == "capped at maximum size"
    assert row["capability_kw"] == pytest.approx(21.0, abs=1e-6)


def test_gate_closure() -> None:
    prog = product()
    assert gate_closure(prog, dt.date(2024, 6, 13)) == pd.Timestamp("2024-06-12 10:00", tz=TZ)
    late = build_offer(history(), prog, "2024-06-13", n_scenarios=3, now=pd.Timestamp("2024-06-12 11:00", tz=TZ))
    assert (late.hours["status"] == "after gate closure").all()
    assert (late.hours["quantity_kw"] == 0).all()
    # per-hour gate (GB BM: 60 min before delivery)
    bm = get_programme("uk-bm").model_copy(update={"timezone": TZ, "size": get_programme("uk-bm").size.model_copy(
        update={"min_kw": 0.0})})
    now = pd.Timestamp("2024-06-13 17:30", tz=TZ)
    off = build_offer(history(), bm, "2024-06-13", n_scenarios=3, now=now)
    h = off.hours[off.hours["direction"] == "down"].set_index("label")
    assert h.loc["18:00", "status"] == "after gate closure"  # its gate closed at 17:00
    assert h.loc["19:00", "quantity_kw"] == pytest.approx(21.0, abs=1e-6)


def test_only_sessions_known_before_gate_closure_are_used() -> None:
    # an offer for Jun 12 closes on Jun 11 at 10:00: the 30 sessions a day of Jun 11 and Jun 12 in the data are
    # not known then; the scenarios draw from Jun 3-10 (3 a day) -> 21 kW
    counts = {d: 3 for d in DAYS}
    counts[dt.date(2024, 6, 11)] = 30
    counts[dt.date(2024, 6, 12)] = 30
    offer = build_offer(history(counts), product(), "2024-06-12", n_scenarios=10)
    assert by_label(offer).loc["18:00", "quantity_kw"] == pytest.approx(21.0, abs=1e-6)
    assert any("after gate closure not used" in n for n in offer.notes)


def test_probability_over_varying_days() -> None:
    # weekdays with 1..8 sessions: a scenario's 18:00 capability is 7 kW x its day's count
    counts = {d: i + 1 for i, d in enumerate(DAYS)}
    one_hour = product(timing={"call_windows": (ClockWindow(start="18:00", end="19:00"),)})
    offer = build_offer(history(counts), one_hour, "2024-06-13", probability=0.9, n_scenarios=100, seed=4)
    row = by_label(offer).loc["18:00"]
    assert row["achieved_probability"] >= 0.9
    assert row["quantity_kw"] / 7.0 == pytest.approx(round(row["quantity_kw"] / 7.0), abs=1e-6)
    loose = build_offer(history(counts), one_hour, "2024-06-13", probability=0.5, n_scenarios=100, seed=4)
    assert by_label(loose).loc["18:00", "quantity_kw"] > row["quantity_kw"]


def test_scenarios_keep_each_days_count_and_type() -> None:
    scen, src, _ = scenario_sessions(history(), dt.date(2024, 6, 13), TZ, 6, seed=1)
    assert all(len(s) in (3, 6) for s in scen)  # the day's 3 and, where present, the evening before's 3
    assert all(d.weekday() < 5 for d in src)
    local = scen[0].arrival.tz_convert(TZ)
    assert {t.date() for t in local} <= {dt.date(2024, 6, 12), dt.date(2024, 6, 13)}


def test_prices() -> None:
    fixed = get_programme("cn-hainan-dr-contracted").model_copy(update={
        "size": get_programme("cn-hainan-dr-contracted").size.model_copy(update={"min_kw": 0.0})})
    off = build_offer(history(), fixed, "2024-06-13", n_scenarios=3)
    assert (off.hours["price_per_kwh"] == 1.0).all()
    margin = build_offer(history(), product(), "2024-06-13", n_scenarios=3, margin_per_kwh=0.3)
    assert by_label(margin).loc["18:00", "price_per_kwh"] == pytest.approx(0.3)
    capped = build_offer(history(), product(), "2024-06-13", n_scenarios=3, margin_per_kwh=5.0)
    assert by_label(capped).loc["18:00", "price_per_kwh"] == pytest.approx(2.25)  # Guangdong's cap


def test_call_windows_limit_the_offered_hours() -> None:
    prog = product(timing={"call_windows": (ClockWindow(start="18:00", end="20:00"),)})
    off = build_offer(history(), prog, "2024-06-13", n_scenarios=3)
    assert list(off.hours["label"]) == ["18:00", "19:00"]
    assert np.allclose(off.hours["quantity_kw"], 21.0)


def test_offer_draws_no_holiday_for_a_working_day() -> None:
    """Mon 10 June 2024 is the Dragon Boat Festival, a public holiday in China: by default (the programme's country
    calendar) it is not a working day, so an offer for Thu 13 June draws only from Jun 3-7 and 11 (12 June is only
    partly known at gate closure, 10:00 on the 12th), each with 3 sessions: every scenario has 3 x 7 = 21 kW at
    18:00, mean 21 kW.  Give the holiday 30 sessions: drawn as a working day, it would lift the mean above 21."""
    counts = {d: 3 for d in DAYS}
    counts[dt.date(2024, 6, 10)] = 30
    offer = build_offer(history(counts), product(), "2024-06-13", n_scenarios=60, seed=2)
    drawn = next(n for n in offer.notes if n.startswith("scenario days drawn from"))
    assert "2024-06-10" not in drawn and "2024-06-11" in drawn
    assert by_label(offer).loc["18:00", "mean_kw"] == pytest.approx(21.0, abs=1e-6)
    # told there are no holidays, the same call draws the holiday too
    loose = build_offer(history(counts), product(), "2024-06-13", n_scenarios=60, seed=2, holidays=frozenset())
    assert by_label(loose).loc["18:00", "mean_kw"] > 21.0 + 1.0
