"""Bills checked against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff, load_tariff
from vgi.model.tariffs import holiday_dates, tariff_prices
from vgi.model.timegrid import TimeGrid
from vgi.settle.bills import align_series, bill, bill_totals


def profile(
    first_day: str, tz: str, segments: list[tuple[str, str, float]], n_days: int = 1, step: int = 15
) -> pd.Series:
    """Power (kW) on the local days from ``first_day``: ``kw`` for steps starting in [start, end) (local times
    'YYYY-MM-DD HH:MM'), 0 elsewhere."""
    grid = TimeGrid.local_days(first_day, n_days, step, tz)
    local = grid.local_index
    power = np.zeros(len(local))
    for start, end, kw in segments:
        a = pd.Timestamp(start).tz_localize(tz)
        b = pd.Timestamp(end).tz_localize(tz)
        power[(local >= a) & (local < b)] += kw
    return pd.Series(power, index=grid.utc_index, name="power_kw")


def energy(b, period: str) -> float:
    """Energy amount of a period (lines are labelled 'period', or 'season: period' across seasons)."""
    return sum(
        line.amount
        for line in b.lines
        if line.category == "energy" and (line.label == period or line.label.endswith(": " + period))
    )


# ---------------------------------------------------------------------------------------------- Shenzhen day
def test_shenzhen_residential_ev_day() -> None:
    # Shenzhen: peak 1.1121 (10-12, 14-19), flat 0.6542, valley 0.2486 (00-08) CNY/kWh; Mon 2024-06-03.
    # 7 kW 00:00-04:00   -> 28 kWh valley  x 0.2486 = 6.9608
    # 3.5 kW 18:00-20:00 -> 3.5 kWh peak   x 1.1121 = 3.89235 ; 3.5 kWh flat x 0.6542 = 2.2897
    # 7 kW 22:00-23:00   -> 7 kWh flat     x 0.6542 = 4.5794
    # total = 6.9608 + 3.89235 + 2.2897 + 4.5794 = 17.72225 CNY (no fixed charge, tiers not applied)
    tariff = get_tariff("cn-shenzhen-residential-ev")
    load = profile(
        "2024-06-03",
        "Asia/Shanghai",
        [
            ("2024-06-03 00:00", "2024-06-03 04:00", 7.0),
            ("2024-06-03 18:00", "2024-06-03 20:00", 3.5),
            ("2024-06-03 22:00", "2024-06-03 23:00", 7.0),
        ],
    )
    b = bill(load, tariff)
    assert b.currency == "CNY"
    assert b.import_kwh == pytest.approx(42.0)  # 28 + 7 + 7
    assert energy(b, "valley") == pytest.approx(6.9608)
    assert energy(b, "peak") == pytest.approx(3.89235)
    assert energy(b, "flat") == pytest.approx(2.2897 + 4.5794)
    assert b.total == pytest.approx(17.72225)
    # the same day in hourly rows gives the same bill (all boundaries on the hour)
    hourly = load.resample("1h").mean()
    assert bill(hourly, tariff).total == pytest.approx(17.72225)


# ------------------------------------------------------------------------------------ PG&E BEV-1 month
def test_pge_bev1_month_with_subscription_and_overage() -> None:
    # BEV-1: peak 0.38068 (16-21), super off-peak 0.16201 (09-14), off-peak 0.18867 USD/kWh; 10 kW blocks at
    # 12.41 USD, overage 2.48 USD/kW.  A 30-day month (June dates; BEV has no seasons), every day 12 kW
    # 10:00-12:00 and 5 kW 22:00-23:00, plus 26 kW on 2024-06-12 16:00-16:15.
    # super off-peak 30 x 24 kWh = 720 kWh x 0.16201 = 116.6472
    # off-peak       30 x  5 kWh = 150 kWh x 0.18867 =  28.3005
    # peak           26 kW x 0.25 h = 6.5 kWh x 0.38068 = 2.47442
    # energy = 147.42212; month peak (15-min average) = 26 kW
    # 2 blocks subscribed: 2 x 12.41 = 24.82 + overage (26 - 20) x 2.48 = 14.88 -> total 187.12212
    # cheapest (at least one block): 1 -> 12.41 + 16 x 2.48 = 52.09, 2 -> 39.70, 3 -> 37.23
    #   => 3 blocks, total 147.42212 + 37.23 = 184.65212
    tariff = get_tariff("us-pge-bev1")
    segs = []
    for d in range(1, 31):
        day = f"2024-06-{d:02d}"
        segs += [(f"{day} 10:00", f"{day} 12:00", 12.0), (f"{day} 22:00", f"{day} 23:00", 5.0)]
    segs.append(("2024-06-12 16:00", "2024-06-12 16:15", 26.0))
    load = profile("2024-06-01", "America/Los_Angeles", segs, n_days=30)
    b = bill(load, tariff, subscribed_blocks=2)
    assert energy(b, "super_off_peak") == pytest.approx(116.6472)
    assert energy(b, "off_peak") == pytest.approx(28.3005)
    assert energy(b, "peak") == pytest.approx(2.47442)
    assert b.amount("subscription") == pytest.approx(24.82)
    overage = next(line for line in b.lines if line.category == "overage")
    assert overage.quantity == pytest.approx(6.0)
    assert overage.amount == pytest.approx(14.88)
    assert b.total == pytest.approx(187.12212)
    cheapest = bill(load, tariff)
    assert cheapest.amount("subscription") == pytest.approx(37.23)
    assert cheapest.amount("overage") == 0.0
    assert cheapest.total == pytest.approx(184.65212)
    # the vectorised totals agree with the line-by-line bill
    totals = bill_totals(np.vstack([load.to_numpy(), np.zeros(len(load))]), load.index, tariff)
    assert totals[0] == pytest.approx(184.65212)
    assert totals[1] == pytest.approx(12.41)  # no load still keeps the minimum subscription of one block
    assert bill_totals(load.to_numpy(), load.index, tariff, subscribed_blocks=2)[0] == pytest.approx(
        187.12212
    )


# ------------------------------------------------------------------------------------------ Octopus Agile
def test_octopus_agile_day_from_a_price_series() -> None:
    # Agile: price = min((2.2 x W/1000 + 0.12 in 16-19) x 1.05, 1.00) GBP/kWh, W in GBP/MWh (hand-made hourly
    # series for Wed 2024-06-12, BST): W = 100 except 03:00 -> -20, 16:00 -> 200, 17:00 -> 500, 18:00 -> 200.
    #   normal: 0.22 x 1.05 = 0.231;  03:00: -0.044 x 1.05 = -0.0462
    #   16:00 and 18:00: (0.44 + 0.12) x 1.05 = 0.588;  17:00: (1.10 + 0.12) x 1.05 = 1.281 -> cap 1.00
    # load (half-hourly rows): 7 kW 02:00-04:00, 2 kW 16:00-19:00, 1 kW 20:00-21:00
    #   7 x 0.231 + 7 x -0.0462 + 2 x 0.588 + 2 x 1.00 + 2 x 0.588 + 1 x 0.231
    #   = 1.617 - 0.3234 + 1.176 + 2.0 + 1.176 + 0.231 = 5.8766 ; standing charge 0.6012 x 1 day
    #   total = 6.4778 GBP
    tariff = get_tariff("uk-octopus-agile")
    tz = "Europe/London"
    hours = pd.date_range("2024-06-12", periods=24, freq="1h", tz=tz)
    w = np.full(24, 100.0)
    w[3], w[16], w[17], w[18] = -20.0, 200.0, 500.0, 200.0
    series = pd.Series(w, index=hours)
    load = profile(
        "2024-06-12",
        tz,
        [
            ("2024-06-12 02:00", "2024-06-12 04:00", 7.0),
            ("2024-06-12 16:00", "2024-06-12 19:00", 2.0),
            ("2024-06-12 20:00", "2024-06-12 21:00", 1.0),
        ],
        step=30,
    )
    b = bill(load, tariff, spot=series)
    assert b.amount("energy") == pytest.approx(5.8766)
    assert b.amount("fixed") == pytest.approx(0.6012)
    assert b.total == pytest.approx(6.4778)
    prices = tariff_prices(tariff, load.index, align_series(series, load.index))
    local = load.index.tz_convert(tz)
    assert prices.import_price[(local.hour == 17)].max() == pytest.approx(1.0)  # the cap
    assert prices.import_price[(local.hour == 3)].min() == pytest.approx(-0.0462)  # negative prices pass
    with pytest.raises(VgiError, match="give a price series"):
        bill(load, tariff)
    with pytest.raises(VgiError, match="covers"):
        bill(load, tariff, spot=series.iloc[:20])


# ------------------------------------------------------------------------------ SDG&E weekend and holiday
SDGE_ENERGY_WEEKEND = 18 * 0.12017 + 2 * 0.47446 + 2 * 0.73092  # = 2.16306 + 0.94892 + 1.46184 = 4.57382


def _sdge_load(day: str) -> pd.Series:
    # 6 kW 10:00-13:00 (18 kWh), 2 kW 15:00-17:00 (2 kWh at 15-16, 2 kWh at 16-17)
    return profile(
        day,
        "America/Los_Angeles",
        [(f"{day} 10:00", f"{day} 13:00", 6.0), (f"{day} 15:00", f"{day} 17:00", 2.0)],
    )


def test_sdge_ev_tou_5_weekend_day() -> None:
    # Sat 2024-06-08 (summer).  Weekend windows: super off-peak 00-14 (0.12017), off-peak 14-16 (0.47446),
    # on-peak 16-21 (0.73092).  energy = 18 x 0.12017 + 2 x 0.47446 + 2 x 0.73092 = 4.57382
    # Basic Service Fee 16.00 USD/month x 1/30 of June = 0.533333 -> total 5.107153
    tariff = get_tariff("us-sdge-ev-tou-5")
    b = bill(_sdge_load("2024-06-08"), tariff)
    assert energy(b, "super_off_peak") == pytest.approx(18 * 0.12017)
    assert b.amount("energy") == pytest.approx(SDGE_ENERGY_WEEKEND)
    assert b.amount("fixed") == pytest.approx(16.0 / 30)
    assert b.total == pytest.approx(4.57382 + 16.0 / 30)
    # the same load on Mon 2024-06-10: 10-13 is off-peak on weekdays
    # 18 x 0.47446 + 2 x 0.47446 + 2 x 0.73092 = 8.54028 + 0.94892 + 1.46184 = 10.95104
    weekday = bill(_sdge_load("2024-06-10"), tariff)
    assert weekday.amount("energy") == pytest.approx(10.95104)


def test_sdge_ev_tou_5_holidays() -> None:
    tariff = get_tariff("us-sdge-ev-tou-5")
    # Thu 2024-07-04 (Independence Day) prices like a weekend; July has 31 days: 4.57382 + 16/31 = 5.089949
    b = bill(_sdge_load("2024-07-04"), tariff)
    assert b.amount("energy") == pytest.approx(SDGE_ENERGY_WEEKEND)
    assert b.total == pytest.approx(4.57382 + 16.0 / 31)
    # Mon 2024-11-11 (Veterans Day) is not an SDG&E holiday: weekday winter prices
    # 18 x 0.44879 + 2 x 0.44879 + 2 x 0.49758 = 8.07822 + 0.89758 + 0.99516 = 9.97096
    assert bill(_sdge_load("2024-11-11"), tariff).amount("energy") == pytest.approx(9.97096)
    # the seven SDG&E holidays of 2023, with New Year's Day (a Sunday) observed on Monday Jan 2
    days = holiday_dates("US", (2023,), tariff.holiday_names, tariff.holiday_observance)
    assert {
        dt.date(2023, 1, 2),
        dt.date(2023, 2, 20),
        dt.date(2023, 5, 29),
        dt.date(2023, 7, 4),
        dt.date(2023, 9, 4),
        dt.date(2023, 11, 23),
        dt.date(2023, 12, 25),
    } <= days
    assert dt.date(2023, 11, 10) not in days and dt.date(2023, 1, 16) not in days  # Veterans (obs.), MLK
    # SCE names Veterans Day; Saturday 2023-11-11 is not moved to Friday under the Sunday-to-Monday rule
    sce = get_tariff("us-sce-tou-d-prime")
    sce_days = holiday_dates("US", (2023,), sce.holiday_names, sce.holiday_observance)
    assert dt.date(2023, 11, 11) in sce_days and dt.date(2023, 11, 10) not in sce_days


# ------------------------------------------------------------------------------------------------ DST days
@pytest.mark.parametrize("step", [15, 60])
def test_dst_days_octopus_go(step: int) -> None:
    # Octopus Go: off-peak 00:30-05:30 at 0.085, day 0.2236 GBP/kWh, standing charge 0.6012/day; 1 kW all day.
    # 2024-03-31 (23 h): local 00:30-01:00 and 02:00-05:30 exist -> 4 h off-peak
    #   4 x 0.085 + 19 x 0.2236 + 0.6012 = 0.34 + 4.2484 + 0.6012 = 5.1896
    # 2024-10-27 (25 h): 00:30-01:00, 01:00-02:00 twice, 02:00-05:30 -> 6 h off-peak
    #   6 x 0.085 + 19 x 0.2236 + 0.6012 = 0.51 + 4.2484 + 0.6012 = 5.3596
    # With hourly rows the 00:00-01:00 row is split at 00:30 before pricing.
    tariff = get_tariff("uk-octopus-go")
    spring = profile(
        "2024-03-31", "Europe/London", [("2024-03-31 00:00", "2024-04-01 00:00", 1.0)], step=step
    )
    autumn = profile(
        "2024-10-27", "Europe/London", [("2024-10-27 00:00", "2024-10-28 00:00", 1.0)], step=step
    )
    assert len(spring) == 23 * 60 // step and len(autumn) == 25 * 60 // step
    b1, b2 = bill(spring, tariff), bill(autumn, tariff)
    assert b1.import_kwh == pytest.approx(23.0) and b2.import_kwh == pytest.approx(25.0)
    assert energy(b1, "off_peak") == pytest.approx(0.34)
    assert b1.amount("fixed") == pytest.approx(0.6012)  # a 23-hour day is one day
    assert b1.total == pytest.approx(5.1896)
    assert energy(b2, "off_peak") == pytest.approx(0.51)
    assert b2.amount("fixed") == pytest.approx(0.6012)
    assert b2.total == pytest.approx(5.3596)


def test_dst_day_los_angeles_ev2a() -> None:
    # PG&E EV2-A winter, 1 kW on 2024-03-10 (23 h; 02:00-03:00 does not exist):
    # off-peak 00-15 minus the missing hour = 14 h x 0.34462 = 4.82468
    # part-peak 15-16 and 21-24 = 4 h x 0.51447 = 2.05788 ; peak 16-21 = 5 h x 0.53002 = 2.6501
    # total 9.53266
    tariff = get_tariff("us-pge-ev2a")
    load = profile("2024-03-10", "America/Los_Angeles", [("2024-03-10 00:00", "2024-03-11 00:00", 1.0)])
    assert len(load) == 92
    b = bill(load, tariff)
    assert energy(b, "off_peak") == pytest.approx(4.82468)
    assert energy(b, "part_peak") == pytest.approx(2.05788)
    assert b.total == pytest.approx(9.53266)


# ------------------------------------------------------------------------------------------------- tiers
def test_tiers_crossing_thresholds() -> None:
    # Guangzhou with its Guangdong tiers switched on.  November (non-summer: 0-200 kWh +0, 200-400 +0.05,
    # > 400 +0.30 CNY/kWh).  7 kW 00:00-02:00 every day of November = 30 x 14 = 420 kWh, all valley (0.2205):
    # energy 420 x 0.2205 = 92.61 ; tiers 200 x 0.05 + 20 x 0.30 = 10 + 6 = 16 -> total 108.61
    base = get_tariff("cn-guangzhou-residential-ev")
    assert base.tiers is not None and not base.tiers.applies
    tariff = base.model_copy(update={"tiers": base.tiers.model_copy(update={"applies": True})})
    segs = [(f"2024-11-{d:02d} 00:00", f"2024-11-{d:02d} 02:00", 7.0) for d in range(1, 31)]
    load = profile("2024-11-01", "Asia/Shanghai", segs, n_days=30)
    b = bill(load, tariff)
    assert b.amount("energy") == pytest.approx(92.61)
    tier = b.line("consumption above tier 1")
    assert tier.quantity == pytest.approx(220.0)
    assert tier.amount == pytest.approx(16.0)
    assert b.total == pytest.approx(108.61)
    assert bill_totals(load.to_numpy(), load.index, tariff)[0] == pytest.approx(108.61)
    # tiers not applied (the shipped default): energy only
    assert bill(load, base).total == pytest.approx(92.61)


def test_tier_period_adders() -> None:
    # one 10 kWh block per month, then peak kWh +0.06, valley kWh +0.03.  Valley 8 kWh (00:00-02:00 at 4 kW)
    # then peak 4 kWh (12:00-13:00 at 4 kW): the first 2 peak kWh are in block 1, 2 peak kWh above -> 0.12
    tariff = load_tariff(
        {
            "id": "t",
            "name": "t",
            "region": "r",
            "country": "CN",
            "currency": "CNY",
            "timezone": "Asia/Shanghai",
            "valid_from": "2024-01-01",
            "source": "test",
            "verification": "assumption",
            "energy": {
                "prices": {"peak": 0.6, "valley": 0.3},
                "seasons": [
                    {
                        "default_period": "peak",
                        "windows": {"all": [{"start": "00:00", "end": "08:00", "period": "valley"}]},
                    }
                ],
            },
            "tiers": {
                "per": "month",
                "blocks": {"all": [{"up_to_kwh": 10}, {"adder": 0.06, "period_adders": {"valley": 0.03}}]},
            },
        }
    )
    load = profile(
        "2024-05-02",
        "Asia/Shanghai",
        [("2024-05-02 00:00", "2024-05-02 02:00", 4.0), ("2024-05-02 12:00", "2024-05-02 13:00", 4.0)],
    )
    b = bill(load, tariff)
    # energy 8 x 0.3 + 4 x 0.6 = 4.8 ; tier 2 x 0.06 = 0.12
    assert b.line("consumption above tier 1").amount == pytest.approx(0.12)
    assert b.total == pytest.approx(4.92)


# ------------------------------------------------------------------------------------------ export credits
def test_chongqing_v2g_export_credit() -> None:
    # Chongqing V2G: charging at the residential TOU (valley 0.34, 00-08), discharge paid from a series.
    # Mon 2024-07-15: 7 kW 00:00-04:00 -> 28 kWh x 0.34 = 9.52 ; -6 kW 20:00-22:00 -> 12 kWh exported
    # hand-made export series: 1.2 CNY/kWh in 20:00-22:00, 0.4 otherwise -> credit 12 x 1.2 = 14.4
    # total = 9.52 - 14.4 = -4.88 CNY
    tariff = get_tariff("cn-chongqing-v2g-discharge")
    tz = "Asia/Shanghai"
    load = profile(
        "2024-07-15",
        tz,
        [("2024-07-15 00:00", "2024-07-15 04:00", 7.0), ("2024-07-15 20:00", "2024-07-15 22:00", -6.0)],
    )
    hours = pd.date_range("2024-07-15", periods=24, freq="1h", tz=tz)
    export = pd.Series(np.where((hours.hour >= 20) & (hours.hour < 22), 1.2, 0.4), index=hours)
    b = bill(load, tariff, export_spot=export)
    assert b.import_kwh == pytest.approx(28.0) and b.export_kwh == pytest.approx(12.0)
    assert b.amount("export") == pytest.approx(-14.4)
    assert b.total == pytest.approx(-4.88)
    with pytest.raises(VgiError, match="export price series"):
        bill(load, tariff)


def test_fixed_and_period_export_prices() -> None:
    # export by period: peak 0.5, else 0.2 (plus a 0.1 subsidy per kWh); -4 kW 18:00-19:00 (peak) and
    # -4 kW 02:00-03:00 (valley): 4 x 0.6 + 4 x 0.3 = 3.6 credit
    data = {
        "id": "t",
        "name": "t",
        "region": "r",
        "country": "CN",
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "valid_from": "2024-01-01",
        "source": "test",
        "verification": "assumption",
        "energy": {
            "prices": {"peak": 0.6, "valley": 0.3},
            "seasons": [
                {
                    "default_period": "peak",
                    "windows": {"all": [{"start": "00:00", "end": "08:00", "period": "valley"}]},
                }
            ],
        },
        "export": {"kind": "periods", "prices": {"peak": 0.5}, "price": 0.2, "extra": 0.1},
    }
    load = profile(
        "2024-05-02",
        "Asia/Shanghai",
        [("2024-05-02 18:00", "2024-05-02 19:00", -4.0), ("2024-05-02 02:00", "2024-05-02 03:00", -4.0)],
    )
    assert bill(load, load_tariff(data)).total == pytest.approx(-3.6)
    data["export"] = {"kind": "import_fraction", "fraction": 0.5}  # 4 x 0.3 + 4 x 0.15 = 1.8
    assert bill(load, load_tariff(data)).total == pytest.approx(-1.8)


# ------------------------------------------------------------------------------------ trigger-based CPP
def test_guangzhou_trigger_based_critical_peak_day() -> None:
    # Guangzhou, 2 kW 10:00-18:00 (16 kWh).  On a normal June day: peak 10-12, 14-18 = 12 kWh x 0.9863
    # = 11.8356 ; flat 12-14 = 4 kWh x 0.5802 = 2.3208 -> 14.1564
    # On a >= 35 degC day (given as critical_peak_days): 11-12 and 15-17 at 1.232875:
    # peak 10-11, 14-15, 17-18 = 6 kWh x 0.9863 = 5.9178 ; critical 6 kWh x 1.232875 = 7.39725 ;
    # flat 2.3208 -> 15.63585.  Every July day has the critical peak without a trigger: 15.63585.
    tariff = get_tariff("cn-guangzhou-residential-ev")
    june = profile("2024-06-20", "Asia/Shanghai", [("2024-06-20 10:00", "2024-06-20 18:00", 2.0)])
    assert bill(june, tariff).total == pytest.approx(14.1564)
    hot = bill(june, tariff, critical_peak_days=[dt.date(2024, 6, 20)])
    assert energy(hot, "critical_peak") == pytest.approx(7.39725)
    assert hot.total == pytest.approx(15.63585)
    assert bill(june, tariff, critical_peak_days=[dt.date(2024, 6, 21)]).total == pytest.approx(14.1564)
    july = profile("2024-07-15", "Asia/Shanghai", [("2024-07-15 10:00", "2024-07-15 18:00", 2.0)])
    assert bill(july, tariff).total == pytest.approx(15.63585)
    # Shenzhen records the Guangdong rule with applies: false: a trigger day changes nothing
    sz = get_tariff("cn-shenzhen-residential-ev")
    assert bill(july, sz).total == pytest.approx(
        bill(july, sz, critical_peak_days=[dt.date(2024, 7, 15)]).total
    )


def test_hubei_daily_critical_window() -> None:
    # Hubei EV pilot: flat 0.58 (07-17), peak 0.68 (17-23) with 20-22 critical 0.78, valley 0.43 (23-07).
    # 1 kW all day: 8 x 0.43 + 10 x 0.58 + 4 x 0.68 + 2 x 0.78 = 3.44 + 5.8 + 2.72 + 1.56 = 13.52
    load = profile("2024-06-03", "Asia/Shanghai", [("2024-06-03 00:00", "2024-06-04 00:00", 1.0)])
    assert bill(load, get_tariff("cn-hubei-residential-ev")).total == pytest.approx(13.52)


# ------------------------------------------------------------------------------------- demand with windows
def test_demand_charge_limited_to_clock_windows() -> None:
    # 10 USD/kW of the month's peak in weekday 16-21 only, 15-min averages.  Peaks: 30 kW at 03:00 (outside),
    # 8 kW at 17:00 on Tue 2024-06-04 -> 80 USD ; 50 kW at 17:00 on Sat 2024-06-08 (weekend: outside)
    tariff = load_tariff(
        {
            "id": "t",
            "name": "t",
            "region": "r",
            "country": "US",
            "currency": "USD",
            "timezone": "America/Los_Angeles",
            "valid_from": "2024-01-01",
            "source": "test",
            "verification": "assumption",
            "energy": {"prices": {"all": 0.0}, "seasons": [{"default_period": "all"}]},
            "demand_charges": [
                {
                    "price_per_kw": 10.0,
                    "windows": {"weekday": [{"start": "16:00", "end": "21:00"}], "weekend": []},
                }
            ],
        }
    )
    load = profile(
        "2024-06-03",
        "America/Los_Angeles",
        [
            ("2024-06-04 03:00", "2024-06-04 03:15", 30.0),
            ("2024-06-04 17:00", "2024-06-04 17:30", 8.0),
            ("2024-06-08 17:00", "2024-06-08 17:15", 50.0),
        ],
        n_days=7,
    )
    b = bill(load, tariff)
    assert b.amount("demand") == pytest.approx(80.0)
    assert bill_totals(load.to_numpy(), load.index, tariff)[0] == pytest.approx(80.0)


def test_bad_inputs() -> None:
    tariff = get_tariff("uk-octopus-go")
    naive = pd.Series([1.0, 1.0], index=pd.date_range("2024-06-01", periods=2, freq="1h"))
    with pytest.raises(VgiError, match="tz-aware"):
        bill(naive, tariff)
    one = pd.Series([1.0], index=pd.DatetimeIndex([pd.Timestamp("2024-06-01T00:00Z")]))
    with pytest.raises(VgiError, match="step"):
        bill(one, tariff)
    assert bill(one, tariff, step_minutes=60).import_kwh == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- property: additivity
ADDITIVE = ["us-sdge-ev-tou-5", "uk-octopus-go", "cn-chongqing-v2g-discharge", "us-pge-ev2a"]
STARTS = ["2024-03-09", "2024-03-30", "2024-06-28", "2024-10-26", "2024-11-02", "2024-12-30"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tariff_id=st.sampled_from(ADDITIVE),
    first=st.sampled_from(STARTS),
    n_days=st.integers(min_value=2, max_value=4),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_bill_is_additive_over_days(tariff_id: str, first: str, n_days: int, seed: int) -> None:
    """Energy, export and per-day / prorated per-month fixed charges add up over local days (DST days too)."""
    tariff = get_tariff(tariff_id)
    tz = tariff.timezone
    rng = np.random.default_rng(seed)
    grid = TimeGrid.local_days(first, n_days, 15, tz)
    power = rng.uniform(-10.0, 10.0, grid.n_steps) * (rng.random(grid.n_steps) < 0.7)
    load = pd.Series(power, index=grid.utc_index)
    export = pd.Series(rng.uniform(0.0, 2.0, grid.n_steps), index=grid.utc_index)
    kw = {"export_spot": export} if tariff.export.kind == "series" else {}
    whole = bill(load, tariff, **kw).total
    parts = 0.0
    for d in range(n_days):
        day = TimeGrid.local_days(pd.Timestamp(first) + pd.Timedelta(days=d), 1, 15, tz)
        sel = (load.index >= day.start) & (load.index < day.end)
        part_kw = {"export_spot": export[sel]} if kw else {}
        parts += bill(load[sel], tariff, step_minutes=15, **part_kw).total
    assert whole == pytest.approx(parts, rel=1e-9, abs=1e-9)


def test_subscription_never_below_one_block() -> None:
    """A 1 kW peak on PG&E BEV-1 pays one 10 kW block (12.41), not 1 kW of overage (2.48): no zero subscription."""
    import pandas as pd

    from vgi.io.tariff_library import get_tariff
    from vgi.settle.bills import bill, bill_totals

    tariff = get_tariff("us-pge-bev1")
    index = pd.date_range("2024-08-01", periods=96, freq="15min", tz="America/Los_Angeles")
    load = pd.Series(0.0, index=index)
    load.iloc[40] = 1.0
    result = bill(load, tariff)
    assert result.amount("subscription") == pytest.approx(12.41)
    assert result.amount("overage") == pytest.approx(0.0)
    totals = bill_totals(load.to_numpy()[None, :], index, tariff)
    assert totals[0] == pytest.approx(result.total)


def test_monthly_charges_prorated_for_a_short_horizon() -> None:
    """PG&E BEV-1, one week of August 2024 with a 26 kW peak: the cheapest subscription is 3 blocks (37.23 USD a
    month; 2 blocks + 6 kW overage would be 24.82 + 14.88 = 39.70).  Charged in full by default; prorated it is
    37.23 x 7/31 = 8.40677... USD."""
    import pandas as pd

    from vgi.io.tariff_library import get_tariff
    from vgi.settle.bills import bill, bill_totals

    tariff = get_tariff("us-pge-bev1")
    index = pd.date_range("2024-08-05", periods=7 * 96, freq="15min", tz="America/Los_Angeles")
    load = pd.Series(0.0, index=index)
    load.iloc[100] = 26.0  # Tue 01:00-01:15, off-peak: 6.5 kWh x 0.18867 = 1.2263550
    full = bill(load, tariff)
    prorated = bill(load, tariff, prorate_monthly=True)
    assert full.amount("subscription") == pytest.approx(37.23)
    assert prorated.amount("subscription") == pytest.approx(37.23 * 7 / 31)
    assert prorated.amount("energy") == pytest.approx(6.5 * 0.18867)
    totals = bill_totals(np.vstack([load.to_numpy()]), index, tariff, prorate_monthly=True)
    assert totals[0] == pytest.approx(prorated.total)
