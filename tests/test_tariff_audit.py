"""Independent audit of the tariff library.

1. Every Chinese tariff against table 3-3 of the report (``../shared/reference/cn_residential_ev_tou_2024.csv``):
   each price of the row appears under its own period name (a billed period, a critical-peak rule, or
   ``reference_prices`` where the price has no known hours), nothing else is billed, and the printed peak-valley
   spread is peak - valley (except jilin, where the table prints 0.25 for 0.6924 - 0.3924 = 0.30).
2. Bills worked out by hand from the source numbers (research notes / tariff texts), the arithmetic in the comments,
   for tariffs and day types the other bill tests do not cover.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.io.tariff_library import get_tariff
from vgi.model.tariffs import Tariff, tariff_prices
from vgi.model.timegrid import TimeGrid
from vgi.settle.bills import bill, bill_totals

REFERENCE_CSV = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cn_residential_ev_tou_2024.csv"
)

# table 3-3 row (region_en) -> tariff id slug (NAMES.md)
SLUGS = {
    "Gansu": "gansu",
    "Anhui": "anhui",
    "Chongqing": "chongqing",
    "Fujian": "fujian",
    "Hunan": "hunan",
    "Jiangsu": "jiangsu",
    "Hebei": "hebei",
    "Hubei": "hubei",
    "Jiangxi": "jiangxi",
    "Heilongjiang": "heilongjiang",
    "Jilin": "jilin",
    "Henan": "henan",
    "Jibei (northern Hebei)": "jibei",
    "Inner Mongolia": "inner-mongolia",
    "Shaanxi (excl. Yulin)": "shaanxi",
    "Shaanxi (Yulin)": "shaanxi-yulin",
    "Shanghai": "shanghai",
    "Sichuan": "sichuan",
    "Shandong": "shandong",
    "Ningxia": "ningxia",
    "Shanxi": "shanxi",
    "Zhejiang": "zhejiang",
    "Tianjin (Minxin programme)": "tianjin",
    "Guangzhou": "guangzhou",
    "Shenzhen": "shenzhen",
    "Yunnan": "yunnan",
    "Hainan": "hainan",
}
PERIODS = ("critical_peak", "peak", "flat", "valley")


def _table_rows() -> list[dict[str, str]]:
    if not REFERENCE_CSV.is_file():
        pytest.skip("../shared reference table 3-3 not available")
    lines = [ln for ln in REFERENCE_CSV.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def _billed_prices(t: Tariff) -> dict[str, set[float]]:
    """Period name -> the prices it is billed at (over all seasons), critical-peak rules included."""
    assert t.energy is not None
    out: dict[str, set[float]] = {}
    for season in t.energy.seasons:
        prices = {**t.energy.prices, **season.prices}
        used = {season.default_period} | {w.period for ws in season.windows.values() for w in ws}
        for name in used:
            out.setdefault(name, set()).add(prices[name])
    for rule in t.critical_peaks:
        if rule.applies:
            assert rule.price is not None, (t.id, "table 3-3 gives critical prices as numbers")
            assert {w.period for w in rule.windows} == {"critical_peak"}, t.id
            out.setdefault("critical_peak", set()).add(rule.price)
    return out


@pytest.mark.parametrize("region", list(SLUGS))
def test_table_3_3_prices_by_period_name(region: str) -> None:
    rows = {r["region_en"]: r for r in _table_rows()}
    assert len(rows) == 27 and set(rows) == set(SLUGS)
    row = rows[region]
    t = get_tariff(f"cn-{SLUGS[region]}-residential-ev")
    assert t.currency == "CNY" and t.timezone == "Asia/Shanghai" and t.valid_from == dt.date(2024, 6, 1)
    billed = _billed_prices(t)
    table = {p: float(row[p]) for p in PERIODS if row[p].strip()}
    for period, price in table.items():
        if period in billed:
            # billed at exactly the table's price, in every season
            assert billed[period] == {price}, (t.id, period, billed[period], price)
            assert period not in t.reference_prices, (t.id, period)
        else:
            # no known hours: kept, under its period name, as a reference price
            assert t.reference_prices.get(period) == price, (t.id, period, t.reference_prices)
    # nothing is billed that the table does not give, and no reference price is invented
    assert set(billed) <= set(table), (t.id, sorted(billed))
    assert set(t.reference_prices) <= set(table), (t.id, sorted(t.reference_prices))
    # peak and valley always have hours
    assert {"peak", "valley"} <= set(billed), t.id
    # the printed spread is peak - valley (jilin prints 0.25 for 0.30)
    spread = float(row["peak_valley_spread"])
    computed = round(table["peak"] - table["valley"], 6)
    if region == "Jilin":
        assert (spread, computed) == (0.25, 0.3)
    else:
        assert computed == pytest.approx(spread, abs=1e-9), (t.id, computed, spread)


def test_table_3_3_critical_prices_without_hours_are_not_billed() -> None:
    # Heilongjiang (0.9234) and Shandong (0.888) have a critical price but no known hours: never billed.
    for slug, price in (("heilongjiang", 0.9234), ("shandong", 0.888)):
        t = get_tariff(f"cn-{slug}-residential-ev")
        assert t.reference_prices["critical_peak"] == price
        idx = pd.date_range("2024-01-01", "2025-01-01", freq="1h", tz="Asia/Shanghai", inclusive="left")
        pv = tariff_prices(t, idx)
        assert not pv.critical.any() and price not in set(pv.import_price.tolist())


# ---------------------------------------------------------------------------------------------- helpers
def profile(
    first_day: str, tz: str, segments: list[tuple[str, str, float]], n_days: int = 1, step: int = 15
) -> pd.Series:
    """Power (kW) on local days from ``first_day``: ``kw`` in [start, end) local, 0 elsewhere."""
    grid = TimeGrid.local_days(first_day, n_days, step, tz)
    local = grid.local_index
    power = np.zeros(len(local))
    for start, end, kw in segments:
        a = pd.Timestamp(start).tz_localize(tz)
        b = pd.Timestamp(end).tz_localize(tz)
        power[(local >= a) & (local < b)] += kw
    return pd.Series(power, index=grid.utc_index, name="power_kw")


def energy(b, period: str) -> float:
    return sum(
        line.amount
        for line in b.lines
        if line.category == "energy" and (line.label == period or line.label.endswith(": " + period))
    )


LA = "America/Los_Angeles"
SH = "Asia/Shanghai"


# ------------------------------------------------------------------------------------ SCE TOU-D-PRIME
# Bundled = delivery + generation (UG) + FRC 0.00198 + MCAM 0.00160 (= 0.00358) USD/kWh (TOU-D, Jun 2025):
#   summer on-peak  0.27693 + 0.28317 + 0.00358 = 0.56368
#   summer mid-peak 0.27693 + 0.10077 + 0.00358 = 0.38128
#   summer off-peak 0.19236 + 0.06728 + 0.00358 = 0.26322
#   winter mid-peak 0.28223 + 0.24759 + 0.00358 = 0.53340
#   winter off-peak = super off-peak 0.18446 + 0.05686 + 0.00358 = 0.24490
# Basic Charge 0.516 USD/day.
def test_sce_tou_d_prime_winter_weekday() -> None:
    # Wed 2025-01-15 (winter, Oct 1 - Jun 1): mid-peak 16-21, off-peak 21-08, super off-peak 08-16, every day.
    #   7.2 kW 22:00-24:00 -> 14.4 kWh off-peak       x 0.24490 = 3.52656
    #   3 kW   10:00-12:00 ->  6.0 kWh super off-peak x 0.24490 = 1.46940
    #   2 kW   17:00-19:00 ->  4.0 kWh mid-peak       x 0.53340 = 2.13360
    #   energy 7.12956 + Basic Charge 0.516 = 7.64556 USD
    t = get_tariff("us-sce-tou-d-prime")
    load = profile(
        "2025-01-15",
        LA,
        [("2025-01-15 22:00", "2025-01-16 00:00", 7.2), ("2025-01-15 10:00", "2025-01-15 12:00", 3.0),
         ("2025-01-15 17:00", "2025-01-15 19:00", 2.0)],
    )
    b = bill(load, t)
    assert energy(b, "off_peak") == pytest.approx(3.52656)
    assert energy(b, "super_off_peak") == pytest.approx(1.4694)
    assert energy(b, "mid_peak") == pytest.approx(2.1336)
    assert b.amount("fixed") == pytest.approx(0.516)
    assert b.total == pytest.approx(7.64556)


def test_sce_tou_d_prime_summer_weekend_weekday_and_holiday() -> None:
    # Summer (Jun 1 - Oct 1).  Load: 7.2 kW 00:00-02:00 (14.4 kWh off-peak), 5 kW 15:00-18:00 (15-16 off-peak,
    # 16-18 in the 16-21 window).
    # Sat 2025-07-12: weekend -> 16-21 mid-peak
    #   off-peak (14.4 + 5) x 0.26322 = 5.106468 ; mid-peak 10 x 0.38128 = 3.8128 ; energy 8.919268
    #   total 8.919268 + 0.516 = 9.435268
    # Mon 2025-07-14: weekday -> 16-21 on-peak: 5.106468 + 10 x 0.56368 = 5.106468 + 5.6368 = 10.743268
    #   total 11.259268
    # Fri 2025-07-04 (Independence Day, an SCE holiday) prices like the weekend: energy 8.919268
    t = get_tariff("us-sce-tou-d-prime")

    def day(d: str) -> pd.Series:
        return profile(d, LA, [(f"{d} 00:00", f"{d} 02:00", 7.2), (f"{d} 15:00", f"{d} 18:00", 5.0)])

    sat = bill(day("2025-07-12"), t)
    assert energy(sat, "off_peak") == pytest.approx(5.106468)
    assert energy(sat, "mid_peak") == pytest.approx(3.8128)
    assert energy(sat, "on_peak") == 0.0
    assert sat.total == pytest.approx(9.435268)
    mon = bill(day("2025-07-14"), t)
    assert energy(mon, "on_peak") == pytest.approx(5.6368)
    assert mon.total == pytest.approx(11.259268)
    assert bill(day("2025-07-04"), t).amount("energy") == pytest.approx(8.919268)
    # a holiday on a Sunday is observed on the Monday: Independence Day 2027 is a Sunday -> Mon 2027-07-05
    assert bill(day("2027-07-05"), t).amount("energy") == pytest.approx(8.919268)
    assert bill(day("2027-07-06"), t).amount("energy") == pytest.approx(10.743268)
    # Sep 30 is summer, Oct 1 winter (16-21 mid-peak 0.53340 on a weekday): Wed 2025-10-01 energy
    #   off-peak 00-02 14.4 x 0.2449 = 3.52656 ; 15-16 super off-peak 5 x 0.2449 = 1.2245 ; 16-18 mid 10 x 0.5334
    #   = 5.334 -> 10.08506
    assert bill(day("2025-10-01"), t).amount("energy") == pytest.approx(10.08506)


# ------------------------------------------------------------------------------------------ PG&E EV2-A
def test_pge_ev2a_summer_weekday() -> None:
    # EV2-A, every day: peak 16-21, part-peak 15-16 and 21-24, off-peak 00-15; summer Jun-Sep.
    # Summer prices: peak 0.65713, part-peak 0.54779, off-peak 0.34462 USD/kWh; no fixed charge.
    # Wed 2024-07-17: 7 kW 14:00-17:00, 3 kW 22:00-24:00
    #   14-15 off-peak  7 x 0.34462 = 2.41234
    #   15-16 part-peak 7 x 0.54779 = 3.83453
    #   16-17 peak      7 x 0.65713 = 4.59991
    #   22-24 part-peak 6 x 0.54779 = 3.28674
    #   total 14.13352 USD; a Saturday (2024-07-20) costs the same
    t = get_tariff("us-pge-ev2a")

    def day(d: str) -> pd.Series:
        nxt = (pd.Timestamp(d) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        return profile(d, LA, [(f"{d} 14:00", f"{d} 17:00", 7.0), (f"{d} 22:00", f"{nxt} 00:00", 3.0)])

    b = bill(day("2024-07-17"), t)
    assert energy(b, "part_peak") == pytest.approx(3.83453 + 3.28674)
    assert energy(b, "peak") == pytest.approx(4.59991)
    assert b.total == pytest.approx(14.13352)
    assert bill(day("2024-07-20"), t).total == pytest.approx(14.13352)
    # Oct 1 is winter: peak 0.53002, part-peak 0.51447: 2.41234 + 7 x 0.51447 + 7 x 0.53002 + 6 x 0.51447
    #   = 2.41234 + 3.60129 + 3.71014 + 3.08682 = 12.81059
    assert bill(day("2024-10-01"), t).total == pytest.approx(12.81059)


# -------------------------------------------------------------------------------- Intelligent Octopus Go
def test_intelligent_octopus_go_night_in_hourly_rows() -> None:
    # Off-peak 23:30-05:30 at 0.07 GBP/kWh, day 0.2236, standing charge 0.6012/day (stand-ins).
    # 7.4 kW from Sat 2024-07-20 22:00 to Sun 06:00 (BST), given as hourly rows (the 23:00 and 05:00 rows are
    # split at 23:30 and 05:30):
    #   day      22:00-23:30 1.5 h + 05:30-06:00 0.5 h = 2 h x 7.4 = 14.8 kWh x 0.2236 = 3.30928
    #   off-peak 23:30-05:30 6 h x 7.4 = 44.4 kWh x 0.07 = 3.108
    #   standing charge 2 days x 0.6012 = 1.2024 ; total 7.61968 GBP
    t = get_tariff("uk-octopus-intelligent-go")
    load = profile("2024-07-20", "Europe/London", [("2024-07-20 22:00", "2024-07-21 06:00", 7.4)], n_days=2,
                   step=60)
    b = bill(load, t)
    assert b.import_kwh == pytest.approx(59.2)
    assert energy(b, "off_peak") == pytest.approx(3.108)
    assert energy(b, "day") == pytest.approx(3.30928)
    assert b.amount("fixed") == pytest.approx(1.2024)
    assert b.total == pytest.approx(7.61968)
    assert bill_totals(load.to_numpy(), pd.DatetimeIndex(load.index), t)[0] == pytest.approx(7.61968)


# ---------------------------------------------------------------------------------------------- Hubei EV
def test_hubei_ev_pile_evening_with_critical_peak() -> None:
    # Hubei EV pile pilot: flat 0.58 (07-17), peak 0.68 (17-23), of which 20-22 critical 0.78, valley 0.43 (23-07).
    # Mon 2024-06-03, 7 kW 19:00-23:30:
    #   19-20 peak 7 x 0.68 = 4.76 ; 20-22 critical 14 x 0.78 = 10.92 ; 22-23 peak 7 x 0.68 = 4.76 ;
    #   23:00-23:30 valley 3.5 x 0.43 = 1.505 ; total 21.945 CNY
    t = get_tariff("cn-hubei-residential-ev")
    b = bill(profile("2024-06-03", SH, [("2024-06-03 19:00", "2024-06-03 23:30", 7.0)]), t)
    assert energy(b, "critical_peak") == pytest.approx(10.92)
    assert energy(b, "peak") == pytest.approx(9.52)
    assert energy(b, "valley") == pytest.approx(1.505)
    assert b.total == pytest.approx(21.945)


# --------------------------------------------------------------------------------------------- Hainan EV
def test_hainan_june_2024_uses_the_windows_before_october_2024() -> None:
    # June 2024 is before the 2024-10-01 notice, so the year-round EV windows apply: peak 16-24 (1.0333),
    # flat 08-16 (0.6295), valley 00-08 (0.2488).  (Under the later Apr-Sep windows 08-10 would be valley.)
    # Wed 2024-06-12: 1 kW all day + 6 kW 08:00-10:00
    #   valley 8 kWh x 0.2488 = 1.9904 ; flat (8 + 12) kWh x 0.6295 = 12.59 ; peak 8 kWh x 1.0333 = 8.2664
    #   total 22.8468 CNY
    t = get_tariff("cn-hainan-residential-ev")
    load = profile("2024-06-12", SH, [("2024-06-12 00:00", "2024-06-13 00:00", 1.0),
                                      ("2024-06-12 08:00", "2024-06-12 10:00", 6.0)])
    b = bill(load, t)
    assert energy(b, "valley") == pytest.approx(1.9904)
    assert energy(b, "flat") == pytest.approx(12.59)
    assert energy(b, "peak") == pytest.approx(8.2664)
    assert b.total == pytest.approx(22.8468)


# ------------------------------------------------------------------------------------ Sichuan critical peak
def test_sichuan_critical_peak_july_and_january() -> None:
    # Sichuan: peak 10-12, 15-21 (0.87424); flat 07-10, 12-15, 21-23 (0.5464); valley 23-07 (0.21856);
    # critical 1.049088 in Jul-Aug 15-17 and Jan/Dec 19-21.
    # 2 kW 14:00-18:00:  July 10: 14-15 flat 2 x 0.5464 = 1.0928 ; 15-17 critical 4 x 1.049088 = 4.196352 ;
    #                    17-18 peak 2 x 0.87424 = 1.74848 -> 7.037632
    #                    June 12: 1.0928 + 6 x 0.87424 = 1.0928 + 5.24544 = 6.33824
    # 2 kW 19:00-22:00 on Jan 10: 19-21 critical 4.196352 ; 21-22 flat 1.0928 -> 5.289152
    t = get_tariff("cn-sichuan-residential-ev")
    assert bill(profile("2024-07-10", SH, [("2024-07-10 14:00", "2024-07-10 18:00", 2.0)]), t).total == (
        pytest.approx(7.037632)
    )
    assert bill(profile("2024-06-12", SH, [("2024-06-12 14:00", "2024-06-12 18:00", 2.0)]), t).total == (
        pytest.approx(6.33824)
    )
    assert bill(profile("2024-01-10", SH, [("2024-01-10 19:00", "2024-01-10 22:00", 2.0)]), t).total == (
        pytest.approx(5.289152)
    )


# ------------------------------------------------------------------------- seasons of Shandong and Tianjin
def test_shandong_heating_season_and_tianjin_summer_windows() -> None:
    # Shandong: 20:00-22:00 is peak (0.585) Apr-Oct and valley (0.385) in the heating season Nov-Mar.
    #   2 kW 20-22 = 4 kWh: July 4 x 0.585 = 2.34 ; December 4 x 0.385 = 1.54
    sd = get_tariff("cn-shandong-residential-ev")
    assert bill(profile("2024-07-10", SH, [("2024-07-10 20:00", "2024-07-10 22:00", 2.0)]), sd).total == (
        pytest.approx(2.34)
    )
    assert bill(profile("2024-12-10", SH, [("2024-12-10 20:00", "2024-12-10 22:00", 2.0)]), sd).total == (
        pytest.approx(1.54)
    )
    # Tianjin: Jul-Aug valley 01-09; other months 06-08 flat and 08-10 peak.
    #   3 kW 06:00-09:00 = 9 kWh: July 9 x 0.4077 = 3.6693 ; June 6 x 0.755 + 3 x 1.0766 = 4.53 + 3.2298 = 7.7598
    tj = get_tariff("cn-tianjin-residential-ev")
    assert bill(profile("2024-07-10", SH, [("2024-07-10 06:00", "2024-07-10 09:00", 3.0)]), tj).total == (
        pytest.approx(3.6693)
    )
    assert bill(profile("2024-06-12", SH, [("2024-06-12 06:00", "2024-06-12 09:00", 3.0)]), tj).total == (
        pytest.approx(7.7598)
    )


# --------------------------------------------------------------------------------- SDG&E March weekday
def test_sdge_march_weekday_super_off_peak_10_to_14() -> None:
    # EV-TOU-5 winter weekday: super off-peak 00-06 and, in March and April only, 10-14 (0.11381); off-peak 0.44879.
    # 6 kW 10:00-13:00 = 18 kWh.  Wed 2025-03-12: 18 x 0.11381 = 2.04858 ; Wed 2025-05-14: 18 x 0.44879 = 8.07822
    # Basic Service Fee 16.00 USD/month for one day of a 31-day month: 16/31 = 0.516129
    t = get_tariff("us-sdge-ev-tou-5")
    mar = bill(profile("2025-03-12", LA, [("2025-03-12 10:00", "2025-03-12 13:00", 6.0)]), t)
    assert energy(mar, "super_off_peak") == pytest.approx(2.04858)
    assert mar.total == pytest.approx(2.04858 + 16.0 / 31)
    may = bill(profile("2025-05-14", LA, [("2025-05-14 10:00", "2025-05-14 13:00", 6.0)]), t)
    assert energy(may, "off_peak") == pytest.approx(8.07822)
    assert may.total == pytest.approx(8.07822 + 16.0 / 31)


# ---------------------------------------------------------------------------------- German dynamic day
def test_german_dynamic_day_from_a_hand_made_spot_series() -> None:
    # price = (spot / 1000 + 0.15984) x 1.19 EUR/kWh, 0.15984 = Stromsteuer 0.0205 + KWKG 0.00275 + Offshore
    # 0.00656 + §19 0.00643 + Konzessionsabgabe 0.0239 + Stromnetz Berlin grid energy price 0.0997 (net);
    # VAT on everything, spot included.  Hand-made hourly spot (EUR/MWh) for Wed 2024-06-12 (CEST):
    # 80 everywhere except 02:00 -> -20, 13:00 -> 0, 19:00 -> 250.
    #   spot   80: (0.08 + 0.15984) x 1.19 = 0.23984 x 1.19 = 0.2854096
    #   spot  -20: 0.13984 x 1.19 = 0.1664096
    #   spot    0: 0.15984 x 1.19 = 0.1902096
    #   spot  250: 0.40984 x 1.19 = 0.4877096
    # load (15-min rows): 11 kW 01:00-03:00, 2 kW 13:00-14:00, 1 kW 19:00-20:00
    #   11 x 0.2854096 + 11 x 0.1664096 + 2 x 0.1902096 + 1 x 0.4877096
    #   = 3.1395056 + 1.8305056 + 0.3804192 + 0.4877096 = 5.83814 EUR (no fixed fees in this tariff)
    t = get_tariff("de-dynamic-spot-2024")
    tz = "Europe/Berlin"
    hours = pd.date_range("2024-06-12", periods=24, freq="1h", tz=tz)
    spot = np.full(24, 80.0)
    spot[2], spot[13], spot[19] = -20.0, 0.0, 250.0
    load = profile(
        "2024-06-12",
        tz,
        [("2024-06-12 01:00", "2024-06-12 03:00", 11.0), ("2024-06-12 13:00", "2024-06-12 14:00", 2.0),
         ("2024-06-12 19:00", "2024-06-12 20:00", 1.0)],
    )
    b = bill(load, t, spot=pd.Series(spot, index=hours))
    assert b.currency == "EUR"
    assert b.import_kwh == pytest.approx(25.0)
    assert b.total == pytest.approx(5.83814)


# --------------------------------------------------------------------------------- PG&E BEV-1 full month
def test_pge_bev1_august_2024_month_like_the_real_bill() -> None:
    # BEV-1 bundled energy as printed on PG&E's bill of 7/10-8/7/2024: off-peak 0.18867, super off-peak 0.16201
    # USD/kWh; peak 0.38068 (derived, see the file); 10 kW blocks at 12.41 USD/month, overage 2.48 USD/kW.
    # August 2024 (31 days): every day 1 kW 10:00-11:00 (super off-peak) and 0.5 kW 22:00-23:00 (off-peak),
    # plus 2 kW 17:00-17:30 on Aug 15 (peak).  10 blocks subscribed, as on the bill (a full calendar month = 1.0
    # month of subscription).
    #   super off-peak 31 x 1 = 31 kWh x 0.16201 = 5.02231
    #   off-peak 31 x 0.5 = 15.5 kWh x 0.18867 = 2.924385
    #   peak 1 kWh x 0.38068 = 0.38068
    #   subscription 10 x 12.41 = 124.10 ; month peak 2 kW < 100 kW -> no overage
    #   total 5.02231 + 2.924385 + 0.38068 + 124.10 = 132.427375 USD
    t = get_tariff("us-pge-bev1")
    segs = []
    for d in range(1, 32):
        day = f"2024-08-{d:02d}"
        segs += [(f"{day} 10:00", f"{day} 11:00", 1.0), (f"{day} 22:00", f"{day} 23:00", 0.5)]
    segs.append(("2024-08-15 17:00", "2024-08-15 17:30", 2.0))
    load = profile("2024-08-01", LA, segs, n_days=31)
    b = bill(load, t, subscribed_blocks=10)
    assert energy(b, "super_off_peak") == pytest.approx(5.02231)
    assert energy(b, "off_peak") == pytest.approx(2.924385)
    assert energy(b, "peak") == pytest.approx(0.38068)
    assert b.amount("subscription") == pytest.approx(124.10)
    assert b.amount("overage") == 0.0
    assert b.total == pytest.approx(132.427375)


# ------------------------------------------------------------------------ Guangdong rules do not stack
def test_guangdong_critical_peak_rules_do_not_stack_in_july() -> None:
    # The >= 35 degC rule adds days outside Jul-Sep; in July every day already has the critical peak.  With the
    # Shenzhen (multiplier x 1.25) rules switched on, a July trigger day must give peak x 1.25, not x 1.25^2:
    #   2 kW 11:00-12:00 on 2024-07-15: 2 kWh x 1.1121 x 1.25 = 2.78025 CNY
    # and a June trigger day the same: 2.78025 ; a June day without trigger: 2 x 1.1121 = 2.2242
    sz = get_tariff("cn-shenzhen-residential-ev")
    on = sz.model_copy(update={"critical_peaks": tuple(r.model_copy(update={"applies": True})
                                                       for r in sz.critical_peaks)})
    july = profile("2024-07-15", SH, [("2024-07-15 11:00", "2024-07-15 12:00", 2.0)])
    assert bill(july, on, critical_peak_days=[dt.date(2024, 7, 15)]).total == pytest.approx(2.78025)
    june = profile("2024-06-20", SH, [("2024-06-20 11:00", "2024-06-20 12:00", 2.0)])
    assert bill(june, on, critical_peak_days=[dt.date(2024, 6, 20)]).total == pytest.approx(2.78025)
    assert bill(june, on).total == pytest.approx(2.2242)
    # Guangzhou (price replaced by 1.232875) likewise: 2 x 1.232875 = 2.46575 on the July trigger day
    gz = get_tariff("cn-guangzhou-residential-ev")
    assert bill(july, gz, critical_peak_days=[dt.date(2024, 7, 15)]).total == pytest.approx(2.46575)
