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


# ----------------------------------------------------------------------------------------------- scenario runner
#
# A scenario written in Asia/Shanghai (UTC+8) with two events of PG&E's ELRP (us-pge-elrp, America/Los_Angeles,
# PDT = UTC-7 in June, so Shanghai is 15 hours ahead; x_of_y 10-of-10 with a multiplicative day-of adjustment over
# -240..-60 min, US holidays), both 13:00-15:00 Shanghai time:
#   e1: scenario day Tue 25 June -> 2024-06-25 05:00-07:00 UTC -> Mon 24 June 22:00-24:00 PDT (just before midnight)
#   e2: scenario day Thu 27 June -> 2024-06-27 05:00-07:00 UTC -> Wed 26 June 22:00-24:00 PDT
# The baseline's days are Los Angeles days, so the event days to leave out are Mon 24 and Wed 26 June (each window
# ends at local midnight and so covers one day).  The old code left out the scenario's dates, 25 and 27 June, which
# in Los Angeles are a normal Tuesday (dropped) and a day after the horizon's events; Mon 24 June, curtailed by e1,
# stayed in e2's baseline.
#
# The mode's own schedule, by Los Angeles day d and hour h: working days 100 kW, and 100 + (day of month) in hours
# 22 and 23; weekends and US holidays (Memorial Day 27 May, Juneteenth Wed 19 June) 60 kW; Mon 24 June 40 kW in
# hours 22-23 (e1, curtailed); Wed 26 June 50 kW in hours 22-23 (e2).
#
# e2's baseline (event day Wed 26 June, working): the 10 most recent working days before it, not event days:
#   Tue 25, [Mon 24: event e1], Fri 21, Thu 20, [Wed 19: Juneteenth], Tue 18, Mon 17, Fri 14, Thu 13, Wed 12, Tue 11,
#   Mon 10  -> 100 + (25 + 21 + 20 + 18 + 17 + 14 + 13 + 12 + 11 + 10) / 10 = 100 + 161 / 10 = 116.1 kW.
# Adjustment window 18:00-21:00 PDT: 100 kW on the event day and on every baseline day -> ratio 1, 116.1 kW stays.
# With the old exclusions (25 and 27 June) the days would be Mon 24 (40 kW), Fri 21, ..., Mon 10:
#   (40 + 121 + 120 + 118 + 117 + 114 + 113 + 112 + 111 + 110) / 10 = 1076 / 10 = 107.6 kW.

def _elrp_scenario_inputs():  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from vgi.model.timegrid import TimeGrid
    from vgi.scenario.inputs import EventWindow
    from vgi.scenario.schema import Event as ScenarioEvent

    grid = TimeGrid.local_days(dt.date(2024, 5, 1), 60, 60, SH)
    events = []
    for eid, day in (("e1", dt.date(2024, 6, 25)), ("e2", dt.date(2024, 6, 27))):
        spec = ScenarioEvent(id=eid, programme="us-pge-elrp", day=day, start="13:00", end="15:00", reduction_kw=10,
                             baseline="programme")
        start = pd.Timestamp(day).tz_localize(SH) + pd.Timedelta(hours=13)
        end = start + pd.Timedelta(hours=2)
        s0, s1 = (int(x) for x in grid.step_of(pd.DatetimeIndex([start, end])))
        events.append(EventWindow(eid, spec, s0, s1, start, end))
    return SimpleNamespace(grid=grid, events=events)


def elrp_own_load(d: dt.date, h: int) -> float:
    if d.weekday() >= 5 or d in (dt.date(2024, 5, 27), dt.date(2024, 6, 19)):
        return 60.0
    if h in (22, 23):
        return {dt.date(2024, 6, 24): 40.0, dt.date(2024, 6, 26): 50.0}.get(d, 100.0 + d.day)
    return 100.0


def test_scenario_event_days_are_the_programme_local_days() -> None:
    from vgi.scenario.runner import _excluded_days, _method_baseline

    inp = _elrp_scenario_inputs()
    e1, e2 = inp.events
    assert e1.end == pd.Timestamp("2024-06-25 00:00", tz=LA)  # e1 ends at Los Angeles midnight
    assert e2.start == pd.Timestamp("2024-06-26 22:00", tz=LA)
    # the programme's local days (the old code: the scenario's days 25 and 27 June)
    assert _excluded_days(inp, e2) == (dt.date(2024, 6, 24), dt.date(2024, 6, 26))
    local = inp.grid.utc_index.tz_convert(LA)
    own_kw = np.array([elrp_own_load(t.date(), t.hour) for t in local])
    out = _method_baseline(inp, "programme", own_kw, e2)
    assert out[e2.start_step : e2.stop_step] == pytest.approx([116.1, 116.1])
    # outside the window the mode's own schedule
    assert np.array_equal(out[: e2.start_step], own_kw[: e2.start_step])


def test_event_days_in_the_baseline_zone() -> None:
    from vgi.dr.events import event_days

    # 13:00-17:00 in Shanghai on 25 June is 22:00 on the 24th to 02:00 on the 25th in Los Angeles: two local days
    there = Event(pd.Timestamp("2024-06-25 13:00", tz=SH), pd.Timestamp("2024-06-25 17:00", tz=SH), 1.0)
    later = Event(pd.Timestamp("2024-06-27 13:00", tz=SH), pd.Timestamp("2024-06-27 15:00", tz=SH), 1.0)
    assert event_days([later, there], LA) == (dt.date(2024, 6, 24), dt.date(2024, 6, 25), dt.date(2024, 6, 26))
    assert event_days([later, there], SH) == (dt.date(2024, 6, 25), dt.date(2024, 6, 27))
    assert event_days([], LA) == ()
