"""OpenADR 3 timing and events -> GridSignals, checked against values worked out by hand from the User Guide."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.service.openadr.models import Event, Program
from vgi.service.openadr.signals import grid_signals, usage_report
from vgi.service.openadr.timing import (
    event_end_s,
    event_spans,
    format_datetime,
    format_duration,
    parse_datetime,
    parse_duration,
)

nan = math.nan
T0 = pd.Timestamp("2030-01-01T00:00:00Z")
NOW = pd.Timestamp("2029-12-31T12:00:00Z")


def grid(hours: float = 2, step: int = 15) -> TimeGrid:
    return TimeGrid(T0, T0 + pd.Timedelta(hours=hours), step)


def event(event_id: str = "e1", program: str = "p1", **fields: object) -> Event:
    return Event.model_validate({"id": event_id, "programID": program, **fields})


def payload(kind: str, *values: object) -> dict[str, object]:
    return {"type": kind, "values": list(values)}


def at(minutes: float) -> str:
    return format_datetime(T0 + pd.Timedelta(minutes=minutes))


# ---- timing ------------------------------------------------------------------------------------------------


def test_durations_and_datetimes() -> None:
    assert parse_duration("PT1H30M").seconds == 5400
    assert parse_duration("P1DT2H").seconds == 86400 + 7200
    assert parse_duration("P2W").seconds == 14 * 86400
    assert parse_duration("PT0.5S").seconds == 0.5
    assert parse_duration("P9999Y").infinite
    assert parse_duration("-PT5M").exact_seconds() == -300
    with pytest.raises(VgiError, match="not an ISO 8601 duration"):
        parse_duration("1 hour")
    with pytest.raises(VgiError, match="not an ISO 8601 duration"):
        parse_duration("PT")
    assert format_duration(900) == "PT15M" and format_duration(86400 + 3600) == "P1DT1H"
    assert format_duration(0) == "PT0S"
    assert parse_datetime("2030-01-01T00:00:00Z") == T0.timestamp()
    assert parse_datetime("2030-01-01T01:00:00+01:00") == T0.timestamp()
    assert parse_datetime("0001-01-01") == -math.inf
    with pytest.raises(VgiError, match="RFC 3339"):
        parse_datetime("yesterday")


def test_intervals_follow_each_other_from_the_event_start() -> None:
    e = event(
        intervalPeriod={"start": at(0), "duration": "PT30M"},
        intervals=[
            {"id": 0, "payloads": [payload("PRICE", 1)]},
            {"id": 1, "payloads": [payload("PRICE", 2)]},
            {"id": 2, "intervalPeriod": {"duration": "PT15M"}, "payloads": [payload("PRICE", 3)]},
        ],
    )
    spans = event_spans(e, NOW.timestamp())
    t = T0.timestamp()
    assert [(s.start_s - t, s.end_s - t) for s in spans] == [(0, 1800), (1800, 3600), (3600, 4500)]


def test_beginning_of_time_means_now_and_infinite_duration() -> None:
    now = T0 + pd.Timedelta(minutes=20)
    e = event(intervalPeriod={"start": "0001-01-01", "duration": "P9999Y"},
              intervals=[{"id": 0, "payloads": [payload("SIMPLE", 2)]}])
    (span,) = event_spans(e, now.timestamp())
    assert span.start_s == now.timestamp() and span.end_s == math.inf
    s = grid_signals([e], grid(1), now)
    # the level starts at 00:20: the 00:15 step is covered for 10 of its 15 minutes, max still 2
    np.testing.assert_array_equal(s.simple_level, [nan, 2, 2, 2])


def test_randomize_start_shifts_the_first_and_following_intervals() -> None:
    e = event(
        intervalPeriod={"start": at(60), "duration": "PT15M", "randomizeStart": "PT10M"},
        intervals=[
            {"id": 0, "payloads": [payload("PRICE", 1)]},
            {"id": 1, "payloads": [payload("PRICE", 2)]},
            {"id": 2, "intervalPeriod": {"start": at(120), "duration": "PT15M"}, "payloads": [payload("PRICE", 3)]},
            {"id": 3, "intervalPeriod": {"start": at(180), "duration": "PT15M", "randomizeStart": "PT2M"},
             "payloads": [payload("PRICE", 4)]},
        ],
    )
    t = T0.timestamp()
    spans = event_spans(e, NOW.timestamp(), randomize=-0.5)
    # -0.5 x 10 min = -5 min for intervals 0-2 (2 has an absolute start: same shift); -0.5 x 2 min for 3.
    assert [(s.start_s - t) / 60 for s in spans] == [55, 70, 115, 179]
    with pytest.raises(VgiError, match="outside"):
        event_spans(e, NOW.timestamp(), randomize=1.5)


def test_event_duration_repeats_and_cuts_intervals() -> None:
    base = {
        "intervalPeriod": {"start": at(0), "duration": "PT15M"},
        "intervals": [{"id": 0, "payloads": [payload("PRICE", 1)]}, {"id": 1, "payloads": [payload("PRICE", 2)]}],
    }
    repeated = grid_signals([event(duration="PT1H15M", **base)], grid(2), NOW)
    np.testing.assert_array_equal(repeated.import_price_per_kwh, [1, 2, 1, 2, 1, nan, nan, nan])
    forever = grid_signals([event(duration="P9999Y", **base)], grid(2), NOW)
    np.testing.assert_array_equal(forever.import_price_per_kwh, [1, 2] * 4)
    cut = grid_signals([event(duration="PT20M", **base)], grid(1), NOW)
    # interval 1 runs 00:15-00:20 only: the 00:15 step's mean price over its covered part is 2
    np.testing.assert_array_equal(cut.import_price_per_kwh, [1, 2, nan, nan])
    assert event_end_s(event(duration="PT20M", **base), NOW.timestamp()) == T0.timestamp() + 1200
    default = grid_signals([event(duration="PT0S", **base)], grid(1), NOW)  # PT0S is the schema default
    np.testing.assert_array_equal(default.import_price_per_kwh, [1, 2, nan, nan])


def test_missing_duration_is_an_error_naming_the_interval() -> None:
    e = event(intervals=[{"id": 7, "intervalPeriod": {"start": at(0)}, "payloads": [payload("PRICE", 1)]}])
    with pytest.raises(VgiError, match="event e1, interval 7: no duration"):
        event_spans(e, NOW.timestamp())


# ---- signals -----------------------------------------------------------------------------------------------


def test_every_signal_and_units() -> None:
    e = event(
        payloadDescriptors=[
            {"payloadType": "PRICE", "units": "MWH", "currency": "EUR"},
            {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "MW"},
            {"payloadType": "EXPORT_CAPACITY_LIMIT", "units": "W"},
        ],
        intervalPeriod={"start": at(0), "duration": "PT30M"},
        intervals=[{"id": 0, "payloads": [
            payload("PRICE", 120.0), payload("EXPORT_PRICE", 0.05), payload("IMPORT_CAPACITY_LIMIT", 1.5),
            payload("EXPORT_CAPACITY_LIMIT", 20000), payload("DISPATCH_SETPOINT", 80), payload("SIMPLE", 1),
            payload("GHG", 300),
        ]}],
    )
    s = grid_signals([e], grid(1), NOW)
    np.testing.assert_allclose(s.import_price_per_kwh[:2], [0.12, 0.12])  # 120 EUR/MWh = 0.12 EUR/kWh
    np.testing.assert_array_equal(s.export_price_per_kwh[:2], [0.05, 0.05])
    np.testing.assert_array_equal(s.import_limit_kw[:2], [1500, 1500])
    np.testing.assert_array_equal(s.export_limit_kw[:2], [20, 20])
    np.testing.assert_array_equal(s.dispatch_setpoint_kw[:2], [80, 80])
    np.testing.assert_array_equal(s.simple_level, [1, 1, nan, nan])
    assert s.currency == "EUR" and s.event_ids == ("e1",)
    assert np.isnan(s.import_price_per_kwh[2:]).all()


def test_units_and_values_are_checked() -> None:
    def one(descriptor: dict[str, object], p: dict[str, object]) -> Event:
        return event(payloadDescriptors=[descriptor], intervalPeriod={"start": at(0), "duration": "PT15M"},
                     intervals=[{"id": 0, "payloads": [p]}])

    with pytest.raises(VgiError, match="event e1: IMPORT_CAPACITY_LIMIT in units 'AMPS' is not supported"):
        grid_signals([one({"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "AMPS"},
                          payload("IMPORT_CAPACITY_LIMIT", 5))], grid(1), NOW)
    with pytest.raises(VgiError, match="below 0"):
        grid_signals([one({"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
                          payload("IMPORT_CAPACITY_LIMIT", -5))], grid(1), NOW)
    with pytest.raises(VgiError, match="not a finite number"):
        grid_signals([one({"payloadType": "PRICE"}, payload("PRICE", "cheap"))], grid(1), NOW)
    with pytest.raises(VgiError, match="SIMPLE level"):
        grid_signals([one({"payloadType": "SIMPLE"}, payload("SIMPLE", 7))], grid(1), NOW)


def test_programme_descriptor_gives_currency_and_currencies_must_agree() -> None:
    program = Program.model_validate({"id": "p1", "programName": "tou",
                                      "payloadDescriptors": [{"payloadType": "PRICE", "currency": "USD"}]})
    e = event(intervalPeriod={"start": at(0), "duration": "PT15M"}, intervals=[{"id": 0, "payloads": [
        payload("PRICE", 0.2)]}])
    assert grid_signals([e], grid(1), NOW, programs=[program]).currency == "USD"
    other = event("e2", payloadDescriptors=[{"payloadType": "PRICE", "currency": "EUR"}],
                  intervalPeriod={"start": at(15), "duration": "PT15M"},
                  intervals=[{"id": 0, "payloads": [payload("PRICE", 0.2)]}])
    with pytest.raises(VgiError, match="more than one currency: EUR, USD"):
        grid_signals([e, other], grid(1), NOW, programs=[program])


def test_multi_valued_price_is_split_into_sub_intervals() -> None:
    e = event(intervals=[{"id": 0, "intervalPeriod": {"start": at(0), "duration": "PT45M"},
                          "payloads": [payload("PRICE", 0.17, 0.03, 0.11)]}])
    s = grid_signals([e], grid(1), NOW)
    np.testing.assert_array_equal(s.import_price_per_kwh, [0.17, 0.03, 0.11, nan])
    # half-hour steps: first step 15 min at 0.17 and 15 at 0.03 -> mean 0.10; second 15 min at 0.11
    s30 = grid_signals([e], grid(1, step=30), NOW)
    np.testing.assert_allclose(s30.import_price_per_kwh, [0.10, 0.11])


def test_priority_decides_overlaps_and_limits_take_the_minimum_within_a_step() -> None:
    low = event("low", priority=5, intervalPeriod={"start": at(0), "duration": "PT1H"},
                intervals=[{"id": 0, "payloads": [payload("IMPORT_CAPACITY_LIMIT", 100), payload("PRICE", 0.3)]}])
    high = event("high", priority=0, intervalPeriod={"start": at(15), "duration": "PT15M"},
                 intervals=[{"id": 0, "payloads": [payload("IMPORT_CAPACITY_LIMIT", 400)]}])
    unranked = event("none", intervalPeriod={"start": at(0), "duration": "PT1H"},
                     intervals=[{"id": 0, "payloads": [payload("PRICE", 9.0)]}])
    s = grid_signals([unranked, low, high], grid(1), NOW)
    # higher priority wins where it speaks, even with a looser limit; elsewhere the low-priority event
    np.testing.assert_array_equal(s.import_limit_kw, [100, 400, 100, 100])
    assert s.event_of("import_limit_kw") == ["low", "high", "low", "low"]
    # no priority ranks below priority 5
    np.testing.assert_array_equal(s.import_price_per_kwh, [0.3] * 4)
    assert s.event_of("import_price_per_kwh") == ["low"] * 4
    assert set(s.event_ids) == {"low", "high"}
    # within one event, a limit changing mid-step: the step takes the strictest
    e = event(intervalPeriod={"start": at(0), "duration": "PT10M"}, intervals=[
        {"id": 0, "payloads": [payload("IMPORT_CAPACITY_LIMIT", 300)]},
        {"id": 1, "payloads": [payload("IMPORT_CAPACITY_LIMIT", 200)]}])
    np.testing.assert_array_equal(grid_signals([e], grid(1), NOW).import_limit_kw, [200, 200, nan, nan])


def test_equal_priority_goes_to_the_most_recently_modified() -> None:
    older = event("a", priority=1, modificationDateTime="2029-12-01T00:00:00Z",
                  intervalPeriod={"start": at(0), "duration": "PT15M"},
                  intervals=[{"id": 0, "payloads": [payload("PRICE", 1)]}])
    newer = event("b", priority=1, modificationDateTime="2029-12-02T00:00:00Z",
                  intervalPeriod={"start": at(0), "duration": "PT15M"},
                  intervals=[{"id": 0, "payloads": [payload("PRICE", 2)]}])
    assert grid_signals([newer, older], grid(1), NOW).import_price_per_kwh[0] == 2
    assert grid_signals([older, newer], grid(1), NOW).import_price_per_kwh[0] == 2


def test_only_joined_programmes_and_untranspired_events() -> None:
    joined = event("j", "p1", intervalPeriod={"start": at(0), "duration": "PT15M"},
                   intervals=[{"id": 0, "payloads": [payload("PRICE", 1)]}])
    other = event("o", "p2", intervalPeriod={"start": at(15), "duration": "PT15M"},
                  intervals=[{"id": 0, "payloads": [payload("PRICE", 2)]}])
    s = grid_signals([joined, other], grid(1), NOW, program_ids=["p1"])
    np.testing.assert_array_equal(s.import_price_per_kwh, [1, nan, nan, nan])
    # at 00:20 the first event has transpired; the second is still on
    late = grid_signals([joined, other], grid(1), T0 + pd.Timedelta(minutes=20))
    np.testing.assert_array_equal(late.import_price_per_kwh, [nan, 2, nan, nan])
    with pytest.raises(VgiError, match="tz-aware"):
        grid_signals([joined], grid(1), pd.Timestamp("2030-01-01"))


def test_usage_report_from_power_and_energy() -> None:
    g = grid(1)
    report = usage_report(g, "e1", "depot", "cp-1", power_kw=[4.0, 8.0, 0.0, 2.0], program_id="p1")
    intervals = report.resources[0].intervals
    assert [i.payloads[0].values[0] for i in intervals] == [1.0, 2.0, 0.0, 0.5]  # kW x 0.25 h
    assert intervals[1].interval_period is not None
    assert intervals[1].interval_period.start == "2030-01-01T00:15:00Z"
    assert intervals[1].interval_period.duration == "PT15M"
    assert report.payload_descriptors is not None and report.payload_descriptors[0].units == "KWH"
    assert report.program_id == "p1" and report.resources[0].resource_name == "cp-1"
    same = usage_report(g, "e1", "depot", "cp-1", energy_kwh=[1.0, 2.0, 0.0, 0.5])
    assert same.resources == report.resources
    with pytest.raises(VgiError, match="step 2 is not a finite number"):
        usage_report(g, "e1", "depot", energy_kwh=[1.0, 2.0, nan, 0.5])
    with pytest.raises(VgiError, match="3 values for 4 steps"):
        usage_report(g, "e1", "depot", energy_kwh=[1.0, 2.0, 0.5])
    with pytest.raises(VgiError, match="either"):
        usage_report(g, "e1", "depot")
