"""Baselines worked out by hand on a small metered history.

History (hourly, UTC): on each working day d from Mon 2024-06-03 to Fri 2024-06-14 the load is a flat c_d kW, plus
1 kW in the hours 17:00-19:00; c_d = 10, 12, ..., 28 in date order (Jun 3, 4, 5, 6, 7, 10, 11, 12, 13, 14).
Weekends: 5 kW flat.  Event day Mon 2024-06-17: 30 kW until 17:00 (the event runs 17:00-19:00).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from vgi.dr import baselines as bl
from vgi.dr.programmes import BaselineSpec, get_programme
from vgi.errors import VgiError

WORKING = ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07",
           "2024-06-10", "2024-06-11", "2024-06-12", "2024-06-13", "2024-06-14"]
C_D = dict(zip(WORKING, range(10, 30, 2), strict=True))
START = pd.Timestamp("2024-06-17 17:00", tz="UTC")
END = pd.Timestamp("2024-06-17 19:00", tz="UTC")


def history() -> pd.Series:
    idx = pd.date_range("2024-06-01", "2024-06-18", freq="h", inclusive="left", tz="UTC")
    kw = np.empty(len(idx))
    for i, t in enumerate(idx):
        day = t.strftime("%Y-%m-%d")
        if day == "2024-06-17":
            kw[i] = 30.0 if t.hour < 17 else 15.0
        elif day in C_D:
            kw[i] = C_D[day] + (1.0 if 17 <= t.hour < 19 else 0.0)
        else:
            kw[i] = 5.0
    return pd.Series(kw, index=idx)


def test_caiso_10_in_10_with_capped_load_point_adjustment() -> None:
    res = bl.caiso_10_in_10(history(), START, END)
    # the 10 working days: mean c_d = (10 + 12 + ... + 28) / 10 = 190 / 10 = 19; event hours +1 -> 20 kW
    assert res.unadjusted_kw.to_numpy() == pytest.approx([20.0, 20.0])
    assert len(res.days_used) == 10 and dt.date(2024, 6, 8) not in res.days_used
    # adjustment window 13:00-16:00: actual 30, baseline 19 -> ratio 30/19 = 1.5789, capped at 1.2
    assert res.adjustment_uncapped == pytest.approx(30 / 19)
    assert res.adjustment == pytest.approx(1.2)
    # 20 x 1.2 = 24 kW
    assert res.baseline_kw.to_numpy() == pytest.approx([24.0, 24.0])
    assert any("capped" in n for n in res.notes)


def test_10_in_10_uncapped_adjustment() -> None:
    res = bl.day_matching(history(), START, END, x=10, y=10, adjustment="multiplicative",
                          adjustment_window_minutes=(-240, -60))
    # 20 x 30/19 = 31.5789 kW
    assert res.baseline_kw.to_numpy() == pytest.approx([20 * 30 / 19] * 2)


def test_high_4_of_5_with_additive_adjustment() -> None:
    res = bl.high_4_of_5(history(), START, END)
    # 5 most recent working days: Jun 14 (28), 13 (26), 12 (24), 11 (22), 10 (20); 4 highest: 28, 26, 24, 22
    assert set(res.days_used) == {dt.date(2024, 6, d) for d in (14, 13, 12, 11)}
    # mean 25, event hours 26; adjustment window: actual 30 - baseline 25 = +5 -> 31 kW
    assert res.unadjusted_kw.to_numpy() == pytest.approx([26.0, 26.0])
    assert res.adjustment == pytest.approx(5.0)
    assert res.baseline_kw.to_numpy() == pytest.approx([31.0, 31.0])


def test_similar_days_average() -> None:
    res = bl.similar_days_average(history(), START, END, n_days=5)
    # (28 + 26 + 24 + 22 + 20) / 5 = 24, +1 in the event hours = 25 kW; no adjustment
    assert res.baseline_kw.to_numpy() == pytest.approx([25.0, 25.0])
    assert res.adjustment is None


def test_similar_days_excludes_event_days_and_names_skipped_days() -> None:
    h = history()
    h[pd.Timestamp("2024-06-12 18:00", tz="UTC")] = np.nan
    res = bl.similar_days_average(h, START, END, n_days=5, exclude_days=[dt.date(2024, 6, 14)])
    # Jun 14 excluded, Jun 12 incomplete: Jun 13 (26), 11 (22), 10 (20), 7 (18), 6 (16) -> 20.4 + 1 = 21.4
    assert res.baseline_kw.to_numpy() == pytest.approx([21.4, 21.4])
    assert any("2024-06-12" in n and "missing" in n for n in res.notes)
    assert any("2024-06-14" in n and "excluded" in n for n in res.notes)


def test_too_few_days_is_an_error() -> None:
    h = history()
    h[pd.Timestamp("2024-06-12 18:00", tz="UTC")] = np.nan
    # a plain 10-of-10 needs all 10 days (CAISO's rule accepts 5 to 9: see tests/test_dr_audit.py)
    with pytest.raises(VgiError, match="only 9 complete working day"):
        bl.day_matching(h, START, END, x=10, y=10)


def test_weekend_event_uses_4_in_4_non_working_days() -> None:
    h = history()
    start = pd.Timestamp("2024-06-16 17:00", tz="UTC")
    res = bl.caiso_10_in_10(h, start, start + pd.Timedelta(hours=1))
    # non-working days before Sun Jun 16: Jun 15, 9, 8, 2 (all 5 kW); adjustment ratio 5/5 = 1
    assert res.method == "CAISO 4-in-4"
    assert res.days_used == tuple(dt.date(2024, 6, d) for d in (15, 9, 8, 2))
    assert res.baseline_kw.to_numpy() == pytest.approx([5.0])


def test_holiday_counts_as_non_working() -> None:
    res = bl.similar_days_average(history(), START, END, n_days=4, holidays=[dt.date(2024, 6, 14)])
    # Jun 14 is a holiday: Jun 13 (26), 12 (24), 11 (22), 10 (20) -> 23 + 1 = 24
    assert res.baseline_kw.to_numpy() == pytest.approx([24.0, 24.0])


def test_day_matching_across_a_dst_change_matches_local_clock_times() -> None:
    # 15-min data in London, 2024-03-25 .. 2024-04-09 (clocks go forward on Sun 31 March)
    idx = pd.date_range("2024-03-25", "2024-04-09", freq="15min", inclusive="left", tz="Europe/London")
    minutes = idx.hour * 60 + idx.minute
    kw = pd.Series(1.0 + minutes.to_numpy() / 60.0, index=idx)  # 1 kW at midnight, +1 kW per local hour
    start = pd.Timestamp("2024-04-08 18:00", tz="Europe/London")
    res = bl.similar_days_average(kw, start, start + pd.Timedelta(hours=1), n_days=5)
    # 18:00 -> 19 kW, 18:15 -> 19.25, 18:30 -> 19.5, 18:45 -> 19.75 on every day, whatever its UTC offset
    assert res.baseline_kw.to_numpy() == pytest.approx([19.0, 19.25, 19.5, 19.75])


def test_declared_schedule_is_the_exact_step_average_of_the_piecewise_linear_notification() -> None:
    pts = pd.Series([1000.0, 1000.0, 500.0, 500.0], index=pd.DatetimeIndex(
        ["2024-01-10 17:00", "2024-01-10 17:30", "2024-01-10 18:00", "2024-01-10 18:30"], tz="UTC"))
    res = bl.declared_schedule(pts, pts.index[0], pts.index[-1], 15)
    # 17:30-17:45 ramps 1000 -> 750: average 875; 17:45-18:00 ramps 750 -> 500: average 625
    assert res.baseline_kw.to_numpy() == pytest.approx([1000, 1000, 875, 625, 500, 500])


def test_declared_schedule_with_a_breakpoint_inside_a_step() -> None:
    pts = pd.Series([0.0, 600.0, 600.0], index=pd.DatetimeIndex(
        ["2024-01-10 17:00", "2024-01-10 17:20", "2024-01-10 17:45"], tz="UTC"))
    res = bl.declared_schedule(pts, pts.index[0], pts.index[-1], 15)
    # 17:00-17:15: 0 -> 450, average 225; 17:15-17:30: 5 min 450 -> 600 (avg 525) then 10 min at 600:
    # (525 x 5 + 600 x 10) / 15 = 575; 17:30-17:45: 600
    assert res.baseline_kw.to_numpy() == pytest.approx([225.0, 575.0, 600.0])
    step = bl.declared_schedule(pts, pts.index[0], pts.index[-1], 15, interpolation="step")
    # held values: 17:00-17:15 is 0; 17:15-17:30: 5 min at 0 then 10 at 600 -> 400; then 600
    assert step.baseline_kw.to_numpy() == pytest.approx([0.0, 400.0, 600.0])


def test_declared_schedule_must_cover_the_window() -> None:
    pts = pd.Series([1.0, 1.0], index=pd.DatetimeIndex(["2024-01-10 17:00", "2024-01-10 17:30"], tz="UTC"))
    with pytest.raises(VgiError, match="not the whole window"):
        bl.declared_schedule(pts, pts.index[0], pts.index[0] + pd.Timedelta(hours=1), 15)


def test_meter_before_after() -> None:
    idx = pd.date_range("2024-01-10 16:30", periods=12, freq="5min", tz="UTC")
    kw = pd.Series([90.0, 90, 90, 100, 110, 120, 40, 40, 40, 40, 40, 40], index=idx)
    res = bl.meter_before_after(kw, idx[6], idx[6] + pd.Timedelta(minutes=15), before_minutes=15)
    # the 15 min before 17:00: 100, 110, 120 -> 110 kW held through the three delivery steps
    assert res.baseline_kw.to_numpy() == pytest.approx([110.0, 110.0, 110.0])


def test_event_off_the_metering_step_is_an_error() -> None:
    with pytest.raises(VgiError, match="not on the metering step"):
        bl.similar_days_average(history(), START + pd.Timedelta(minutes=10), END)


def test_baseline_for_uses_the_programme_rule() -> None:
    caiso = get_programme("caiso-dera")
    res = bl.baseline_for(caiso, history(), START, END, holidays=())
    assert res.baseline_kw.to_numpy() == pytest.approx([24.0, 24.0])
    spec = BaselineSpec(method="similar_days", y=5)
    assert bl.baseline_for(spec, history(), START, END).baseline_kw.to_numpy() == pytest.approx([25.0, 25.0])
    with pytest.raises(VgiError, match="declared schedule"):
        bl.baseline_for(get_programme("uk-bm"), history(), START, END)
