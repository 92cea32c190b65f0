"""The report's pilots recomputed from public facts: figures, inputs with sources, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from vgi.dr import pilots as P
from vgi.errors import VgiError


def check_common(r: P.PilotResult) -> None:
    assert np.isfinite(r.ours) and r.ours >= 0
    assert r.reported > 0 and r.reported_source
    assert r.inputs and all(v for v in r.inputs.values())
    assert len(r.explanation) > 100


def test_shenzhen() -> None:
    r = P.shenzhen_2024()
    check_common(r)
    d = r.details
    # managed cars cannot reduce more than they were drawing; the parts add up at most to the whole
    assert d["v1g_capability_kw"] <= d["v1g_reference_kw"] + 1e-6
    assert r.ours >= d["v1g_capability_kw"] + d["v2g_capability_kw"] - 1e-6
    assert 0.5 < r.ratio < 2.0  # same order as the 4,389 kWh reported (not fitted to it)


def test_octopus_by_hand() -> None:
    flex, iog = P.octopus_power_pack()
    check_common(flex)
    check_common(iog)
    # 333 kWh x 12 = 3,996 kWh; x 22.36 p = GBP 893.51; x 7.0 p = GBP 279.72
    assert flex.ours == pytest.approx(3996 * 0.2236, rel=1e-6)
    assert iog.ours == pytest.approx(3996 * 0.07, rel=1e-6)
    # typical driver: 7,000 miles / 4 miles per kWh = 1,750 kWh -> GBP 391.30 and GBP 122.50
    assert flex.details["typical_driver_saving"] == pytest.approx(1750 * 0.2236, rel=1e-6)
    assert iog.details["typical_driver_saving"] == pytest.approx(1750 * 0.07, rel=1e-6)
    assert flex.details["implied_kwh"] == pytest.approx(880 / 0.2236)


def test_oakland_within_physical_bounds() -> None:
    r = P.oakland_school_buses()
    check_common(r)
    # at most 2.7 MW for the 5 peak hours every day of the year: 4.93 GWh
    assert r.ours <= 2.7 * 5 * 365 / 1000 + 1e-9
    assert r.details["idle_day_max_export_kw"] <= 2700 + 1e-6
    assert r.details["school_day_export_kwh"] > 0 and r.details["idle_day_export_kwh"] > 0


def test_bmw_within_physical_bounds() -> None:
    r = P.bmw_chargeforward_1(n_days=6)
    check_common(r)
    assert 0 < r.details["mean_event_kw"] <= 100 * 7.4
    assert r.ours == pytest.approx(r.details["mean_event_kw"] * 209)


def test_octopus_scarcity_reserve_by_hand() -> None:
    event, cost = P.octopus_scarcity_reserve()
    check_common(event)
    check_common(cost)
    participants = 105300 * 0.33  # 34,749 households took part
    assert event.details["all_fixed_mwh"] == pytest.approx(participants * 0.46 / 1000)  # 15.98 MWh
    assert event.details["all_smart_mwh"] == pytest.approx(participants * 0.79 / 1000)  # 27.45 MWh
    assert event.ours == pytest.approx(participants * (0.79 + 0.46) / 2 / 1000)
    assert event.reported == 12.3
    assert event.details["implied_kwh_per_participant"] == pytest.approx(12300 / participants)  # 0.354 kWh
    assert cost.details["events"] == pytest.approx(197 / 12.3)  # 16 one-hour events
    assert cost.details["trial_cost_gbp"] == pytest.approx(197 * 227)
    assert cost.reported == 227 and cost.ours == pytest.approx(306)  # uk-dfs, 2024/25 average
    only_smart, _ = P.octopus_scarcity_reserve(smart_share=1.0)
    assert only_smart.ours == pytest.approx(event.details["all_smart_mwh"])
    with pytest.raises(P.VgiError, match="smart_share"):
        P.octopus_scarcity_reserve(smart_share=1.5)


def test_peak_energy_shift_hand_case() -> None:
    # A: home at 17:00 for 14 h, 7 kWh at 7 kW: uncontrolled 17-18 (7 kWh in the peak), 10 off-peak hours -> 0 stuck
    # B: in at 16:00 for 3 h, 7 kWh at 7 kW: uncontrolled 16-17 (7 kWh in the peak), no off-peak minute -> 7 stuck
    # C: in at 20:30 for 10 h, 14 kWh at 7 kW: 20:30-21:00 in the peak (3.5 kWh), 9.5 off-peak hours -> 0 stuck
    peak_kwh, stuck = P.peak_energy_shift(np.array([17 * 60, 16 * 60, 20 * 60 + 30]), np.array([840, 180, 600]),
                                          np.array([7.0, 7.0, 14.0]), np.array([7.0, 7.0, 7.0]))
    assert peak_kwh == pytest.approx(7 + 7 + 3.5)
    assert stuck == pytest.approx(7.0)
    # a stay wrapping midnight into the next day's peak: in at 15:00 for 26 h, 1 kWh at 2 kW -> 15:00-15:30, none
    peak_kwh, stuck = P.peak_energy_shift(np.array([15 * 60]), np.array([26 * 60]), np.array([1.0]), np.array([2.0]))
    assert peak_kwh == 0.0 and stuck == 0.0


def test_bmw_chargeforward_2_share_is_a_share() -> None:
    r = P.bmw_chargeforward_2(n_cars=50, n_days=4)
    check_common(r)
    d = r.details
    assert 0 <= d["unavoidable_peak_kwh"] <= d["uncontrolled_peak_kwh"]
    assert r.ours == pytest.approx(1 - d["unavoidable_peak_kwh"] / d["uncontrolled_peak_kwh"])
    assert r.reported == 0.83 and 0.3 < r.ours <= 1.0


def test_shanghai_futebei_from_the_vehicle_table() -> None:
    r = P.shanghai_futebei_v2g()
    check_common(r)
    # 600 kW / 5 chargers = 120 kW each; the best V2G car of vehicles.csv (VW ID.4) discharges 10 kW: 5 x 10 = 50
    assert r.details["rating_per_charger_kw"] == pytest.approx(120)
    assert r.details["best_car_kw"] == pytest.approx(10) and r.ours == pytest.approx(50)
    assert r.details["best_bus_kw"] == pytest.approx(80)


def test_new_pilots_report_the_reference_facts() -> None:
    import csv
    from pathlib import Path

    facts_file = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pilot_facts.csv"
    if not facts_file.is_file():
        pytest.skip("../shared/reference/pilot_facts.csv not available")
    rows = [ln for ln in facts_file.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    facts = {r["id"]: r["value"] for r in csv.DictReader(rows)}
    event, cost = P.octopus_scarcity_reserve()
    assert event.reported == float(facts["octo_dsr_event_mw"])
    assert cost.reported == float(facts["octo_dsr_cost"])
    assert P.shanghai_futebei_v2g().reported == float(facts["shanghai_futebeilu_v2g"])
    assert P.bmw_chargeforward_2(n_cars=10, n_days=2).reported == float(facts["bmw_cf2_peak_cut"])
    assert P.bmw_chargeforward_2_user_value().reported == float(facts["bmw_cf2_user_value"])


def test_bmw_chargeforward_2_user_value_by_hand() -> None:
    r = P.bmw_chargeforward_2_user_value()
    check_common(r)
    # (USD 300 + 900) over 24 months = USD 600 a year at most; 150 a year for joining alone
    assert r.ours == pytest.approx(600.0) and r.details["enrolment_only_per_year"] == pytest.approx(150.0)
    # 325 a year over 2 years = 650 = 300 + 350 of the 900 for responses: 38.9 %
    assert r.details["implied_response_share"] == pytest.approx(350 / 900)
    assert r.details["enrolment_only_per_year"] < r.reported < r.ours
    assert "USD 70" in r.explanation and "1,200 kWh" in r.explanation
    assert P.bmw_chargeforward_2_user_value(months=12).ours == pytest.approx(1200.0)
    with pytest.raises(VgiError, match="months must be positive"):
        P.bmw_chargeforward_2_user_value(months=0)


def test_surplus_charging_shift_hand_case() -> None:
    # Two days, 10 kWh a day at 7 kW.  Surplus: day 0 at 10-11 h and 19 h, day 1 at 02 h (inside day 0's home
    # window 18:00-07:00).  Day 0 is a workday, day 1 is not.
    surplus = np.zeros((2, 24), dtype=bool)
    surplus[0, [10, 11, 19]] = True
    surplus[1, 2] = True
    s = P.surplus_charging_shift(surplus, np.array([True, False]), 10.0, 7.0)
    # uncontrolled: 7 kWh at 18 h, 3 kWh at 19 h (surplus), nothing at 02 h -> 3 kWh; day 1 has no surplus at home
    assert s["uncontrolled"] == pytest.approx(3.0)
    # smart: day 0 has 2 work hours + 2 home hours of surplus (28 kWh of room) -> all 10 kWh; day 1 none
    assert s["smart_work"] == pytest.approx(10.0)
    assert s["smart_home"] == pytest.approx(10.0)  # 19 h and 02 h give 14 kWh of room at home
    with pytest.raises(VgiError, match="days x 24"):
        P.surplus_charging_shift(np.zeros((2, 23), dtype=bool), np.array([True, False]), 10.0, 7.0)


def test_local_hour_table_fills_dst_days() -> None:
    import pandas as pd

    idx = pd.date_range("2024-03-09 08:00", "2024-03-12 07:00", freq="h", tz="UTC", inclusive="left")  # spring
    table = P.local_hour_table(pd.Series(np.arange(len(idx), dtype=float), index=idx), "America/Los_Angeles")
    assert table.shape == (3, 24) and not table.isna().any().any()
    spring = table.loc[pd.Timestamp("2024-03-10").date()]
    assert spring[2] == spring[1]  # 02:00 does not exist on 10 March: the hour before stands in
    idx = pd.date_range("2024-11-03 07:00", "2024-11-04 07:00", freq="h", tz="UTC", inclusive="left")
    table = P.local_hour_table(pd.Series(np.arange(len(idx), dtype=float), index=idx), "America/Los_Angeles")
    assert table.loc[pd.Timestamp("2024-11-03").date(), 1] == pytest.approx(1.5)  # 01:00 twice (values 1, 2)


def test_bmw_chargeforward_2_green_by_hand() -> None:
    over, solar = P.bmw_chargeforward_2_green()
    check_common(over)
    check_common(solar)
    assert over.reported == solar.reported == 1200
    # 2024 has 366 days, 262 of them weekdays; 3,600 kWh a year = 9.836 kWh a day.  The solar hours 10-16 give
    # 6 x 7.4 = 44.4 kWh of room: a workplace car moves every weekday's charge (262 x 9.836 = 2,577 kWh), a
    # home-only car nothing (no solar hour between 18:00 and 07:00); half the cars at work: 1,288.5 kWh
    assert solar.details["workdays"] == 262 and solar.details["days"] == 366
    assert solar.details["solar_smart_work"] == pytest.approx(3600 * 262 / 366)
    assert solar.details["solar_smart_home"] == 0 and solar.details["solar_uncontrolled"] == 0
    assert solar.ours == pytest.approx(3600 * 262 / 366 / 2)
    # oversupply hours: the same average of the two kinds of car, bounded by the solar reading
    d = over.details
    assert over.ours == pytest.approx(0.5 * (d["oversupply_smart_work"] - d["oversupply_uncontrolled"])
                                      + 0.5 * (d["oversupply_smart_home"] - d["oversupply_uncontrolled"]))
    assert 0 < over.ours < solar.ours
    assert d["oversupply_smart_work"] <= d["oversupply_workdays"] * 3600 / 366 + 1e-6
    with pytest.raises(VgiError, match="workplace_share"):
        P.bmw_chargeforward_2_green(workplace_share=2.0)


def test_bmw_chargeforward_2_deferral_by_hand() -> None:
    r = P.bmw_chargeforward_2_deferral(n_cars=50, n_days=4)
    check_common(r)
    base = P.bmw_chargeforward_2(n_cars=50, n_days=4).details
    # avoided kW = energy moved out of the 5-hour peak / (car-days x 5 h); x USD 57.03 per kW-year
    avoided = (base["uncontrolled_peak_kwh"] - base["unavoidable_peak_kwh"]) / (base["sessions"] * 5)
    assert r.details["avoided_kw_per_site"] == pytest.approx(avoided)
    assert r.ours == pytest.approx(avoided * 57.03)
    assert r.reported == 70
    assert P.bmw_chargeforward_2_deferral(n_cars=50, n_days=4, usd_per_kw_year=114.06).ours == pytest.approx(
        2 * r.ours)


def test_shanghai_vpp_by_hand() -> None:
    r = P.shanghai_vpp_2024()
    check_common(r)
    # 10,014.56 万 kWh = 100,145,600 kWh over 354 days x 24 h = 11,787 kW; / 641,000 kW = 1.84 %
    assert r.ours == pytest.approx(100_145_600 / (354 * 24))
    assert r.ratio == pytest.approx(100_145_600 / (354 * 24) / 641_000)
    with pytest.raises(VgiError, match="days must be positive"):
        P.shanghai_vpp_2024(days=0)


def test_baoding_capability_by_hand() -> None:
    b = P.baoding_v2g_capability()
    # 42 chargers x 10 kW (VW ID.4, the best V2G car of vehicles.csv) = 420 kW, under the pilot rule's 500 kW;
    # 100,000 kWh a year / 420 kW = 238 full-power hours
    assert b["site_kw"] == pytest.approx(420) and b["pilot_min_kw"] == 500
    assert b["full_power_hours_for_min_kwh"] == pytest.approx(100000 / 420)
    with pytest.raises(VgiError, match="n_chargers"):
        P.baoding_v2g_capability(0)


def test_bmw_cf2_green_and_deferral_report_the_reference_facts() -> None:
    import csv
    from pathlib import Path

    facts_file = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pilot_facts.csv"
    if not facts_file.is_file():
        pytest.skip("../shared/reference/pilot_facts.csv not available")
    rows = [ln for ln in facts_file.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    facts = {r["id"]: r["value"] for r in csv.DictReader(rows)}
    assert P.bmw_chargeforward_2_green()[0].reported == float(facts["bmw_cf2_green"])
    assert P.bmw_chargeforward_2_deferral(n_cars=10, n_days=2).reported == float(facts["bmw_cf2_deferral"])


def test_caiso_year_series_matches_shared_data() -> None:
    """The shipped 2024 NP15 year is the shared green-dcc file, converted to local time (read only in tests)."""
    from pathlib import Path

    import pandas as pd

    from vgi.io.files import series_path
    from vgi.io.series import read_timestamped_csv

    raw = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "prices"
           / "multi_market_hourly_2020-2024_via_green-dcc" / "US-CAL-CISO"
           / "US-CAL-CISO_electricity_prices_2024.csv")
    if not raw.is_file():
        pytest.skip("../shared/data CAISO prices not available")
    shipped, _ = read_timestamped_csv(series_path("us-caiso-np15-day-ahead-2024"))
    up = pd.read_csv(raw)
    up.index = pd.DatetimeIndex(pd.to_datetime(up.iloc[:, 0])).tz_localize("UTC")
    up_values = up.iloc[:, 1].reindex(shipped.index)
    assert len(shipped) == 8784 and not up_values.isna().any()
    assert np.allclose(shipped.to_numpy(), up_values.to_numpy(), atol=6e-4)
