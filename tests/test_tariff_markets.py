"""Tariffs of the report's other markets: Germany's §14a EnWG time-variable grid fee (Module 3) on a dynamic
tariff with fixed fees and its alternative, Module 2 on a separately metered wallbox, OVO's Australian EV plan
(table 2-3) and OVO Charge Anytime in Great Britain (two versions).  Bills are checked against the sources' numbers
worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff, tariff_for_period
from vgi.settle.bills import bill

DE = "de-dynamic-14a-module3-2025"
DE_M2 = "de-dynamic-14a-module2-2025"


def day(date: str, tz: str, kw: float | dict[int, float]) -> pd.Series:
    idx = pd.date_range(date, periods=24, freq="1h", tz=tz)
    values = [kw.get(t.hour, 0.0) for t in idx] if isinstance(kw, dict) else [kw] * 24
    return pd.Series(values, index=idx)


def test_module3_stages_follow_ew_wanfried_2025_fees() -> None:
    t = get_tariff(DE)
    f = t.dynamic
    assert f is not None
    # net ct/kWh: Stromsteuer 2.050 + KWKG 0.277 + Offshore 0.816 + §19 1.558 + KA 1.32 + grid ST 8.62
    assert f.adder == pytest.approx((2.050 + 0.277 + 0.816 + 1.558 + 1.32 + 8.62) / 100)
    # NT 3.45 and HT 10.84 as adders on ST 8.62
    assert list(f.window_adder_values) == pytest.approx([(3.45 - 8.62) / 100, (10.84 - 8.62) / 100])
    # Module 1: EUR 131.88 net a year, per month with 19 % VAT
    credit = next(c for c in t.fixed_charges if "Module 1" in c.name)
    assert credit.amount == pytest.approx(-131.88 / 12 * 1.19, abs=1e-4)


def test_module3_october_day_bill_by_hand() -> None:
    t = get_tariff(DE)
    load = day("2025-10-06", "Europe/Berlin", 1.0)
    spot = pd.Series(100.0, index=load.index)  # EUR/MWh
    b = bill(load, t, spot=spot)
    st = (0.100 + 0.14641) * 1.19
    nt = (0.100 + 0.14641 - 0.0517) * 1.19  # 01:00-04:00 in Q4
    ht = (0.100 + 0.14641 + 0.0222) * 1.19  # 17:00-19:00 in Q4
    assert b.amount("energy") == pytest.approx(19 * st + 3 * nt + 2 * ht)
    assert b.amount("fixed") == pytest.approx((3.99 - 13.0781) / 31)  # one day of October
    # July (Q3): every hour at the standard stage
    july = bill(day("2025-07-07", "Europe/Berlin", 1.0), t, spot=pd.Series(100.0, index=day(
        "2025-07-07", "Europe/Berlin", 1.0).index))
    assert july.amount("energy") == pytest.approx(24 * st)


def test_module3_tariff_is_bounded_to_2025_from_april() -> None:
    t = get_tariff(DE)
    with pytest.raises(VgiError, match=r"2025-04-01 to 2025-12-31; the period to bill runs 2025-03-31"):
        bill(day("2025-03-31", "Europe/Berlin", 1.0), t, spot=[100.0] * 24)
    with pytest.raises(VgiError, match="the period to bill runs 2026-01-01"):
        bill(day("2026-01-01", "Europe/Berlin", 1.0), t, spot=[100.0] * 24)


def test_module2_is_40_percent_of_the_standard_grid_price_all_year() -> None:
    t = get_tariff(DE_M2)
    f = t.dynamic
    assert f is not None and not f.window_adders
    # net ct/kWh: the same levies as Module 3 (2.050 + 0.277 + 0.816 + 1.558 + KA 1.32 = 6.021) and 40 % of ST 8.62
    assert f.adder == pytest.approx((2.050 + 0.277 + 0.816 + 1.558 + 1.32 + 0.4 * 8.62) / 100)
    assert f.vat == pytest.approx(0.19)
    # no Module 1 credit (Modules 1 and 2 exclude each other), no grid Grundpreis: only the supplier's fee
    assert [(c.amount, c.per) for c in t.fixed_charges] == [(3.99, "month")]
    assert "NOT FOUND" in t.verification_detail["meter fee"]
    with pytest.raises(VgiError, match="the period to bill runs 2024-12-31"):
        bill(day("2024-12-31", "Europe/Berlin", 1.0), t, spot=[100.0] * 24)
    with pytest.raises(VgiError, match="the period to bill runs 2026-01-01"):
        bill(day("2026-01-01", "Europe/Berlin", 1.0), t, spot=[100.0] * 24)


def test_module2_against_modules_1_and_3_on_an_october_day_by_hand() -> None:
    # Wed 15 October 2025 (Q4: Module 3 has NT 01-04 and HT 17-19), an 11 kW wallbox charging one hour at 02:00
    # (NT), one at 13:00 (ST) and one at 17:00 (HT), spot 60, -5 and 150 EUR/MWh in those hours (80 elsewhere,
    # where the wallbox is idle).  Prices (EUR/kWh) = (spot / 1000 + net adders) x 1.19, 11 kWh each hour.
    #   Module 2, adder 0.09469 at every hour:
    #     02:00 (0.060 + 0.09469) x 1.19 = 0.1840811 -> 2.0248921
    #     13:00 (-0.005 + 0.09469) x 1.19 = 0.1067311 -> 1.1740421
    #     17:00 (0.150 + 0.09469) x 1.19 = 0.2911811 -> 3.2029921      energy 6.4019263 EUR
    #   Modules 1 + 3, adder 0.14641 with NT -0.0517 and HT +0.0222:
    #     02:00 (0.060 + 0.14641 - 0.0517) x 1.19 = 0.1841049 -> 2.0251539
    #     13:00 (-0.005 + 0.14641) x 1.19 = 0.1682779 -> 1.8510569
    #     17:00 (0.150 + 0.14641 + 0.0222) x 1.19 = 0.3791459 -> 4.1706049     energy 8.0468157 EUR
    #   Difference 1.6448894 = 11 x 1.19 x (NT 3.45 - 3.448 + ST 8.62 - 3.448 + HT 10.84 - 3.448) / 100: in the
    #   Module 3 low stage the two grid prices are all but equal (3.45 against 3.448 ct/kWh).
    #   Fixed, one day of October's 31: Module 2 3.99 / 31 = 0.1287097; Modules 1 + 3 (3.99 - 13.0781) / 31 =
    #   -0.2931645 (the Module 1 credit, which Module 2 gives up).
    load = day("2025-10-15", "Europe/Berlin", {2: 11.0, 13: 11.0, 17: 11.0})
    spot = pd.Series([{2: 60.0, 13: -5.0, 17: 150.0}.get(t.hour, 80.0) for t in load.index], index=load.index)
    m2 = bill(load, get_tariff(DE_M2), spot=spot)
    m3 = bill(load, get_tariff(DE), spot=spot)
    assert m2.amount("energy") == pytest.approx(6.4019263)
    assert m3.amount("energy") == pytest.approx(8.0468157)
    assert m3.amount("energy") - m2.amount("energy") == pytest.approx(1.6448894)
    assert m2.amount("fixed") == pytest.approx(0.1287097, abs=1e-7)
    assert m3.amount("fixed") == pytest.approx(-0.2931645, abs=1e-7)
    assert m2.total == pytest.approx(6.4019263 + 0.1287097, abs=1e-6)


def test_ovo_australia_ev_plan_day() -> None:
    t = get_tariff("au-ovo-the-ev-plan")
    assert not t.hours_verified and t.verification == "unverified"
    # 1 kW all day: 6 h x 0.08 + 3 h x 0 + 5 h x 0.58 + 10 h x 0.24 = 5.78 AUD
    assert bill(day("2024-06-03", "Australia/Melbourne", 1.0), t).total == pytest.approx(5.78)
    # V2G export 2 kW 17:00-19:00 at the 5 c feed-in: credit 4 kWh x 0.05
    b = bill(day("2024-06-03", "Australia/Melbourne", {17: -2.0, 18: -2.0}), t)
    assert b.amount("export") == pytest.approx(-0.20)


def test_ovo_charge_anytime_versions() -> None:
    tid = "uk-ovo-charge-anytime"
    london = "Europe/London"
    before = tariff_for_period(tid, pd.Timestamp("2025-11-03", tz=london), pd.Timestamp("2025-11-04", tz=london))
    after = tariff_for_period(tid, pd.Timestamp("2025-11-04", tz=london), pd.Timestamp("2025-11-05", tz=london))
    # 7 kWh smart-charged overnight: 7 x 0.07 before 4 November 2025, 7 x 0.14 from it
    assert bill(day("2025-11-03", london, {1: 3.5, 2: 3.5}), before).total == pytest.approx(0.49)
    assert bill(day("2025-11-04", london, {1: 3.5, 2: 3.5}), after).total == pytest.approx(0.98)
    with pytest.raises(VgiError, match="spans 2 versions of tariff 'uk-ovo-charge-anytime'"):
        tariff_for_period(tid, pd.Timestamp("2025-11-03", tz=london), pd.Timestamp("2025-11-05", tz=london))


def test_red_energy_ev_saver_free_only_at_weekend_midday() -> None:
    t = get_tariff("au-red-energy-ev-saver")
    assert not t.hours_verified and t.verification == "unverified"
    assert "assumption" in t.verification_detail["other hours"]
    mel = "Australia/Melbourne"
    # Saturday 1 June 2024, 1 kW all day: 12:00-14:00 free, 22 h x 0.24 = 5.28 AUD
    assert bill(day("2024-06-01", mel, 1.0), t).total == pytest.approx(22 * 0.24)
    # Monday 3 June 2024: no free hours, 24 h x 0.24 = 5.76 AUD
    assert bill(day("2024-06-03", mel, 1.0), t).total == pytest.approx(24 * 0.24)
    # 7 kW only 12:00-14:00 on the Sunday: nothing to pay; the same on the Monday: 14 kWh x 0.24
    assert bill(day("2024-06-02", mel, {12: 7.0, 13: 7.0}), t).total == pytest.approx(0.0)
    assert bill(day("2024-06-03", mel, {12: 7.0, 13: 7.0}), t).total == pytest.approx(14 * 0.24)


def test_engie_night_saver_takes_6c_off_midnight_to_6am() -> None:
    t = get_tariff("au-engie-night-saver")
    assert not t.hours_verified and "6 c" in t.verification_detail["discount"]
    mel = "Australia/Melbourne"
    base = 0.24
    # 1 kW all day: 6 h at base - 0.06, 18 h at base = 1.08 + 4.32 = 5.40 AUD
    assert bill(day("2024-06-03", mel, 1.0), t).total == pytest.approx(6 * (base - 0.06) + 18 * base)
    # a 7 kW car charging 01:00-05:00 (28 kWh) saves 28 x 0.06 = 1.68 AUD against the same energy at 18:00-22:00
    night = bill(day("2024-06-03", mel, {h: 7.0 for h in range(1, 5)}), t).total
    evening = bill(day("2024-06-03", mel, {h: 7.0 for h in range(18, 22)}), t).total
    assert evening - night == pytest.approx(28 * 0.06)
