"""Baseline days are local days of the programme's time zone, and earlier event days are left out (issue 8, 1-2).

Every history below is written in UTC (as a meter file with ``Z`` times is read), so that a baseline that took its
days from UTC dates would pick other days.  Expected values are worked out by hand from each programme's rule in
the comments; none is taken from a run of the code.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from vgi.dr import baselines as bl
from vgi.dr.events import Event
from vgi.dr.programmes import get_programme
from vgi.dr.settlement import settle_event, settle_events

LA = "America/Los_Angeles"
SH = "Asia/Shanghai"


def _history_utc(first_local: str, last_local: str, tz: str, value, freq: str = "h") -> pd.Series:  # type: ignore[no-untyped-def]
    """History at ``freq`` over local days ``[first_local, last_local)``: ``value(local date, local hour)`` kW,
    returned on a UTC index."""
    idx = pd.date_range(pd.Timestamp(first_local, tz=tz), pd.Timestamp(last_local, tz=tz), freq=freq,
                        inclusive="left")
    kw = np.array([value(t.date(), t.hour) for t in idx], dtype=float)
    return pd.Series(kw, index=idx.tz_convert("UTC"), name="power_kw")


# ----------------------------------------------------------------------------------------------- CAISO, evening
#
# CAISO (caiso-dera, America/Los_Angeles, US holidays).  Event Fri 2024-07-05 17:00-19:00 PDT, which is
# Sat 2024-07-06 00:00-02:00 UTC.  The day before is Independence Day (Thu 4 July), the day after a Saturday.
#
# Local load (kW, 15-minute metering as CAISO settles), by local day d and local hour h:
#   working day (Mon-Fri, not 19 June or 4 July):  100, and 100 + (day of month) in hours 17 and 18;
#   weekend day or holiday:                         60, and 30 in hours 17 and 18;
#   the event day, Fri 5 July:                     110 before 17:00, 90 in hours 17-18 (curtailed), 100 after.
#
# CAISO rule, weekday event: the 10 most recent weekdays before the event day that are not holidays, within 45
# days: Wed 3, Tue 2, Mon 1 July, Fri 28, Thu 27, Wed 26, Tue 25, Mon 24, Fri 21, Thu 20 June (4 July: holiday;
# 29-30 and 22-23 June: weekend).  Baseline in hours 17 and 18:
#   100 + (3 + 2 + 1 + 28 + 27 + 26 + 25 + 24 + 21 + 20) / 10 = 100 + 177 / 10 = 117.7 kW.
# Load point adjustment: hours -4 to -2 before the event, 13:00-16:00 PDT: actual 110, baseline 100 ->
#   ratio 1.1 (inside +/-20 %) -> 117.7 x 1.1 = 129.47 kW in both event hours.
# Response: (129.47 - 90) x 2 h = 78.94 kWh.
#
# Taken by UTC dates instead, the event day would be Saturday 6 July (a 4-in-4 weekend baseline), the days would
# include Independence Day's evening, and the adjustment window would sit on other hours.

CAISO_DAYS = [dt.date(2024, 7, d) for d in (3, 2, 1)] + [dt.date(2024, 6, d) for d in (28, 27, 26, 25, 24, 21, 20)]
US_HOLIDAYS = (dt.date(2024, 6, 19), dt.date(2024, 7, 4))


def caiso_load(d: dt.date, h: int) -> float:
    if d == dt.date(2024, 7, 5):
        return 110.0 if h < 17 else (90.0 if h < 19 else 100.0)
    if d.weekday() >= 5 or d in US_HOLIDAYS:
        return 30.0 if h in (17, 18) else 60.0
    return 100.0 + d.day if h in (17, 18) else 100.0


def caiso_history() -> pd.Series:
    return _history_utc("2024-05-15", "2024-07-06", LA, caiso_load, "15min")


CAISO_START = pd.Timestamp("2024-07-06 00:00", tz="UTC")  # Fri 5 July 17:00 PDT
CAISO_END = pd.Timestamp("2024-07-06 02:00", tz="UTC")


def test_caiso_evening_event_uses_local_days_holidays_and_adjustment() -> None:
    res = bl.baseline_for(get_programme("caiso-dera"), caiso_history(), CAISO_START, CAISO_END)
    assert res.method == "CAISO 10-in-10"
    assert list(res.days_used) == CAISO_DAYS
    assert res.unadjusted_kw is not None
    assert res.unadjusted_kw.to_numpy() == pytest.approx([117.7] * 8)
    assert res.adjustment == pytest.approx(1.1)
    assert res.baseline_kw.to_numpy() == pytest.approx([129.47] * 8)


def test_caiso_evening_event_settles_on_local_days() -> None:
    event = Event(CAISO_START.tz_convert(LA), CAISO_END.tz_convert(LA), 50.0, price_per_kwh=0.1)
    res = settle_event("caiso-dera", event, caiso_history(), uncommitted=True)
    assert res.baseline is not None and list(res.baseline.days_used) == CAISO_DAYS
    assert res.response_kwh == pytest.approx(78.94)


# ----------------------------------------------------------------------------------------------- Shanghai, night
#
# Guangdong day-ahead DR (cn-guangdong-dr-day-ahead, Asia/Shanghai, CN holidays): the 5 most recent working days of
# the 30 before the event day, no adjustment.  A valley-filling (up) event Thu 2025-01-02 01:00-03:00 CST, which is
# Wed 2025-01-01 17:00-19:00 UTC (after 16:00 UTC, so the UTC date is the day before, New Year's Day).
#
# Local load (kW), (hourly), by local day d and local hour h:
#   working day (Mon-Fri, not 1 January):  50, and 50 + (day of month) in hours 1 and 2;
#   weekend day or holiday:                20;
#   the event day, Thu 2 January:          100 in hours 1-2 (the fleet charges more), 50 otherwise.
#
# Rule: working days before Thu 2 Jan, newest first: Tue 31, Mon 30, Fri 27, Thu 26, Wed 25 December (1 January:
# holiday; 28-29 December: weekend).  Baseline: 50 + (31 + 30 + 27 + 26 + 25) / 5 = 50 + 139 / 5 = 77.8 kW.
# Response (up): (100 - 77.8) x 2 h = 44.4 kWh.
#
# The same rule for an event on New Year's Day itself, Wed 2025-01-01 01:00-03:00 CST (= Tue 2024-12-31
# 17:00-19:00 UTC, a time in the previous UTC year): 1 January 2025 is a holiday, so the 5 most recent weekend days
# or holidays: Sun 29, Sat 28, Sun 22, Sat 21, Sun 15 December, all 20 kW -> 20 kW.  (Taken as a working Wednesday
# the baseline would be 77.8 kW.)


def shanghai_load(d: dt.date, h: int) -> float:
    if d == dt.date(2025, 1, 2):
        return 100.0 if h in (1, 2) else 50.0
    if d.weekday() >= 5 or d == dt.date(2025, 1, 1):
        return 20.0
    return 50.0 + d.day if h in (1, 2) else 50.0


def shanghai_history() -> pd.Series:
    return _history_utc("2024-11-20", "2025-01-03", SH, shanghai_load)


def test_shanghai_event_after_16_utc_uses_local_days() -> None:
    start = pd.Timestamp("2025-01-01 17:00", tz="UTC")  # Thu 2 Jan 01:00 CST
    event = Event(start, start + pd.Timedelta(hours=2), 40.0, direction="up", price_per_kwh=1.0)
    res = settle_event("cn-guangdong-dr-day-ahead", event, shanghai_history(), uncommitted=True)
    assert res.baseline is not None
    assert list(res.baseline.days_used) == [dt.date(2024, 12, d) for d in (31, 30, 27, 26, 25)]
    assert res.baseline.baseline_kw.to_numpy() == pytest.approx([77.8, 77.8])
    assert res.response_kwh == pytest.approx(44.4)


def test_shanghai_holiday_of_the_local_year() -> None:
    start = pd.Timestamp("2024-12-31 17:00", tz="UTC")  # Wed 1 Jan 2025 01:00 CST
    res = bl.baseline_for(get_programme("cn-guangdong-dr-day-ahead"), shanghai_history(), start,
                          start + pd.Timedelta(hours=2))
    assert list(res.days_used) == [dt.date(2024, 12, d) for d in (29, 28, 22, 21, 15)]
    assert res.baseline_kw.to_numpy() == pytest.approx([20.0, 20.0])


# ----------------------------------------------------------------------------------------------- earlier events
#
# Guangdong rule again (5 most recent working days, 30-day lookback), two down events in one settlement:
#   event 1: Mon 2024-06-17 10:00-12:00 CST; event 2: Wed 2024-06-19 10:00-12:00 CST (02:00-04:00 UTC: the UTC and
#   local dates agree, so only the exclusion of event days is at stake here).
# Local load: working day d: 100, and 100 + (day of month) in hours 10-11; weekend 40; Mon 10 June is the Dragon
# Boat Festival (a holiday, 40); event 1's day: 60 in hours 10-11 (curtailed); event 2's day: 70 in hours 10-11.
#
# Event 1: Fri 14, Thu 13, Wed 12, Tue 11, Fri 7 June (10 June holiday) -> 100 + 57/5 = 111.4 kW;
#   response (111.4 - 60) x 2 = 102.8 kWh.
# Event 2: Tue 18, [Mon 17 = event 1, curtailed: left out], Fri 14, Thu 13, Wed 12, Tue 11 June ->
#   100 + (18 + 14 + 13 + 12 + 11)/5 = 100 + 68/5 = 113.6 kW; response (113.6 - 70) x 2 = 87.2 kWh.
#   (With Mon 17 kept: (118 + 60 + 114 + 113 + 112)/5 = 103.4 kW and 66.8 kWh: the curtailment of event 1 would
#   lower event 2's baseline.)

GD_EVENT_1 = Event(pd.Timestamp("2024-06-17 10:00", tz=SH), pd.Timestamp("2024-06-17 12:00", tz=SH), 50.0,
                   price_per_kwh=1.0, event_id="e1")
GD_EVENT_2 = Event(pd.Timestamp("2024-06-19 10:00", tz=SH), pd.Timestamp("2024-06-19 12:00", tz=SH), 50.0,
                   price_per_kwh=1.0, event_id="e2")


def guangdong_load(d: dt.date, h: int) -> float:
    if d.weekday() >= 5 or d == dt.date(2024, 6, 10):
        return 40.0
    if h in (10, 11):
        return {dt.date(2024, 6, 17): 60.0, dt.date(2024, 6, 19): 70.0}.get(d, 100.0 + d.day)
    return 100.0


def guangdong_history() -> pd.Series:
    return _history_utc("2024-05-20", "2024-06-20", SH, guangdong_load)


def test_second_event_baseline_leaves_out_the_first_event_day() -> None:
    # given in reverse order: "earlier" is by start time, not by position
    second, first = settle_events("cn-guangdong-dr-day-ahead", [GD_EVENT_2, GD_EVENT_1], guangdong_history(),
                                  uncommitted=True)
    assert first.baseline is not None and second.baseline is not None
    assert list(first.baseline.days_used) == [dt.date(2024, 6, d) for d in (14, 13, 12, 11, 7)]
    assert first.baseline.baseline_kw.to_numpy() == pytest.approx([111.4, 111.4])
    assert first.response_kwh == pytest.approx(102.8)
    assert list(second.baseline.days_used) == [dt.date(2024, 6, d) for d in (18, 14, 13, 12, 11)]
    assert second.baseline.baseline_kw.to_numpy() == pytest.approx([113.6, 113.6])
    assert second.response_kwh == pytest.approx(87.2)
    assert any("2024-06-17: excluded" in n for n in second.baseline.notes)


def test_settle_events_adds_the_days_the_caller_names() -> None:
    # event 2 alone, told that 17 June was an event of an earlier call: the same 113.6 kW as above; without it
    # the curtailed day is used (103.4 kW)
    (told,) = settle_events("cn-guangdong-dr-day-ahead", [GD_EVENT_2], guangdong_history(),
                            exclude_days=[dt.date(2024, 6, 17)], uncommitted=True)
    assert told.baseline is not None
    assert told.baseline.baseline_kw.to_numpy() == pytest.approx([113.6, 113.6])
    (untold,) = settle_events("cn-guangdong-dr-day-ahead", [GD_EVENT_2], guangdong_history(), uncommitted=True)
    assert untold.baseline is not None
    assert untold.baseline.baseline_kw.to_numpy() == pytest.approx([103.4, 103.4])


def test_event_local_days() -> None:
    # 23:00-01:00 CST touches two local days; in UTC (15:00-17:00) only one
    ev = Event(pd.Timestamp("2024-06-17 23:00", tz=SH), pd.Timestamp("2024-06-18 01:00", tz=SH), 1.0)
    assert ev.local_days(SH) == (dt.date(2024, 6, 17), dt.date(2024, 6, 18))
    assert ev.local_days("UTC") == (dt.date(2024, 6, 17),)
    # an end on midnight does not touch the next day
    ev = Event(pd.Timestamp("2024-06-17 22:00", tz=SH), pd.Timestamp("2024-06-18 00:00", tz=SH), 1.0)
    assert ev.local_days(SH) == (dt.date(2024, 6, 17),)
