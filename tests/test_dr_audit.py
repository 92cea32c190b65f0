"""Audit of the demand-response baselines and settlement rules, worked out by hand from the published rules.

Every expected number below was computed by hand from the rule quoted in the test's docstring, before running the
code.  The rules are those of ``docs/demand-response.md`` (CAISO Customer Load Baseline, PJM high 4 of 5, the
similar-days average of Chinese provincial rules, Guangdong's R1/M penalty, CAISO's no-double-compensation rule).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from vgi.dr import baselines as bl
from vgi.dr.events import Event
from vgi.dr.programmes import get_programme
from vgi.dr.settlement import CompensationLedger, settle_arrays, settle_event
from vgi.errors import VgiError

LA = "America/Los_Angeles"
SH = "Asia/Shanghai"

# ----------------------------------------------------------------------------------------------- CAISO 10-in-10
#
# Hourly history, America/Los_Angeles, 2024-05-25 .. 2024-07-15.  Event: Mon 2024-07-15 16:00-18:00.
# Weekdays before the event, newest first: Fri 12, Thu 11, [Wed 10 = an earlier event day], Tue 9, Mon 8,
# Fri 5, [Thu 4 = Independence Day], Wed 3, Tue 2, Mon 1 July, Fri 28, Thu 27 June -> the 10 eligible days are
# Jul 12, 11, 9, 8, 5, 3, 2, 1, Jun 28, 27, each at 20 kW flat.  Older weekdays are 50 kW, the holiday and the
# event day 100 kW, weekends 5 kW: a wrong day choice moves the baseline away from 20 kW.

ELIGIBLE = [dt.date(2024, 7, d) for d in (12, 11, 9, 8, 5, 3, 2, 1)] + [dt.date(2024, 6, 28), dt.date(2024, 6, 27)]
EVENT_START = pd.Timestamp("2024-07-15 16:00", tz=LA)
EVENT_END = pd.Timestamp("2024-07-15 18:00", tz=LA)


def caiso_history(pre_event_kw: float, first_day: str = "2024-05-25") -> pd.Series:
    idx = pd.date_range(first_day, "2024-07-16", freq="h", inclusive="left", tz=LA)
    kw = np.empty(len(idx))
    for i, t in enumerate(idx):
        d = t.date()
        if d == dt.date(2024, 7, 15):
            # the event day: pre_event_kw until 15:00; the buffer hour 15:00-16:00 at 40 kW (must not count);
            # 6 kW during the event
            kw[i] = pre_event_kw if t.hour < 15 else (40.0 if t.hour == 15 else 6.0)
        elif d in (dt.date(2024, 7, 4), dt.date(2024, 7, 10)):
            kw[i] = 100.0
        elif t.weekday() >= 5:
            kw[i] = 5.0
        elif d in ELIGIBLE:
            kw[i] = 20.0
        else:
            kw[i] = 50.0
    return pd.Series(kw, index=idx)


US_HOLIDAYS = bl.country_holidays("US", [2024])
PRIOR_EVENTS = [dt.date(2024, 7, 10)]


def test_caiso_10_in_10_adjustment_hits_the_lower_cap() -> None:
    """Load point adjustment (ratio) from hours -4..-2 (12:00-15:00), capped at +/-20 %.

    Baseline of the 10 days: 20 kW.  Event day 12:00-15:00: 12 kW -> ratio 12/20 = 0.6 -> capped at 0.8 ->
    20 x 0.8 = 16 kW in both event hours.  (Had the buffer hour 15:00 been used, 13:00-16:00 would give
    (12 + 12 + 40)/3 / 20 = 1.067.)
    """
    res = bl.caiso_10_in_10(caiso_history(12.0), EVENT_START, EVENT_END, holidays=US_HOLIDAYS,
                            exclude_days=PRIOR_EVENTS)
    assert res.unadjusted_kw is not None
    assert res.unadjusted_kw.to_numpy() == pytest.approx([20.0, 20.0])
    assert res.adjustment_uncapped == pytest.approx(0.6)
    assert res.adjustment == pytest.approx(0.8)
    assert res.baseline_kw.to_numpy() == pytest.approx([16.0, 16.0])


def test_caiso_10_in_10_excludes_holidays_and_prior_event_days() -> None:
    """The 10 most recent weekdays that are neither holidays nor event days within 45 days.

    Days used: Jul 12, 11, 9, 8, 5, 3, 2, 1, Jun 28, 27 (Jul 4 and Jul 10 skipped) -> 20 kW.  Event day
    12:00-15:00 at 22 kW: ratio 22/20 = 1.1 (inside the cap) -> 22 kW.  Through the programme (caiso-dera, US
    public holidays by default) the result is the same.
    """
    res = bl.caiso_10_in_10(caiso_history(22.0), EVENT_START, EVENT_END, holidays=US_HOLIDAYS,
                            exclude_days=PRIOR_EVENTS)
    assert list(res.days_used) == ELIGIBLE
    assert res.adjustment == pytest.approx(1.1)
    assert res.baseline_kw.to_numpy() == pytest.approx([22.0, 22.0])
    via = bl.baseline_for(get_programme("caiso-dera"), caiso_history(22.0), EVENT_START, EVENT_END,
                          exclude_days=PRIOR_EVENTS)
    assert list(via.days_used) == ELIGIBLE
    assert via.baseline_kw.to_numpy() == pytest.approx([22.0, 22.0])
    # without telling it about the earlier event, Jul 10 (100 kW) displaces Jun 27: (9 x 20 + 100)/10 = 28 kW
    # unadjusted; 12:00-15:00 ratio 22/28 = 0.786 -> capped 0.8 -> 22.4 kW
    wrong = bl.caiso_10_in_10(caiso_history(22.0), EVENT_START, EVENT_END, holidays=US_HOLIDAYS)
    assert wrong.baseline_kw.to_numpy() == pytest.approx([22.4, 22.4])


def test_caiso_fewer_than_10_days_uses_at_least_5() -> None:
    """History from Mon 1 July: 8 eligible weekdays (Jul 12, 11, 9, 8, 5, 3, 2, 1) -> all 8 used, 20 kW, ratio
    22/20 -> 22 kW.  From Mon 8 July only 4 (Jul 12, 11, 9, 8): below CAISO's minimum of 5 -> an error."""
    res = bl.caiso_10_in_10(caiso_history(22.0, "2024-07-01"), EVENT_START, EVENT_END, holidays=US_HOLIDAYS,
                            exclude_days=PRIOR_EVENTS)
    assert list(res.days_used) == ELIGIBLE[:8]
    assert res.baseline_kw.to_numpy() == pytest.approx([22.0, 22.0])
    with pytest.raises(VgiError, match="only 4 complete working day"):
        bl.caiso_10_in_10(caiso_history(22.0, "2024-07-08"), EVENT_START, EVENT_END, holidays=US_HOLIDAYS,
                          exclude_days=PRIOR_EVENTS)


def test_caiso_weekend_event_uses_4_in_4_with_holidays() -> None:
    """Sat 13 July 16:00-17:00: the 4 most recent weekend days or holidays: Sun 7, Sat 6, Thu 4 (holiday),
    Sun 30 June -> (5 + 5 + 100 + 5)/4 = 28.75 kW.  Adjustment 12:00-15:00: actual 5 / 28.75 = 0.174 -> 0.8 ->
    23.0 kW.  The caiso-dera programme applies the same rule (it used 10 non-working days before the audit)."""
    start = pd.Timestamp("2024-07-13 16:00", tz=LA)
    end = start + pd.Timedelta(hours=1)
    h = caiso_history(22.0)
    res = bl.caiso_10_in_10(h, start, end, holidays=US_HOLIDAYS)
    assert res.method == "CAISO 4-in-4"
    assert list(res.days_used) == [dt.date(2024, 7, 7), dt.date(2024, 7, 6), dt.date(2024, 7, 4),
                                   dt.date(2024, 6, 30)]
    assert res.unadjusted_kw is not None
    assert res.unadjusted_kw.to_numpy() == pytest.approx([28.75])
    assert res.baseline_kw.to_numpy() == pytest.approx([23.0])
    via = bl.baseline_for(get_programme("caiso-dera"), h, start, end)
    assert via.method == "CAISO 4-in-4"
    assert via.baseline_kw.to_numpy() == pytest.approx([23.0])


# ----------------------------------------------------------------------------------------------- high 4 of 5


def test_high_4_of_5_ranks_by_event_window_load() -> None:
    """PJM weekday CBL: the 5 most recent weekdays (Fri 14, Thu 13, Wed 12, Tue 11, Mon 10 June), ranked by their
    average load over the event window (17:00-19:00), the highest 4 averaged; symmetric additive adjustment from the
    three hours ending one hour before the event (13:00-16:00).

    Event-window load: Jun 14: 10, 13: 30, 12: 20, 11: 25, 10: 15 (other hours 10 kW, but 40 kW on Jun 14, so
    Jun 14 has the highest daily average and must still be dropped).  Highest 4: 30, 25, 20, 15 -> 22.5 kW.
    Adjustment: the chosen days are 10 kW at 13:00-16:00; the event day 14 kW (and 50 kW in the 16:00 buffer
    hour) -> +4 kW -> 26.5 kW.
    """
    window_kw = {dt.date(2024, 6, 14): 10.0, dt.date(2024, 6, 13): 30.0, dt.date(2024, 6, 12): 20.0,
                 dt.date(2024, 6, 11): 25.0, dt.date(2024, 6, 10): 15.0}
    idx = pd.date_range("2024-06-01", "2024-06-18", freq="h", inclusive="left", tz="UTC")
    kw = np.empty(len(idx))
    for i, t in enumerate(idx):
        d = t.date()
        in_window = 17 <= t.hour < 19
        if d == dt.date(2024, 6, 17):
            kw[i] = 12.0 if in_window else (50.0 if t.hour == 16 else 14.0)
        elif t.weekday() >= 5:
            kw[i] = 5.0
        elif d in window_kw:
            kw[i] = window_kw[d] if in_window else (40.0 if d == dt.date(2024, 6, 14) else 10.0)
        else:
            kw[i] = 100.0  # older weekdays: outside the 5 most recent
    start = pd.Timestamp("2024-06-17 17:00", tz="UTC")
    res = bl.high_4_of_5(pd.Series(kw, index=idx), start, start + pd.Timedelta(hours=2))
    assert sorted(res.days_used) == [dt.date(2024, 6, d) for d in (10, 11, 12, 13)]
    assert res.unadjusted_kw is not None
    assert res.unadjusted_kw.to_numpy() == pytest.approx([22.5, 22.5])
    assert res.adjustment == pytest.approx(4.0)
    assert res.baseline_kw.to_numpy() == pytest.approx([26.5, 26.5])


# ----------------------------------------------------------------------------------------------- similar days


def test_similar_days_at_15_minutes_guangdong() -> None:
    """Guangdong's programme file: the average of the same 15-min points on the 5 most recent working days of the
    event day's type, excluding event days and (by default) China's public holidays.

    Event Mon 2024-06-17 18:00-19:00 (Asia/Shanghai).  Working days before it, newest first: Fri 14, [Thu 13 =
    an earlier event], Wed 12, Tue 11, [Mon 10 = Dragon Boat Festival], Fri 7, Thu 6 -> Jun 14, 12, 11, 7, 6 with
    v = 100, 110, 120, 130, 140 kW; each day's 18:00-19:00 quarters are v, v + 4, v + 8, v + 12.
    Baseline per quarter: mean(v) = 120 -> 120, 124, 128, 132 kW.
    """
    v = {dt.date(2024, 6, 14): 100.0, dt.date(2024, 6, 13): 500.0, dt.date(2024, 6, 12): 110.0,
         dt.date(2024, 6, 11): 120.0, dt.date(2024, 6, 10): 500.0, dt.date(2024, 6, 7): 130.0,
         dt.date(2024, 6, 6): 140.0}
    idx = pd.date_range("2024-05-20", "2024-06-18", freq="15min", inclusive="left", tz=SH)
    kw = np.empty(len(idx))
    for i, t in enumerate(idx):
        d = t.date()
        base = 50.0 if t.weekday() >= 5 else v.get(d, 300.0)
        kw[i] = base + (4.0 * (t.minute // 15) if t.hour == 18 else 0.0)
    start = pd.Timestamp("2024-06-17 18:00", tz=SH)
    res = bl.baseline_for(get_programme("cn-guangdong-dr-day-ahead"), pd.Series(kw, index=idx), start,
                          start + pd.Timedelta(hours=1), exclude_days=[dt.date(2024, 6, 13)])
    assert list(res.days_used) == [dt.date(2024, 6, d) for d in (14, 12, 11, 7, 6)]
    assert res.baseline_kw.to_numpy() == pytest.approx([120.0, 124.0, 128.0, 132.0])
    assert len(res.baseline_kw) == 4


# ----------------------------------------------------------------------------------------------- Guangdong


@pytest.mark.parametrize(
    ("share", "metered_kw", "energy_payment", "penalty"),
    [
        # 30 %: 300 kWh/h < R1 x 1000 = 500: invalid, unpaid; penalty (500 - 300) x 1.5 x 0.5 = 150 per hour
        (0.3, 2700.0, 0.0, 300.0),
        # 70 %: 700 kWh/h paid at 1.5 -> 1050 per hour
        (0.7, 2300.0, 2100.0, 0.0),
        # 100 %: 1000 x 1.5 = 1500 per hour
        (1.0, 2000.0, 3000.0, 0.0),
        # 130 %: paid up to 120 % -> 1200 x 1.5 = 1800 per hour; the extra 100 kWh unpaid, not penalised
        (1.3, 1700.0, 3600.0, 0.0),
    ],
)
def test_guangdong_delivery_shares(share: float, metered_kw: float, energy_payment: float, penalty: float) -> None:
    """1,000 kW cleared for two hours (15-min metering, hourly settlement) at 1.5 CNY/kWh; baseline 3,000 kW."""
    idx = pd.date_range("2024-06-17 18:00", periods=8, freq="15min", tz=SH)
    st = settle_arrays("cn-guangdong-dr-day-ahead", idx, [3000.0] * 8, [metered_kw] * 8, 0.25, 1000.0,
                       price_per_kwh=1.5)
    assert st.response_kwh == pytest.approx(2 * 1000.0 * share)
    assert st.committed_kwh == pytest.approx(2000.0)
    assert st.energy_payment == pytest.approx(energy_payment)
    assert st.under_penalty == pytest.approx(penalty)
    assert st.over_penalty == 0.0
    assert st.net == pytest.approx(energy_payment - penalty)


def test_guangdong_event_starting_and_ending_inside_a_metering_step() -> None:
    """Event 18:05-18:50 on 15-min metering: the 18:00 step counts 10/15, 18:15 and 18:30 fully, 18:45 5/15 ->
    0.75 h.  Baseline 3,000, metered 2,000 -> 1,000 kW x 0.75 h = 750 kWh; committed 1,000 kW x 0.75 h = 750 kWh
    -> performance 1, paid 750 x 1.5 = 1,125 CNY."""
    idx = pd.date_range("2024-06-17 18:00", periods=4, freq="15min", tz=SH)
    base = bl.BaselineResult(pd.Series(3000.0, index=idx), "given")
    metered = pd.Series(2000.0, index=pd.date_range("2024-06-17 17:00", periods=12, freq="15min", tz=SH))
    ev = Event(pd.Timestamp("2024-06-17 18:05", tz=SH), pd.Timestamp("2024-06-17 18:50", tz=SH), 1000.0,
               price_per_kwh=1.5)
    st = settle_event("cn-guangdong-dr-day-ahead", ev, metered, baseline=base)
    assert st.response_kwh == pytest.approx(750.0)
    assert st.committed_kwh == pytest.approx(750.0)
    assert st.energy_payment == pytest.approx(1125.0)
    assert st.under_penalty == 0.0


# ----------------------------------------------------------------------------------------------- CAISO overlap


def test_caiso_dera_and_elrp_never_pay_the_same_kwh() -> None:
    """A site cuts 100 kW from 17:00 to 18:00.  ELRP (retail, 2 USD/kWh, hourly meter) and the DERA (wholesale,
    0.15 USD/kWh, 15-min meter, 100 kW committed) exclude each other.

    ELRP first: 100 kWh x 2 = 200 USD; the DERA's 4 x 25 kWh were all paid already -> 0 USD, no shortfall charge
    (the response was delivered).  DERA first: 100 x 0.15 = 15 USD; ELRP 0.  ELRP for 17:00-17:30 only (50 kWh,
    100 USD): the DERA pays the other 50 kWh -> 7.5 USD.
    """
    hour = pd.date_range("2024-07-15 17:00", periods=1, freq="h", tz=LA)
    q = pd.date_range("2024-07-15 17:00", periods=4, freq="15min", tz=LA)

    ledger = CompensationLedger()
    elrp = settle_arrays("us-pge-elrp", hour, [300.0], [200.0], 1.0, None, ledger=ledger, resource="site")
    dera = settle_arrays("caiso-dera", q, [300.0] * 4, [200.0] * 4, 0.25, 100.0, price_per_kwh=0.15,
                         ledger=ledger, resource="site")
    assert elrp.net == pytest.approx(200.0)
    assert dera.excluded_kwh == pytest.approx(100.0)
    assert dera.net == pytest.approx(0.0)
    assert ledger.total_paid_kwh("site") == pytest.approx(100.0)

    ledger = CompensationLedger()
    dera = settle_arrays("caiso-dera", q, [300.0] * 4, [200.0] * 4, 0.25, 100.0, price_per_kwh=0.15,
                         ledger=ledger, resource="site")
    elrp = settle_arrays("us-pge-elrp", hour, [300.0], [200.0], 1.0, None, ledger=ledger, resource="site")
    assert dera.net == pytest.approx(15.0)
    assert elrp.net == pytest.approx(0.0)

    ledger = CompensationLedger()
    half = q[:2]
    elrp = settle_arrays("us-pge-elrp", half, [300.0] * 2, [200.0] * 2, 0.25, None, ledger=ledger,
                         resource="site")
    dera = settle_arrays("caiso-dera", q, [300.0] * 4, [200.0] * 4, 0.25, 100.0, price_per_kwh=0.15,
                         ledger=ledger, resource="site")
    assert elrp.net == pytest.approx(100.0)
    assert dera.paid_kwh == pytest.approx(50.0)
    assert dera.net == pytest.approx(7.5)
