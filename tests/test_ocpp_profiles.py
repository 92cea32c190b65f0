"""Pure translation: setpoint series <-> OCPP charging profiles / composite schedules, against hand-built payloads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ocpp.messages import Call, CallResult, validate_payload

from vgi.service.ocpp.meter import SampleError, samples_from_meter_values
from vgi.service.ocpp.profiles import ProfileError, SetpointSeries, charging_profile, composite_to_series

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _valid(action: str, payload: dict, version: str, result: bool = False) -> None:
    msg = CallResult("1", payload, action=action) if result else Call("1", action, payload)
    asyncio.run(validate_payload(msg, version))


def test_16_tx_default_profile_merges_equal_steps_and_uses_watts() -> None:
    series = SetpointSeries.of(T0, 900, [7.4, 7.4, 3.0, 0.0, 0.0, 11.05])
    out = charging_profile(series, version="1.6", evse_id=2, profile_id=5, stack_level=1)
    assert out.clamped_steps == () and out.note is None
    assert out.payload == {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfileId": 5,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "duration": 5400,
                "startSchedule": "2026-03-01T08:00:00Z",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 7400.0},
                    {"startPeriod": 1800, "limit": 3000.0},
                    {"startPeriod": 2700, "limit": 0.0},
                    {"startPeriod": 4500, "limit": 11050.0},
                ],
            },
        },
    }
    _valid("SetChargingProfile", out.payload, "1.6")


def test_16_tx_profile_carries_integer_transaction_and_start_converted_to_utc() -> None:
    start = datetime(2026, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))  # 08:00 UTC
    out = charging_profile(
        SetpointSeries.of(start, 3600, [3.7]), version="1.6", evse_id=1, profile_id=9,
        purpose="TxProfile", transaction_id="42",
    )
    profile = out.payload["csChargingProfiles"]
    assert profile["transactionId"] == 42
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["startSchedule"] == "2026-03-01T08:00:00Z"
    _valid("SetChargingProfile", out.payload, "1.6")
    with pytest.raises(ProfileError, match="needs the transaction id"):
        charging_profile(SetpointSeries.of(T0, 60, [1.0]), version="1.6", evse_id=1, profile_id=1, purpose="TxProfile")
    with pytest.raises(ProfileError, match="integers"):
        charging_profile(SetpointSeries.of(T0, 60, [1.0]), version="1.6", evse_id=1, profile_id=1,
                         purpose="TxProfile", transaction_id="abc")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_discharge_refused_or_clamped_where_not_expressible(version: str) -> None:
    series = SetpointSeries.of(T0, 900, [5.0, -3.0, -3.0, 2.0])
    with pytest.raises(ProfileError, match=r"step 1 asks -3.0 kW \(discharge\)"):
        charging_profile(series, version=version, evse_id=1, profile_id=1)
    out = charging_profile(series, version=version, evse_id=1, profile_id=1, discharge="clamp")
    assert out.clamped_steps == (1, 2)
    assert out.note is not None and "2 negative step(s)" in out.note and "step 1" in out.note
    if version == "1.6":
        periods = out.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    else:
        periods = out.payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert periods == [
        {"startPeriod": 0, "limit": 5000.0},
        {"startPeriod": 900, "limit": 0.0},
        {"startPeriod": 2700, "limit": 2000.0},
    ]


def test_201_profile_payload() -> None:
    out = charging_profile(
        SetpointSeries.of(T0, 1800, [11.0, 6.5]), version="2.0.1", evse_id=1, profile_id=3,
        purpose="TxProfile", transaction_id="tx-7",
    )
    assert out.payload == {
        "evseId": 1,
        "chargingProfile": {
            "id": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 3,
                    "startSchedule": "2026-03-01T08:00:00Z",
                    "duration": 3600,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 11000.0},
                        {"startPeriod": 1800, "limit": 6500.0},
                    ],
                }
            ],
            "transactionId": "tx-7",
        },
    }
    _valid("SetChargingProfile", out.payload, "2.0.1")


def test_21_discharge_is_a_negative_central_setpoint() -> None:
    out = charging_profile(SetpointSeries.of(T0, 900, [7.0, -5.5, -5.5, 0.0]), version="2.1", evse_id=1, profile_id=4)
    assert out.clamped_steps == ()
    assert out.payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7000.0},
        {"startPeriod": 900, "operationMode": "CentralSetpoint", "setpoint": -5500.0, "dischargeLimit": -5500.0},
        {"startPeriod": 2700, "limit": 0.0},
    ]
    _valid("SetChargingProfile", out.payload, "2.1")


def test_series_validation() -> None:
    with pytest.raises(ProfileError, match="no time zone"):
        SetpointSeries.of(datetime(2026, 3, 1), 60, [1.0])
    with pytest.raises(ProfileError, match="step 1: power_kw nan"):
        SetpointSeries.of(T0, 60, [1.0, float("nan")])
    with pytest.raises(ProfileError, match="empty"):
        SetpointSeries.of(T0, 60, [])
    with pytest.raises(ProfileError, match="unknown OCPP version"):
        charging_profile(SetpointSeries.of(T0, 60, [1.0]), version="2.0", evse_id=1, profile_id=1)


def test_16_composite_schedule_to_kw_with_time_weighted_steps() -> None:
    response = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-03-01T08:00:00Z",
        "chargingSchedule": {
            "duration": 3000,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 7400.0},
                {"startPeriod": 600, "limit": 3000.0},  # changes in the middle of the first 900 s step
                {"startPeriod": 1800, "limit": 0.0},
            ],
        },
    }
    _valid("GetCompositeSchedule", response, "1.6", result=True)
    series = composite_to_series(response, version="1.6", step_s=900)
    assert series.start == T0 and series.step_s == 900
    # step 0: (600*7.4 + 300*3.0)/900 = 5.9333; step 1: 3.0; step 2 (1800-2700): 0; step 3 covers 2700-3000: 0
    assert series.power_kw == pytest.approx((5.933333333, 3.0, 0.0, 0.0))


def test_201_composite_in_amperes_and_21_setpoint_read_back() -> None:
    response = {
        "status": "Accepted",
        "schedule": {
            "evseId": 1, "duration": 1800, "scheduleStart": "2026-03-01T08:00:00Z", "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 900, "limit": 10.0,
                                                                            "numberPhases": 1}],
        },
    }
    _valid("GetCompositeSchedule", response, "2.0.1", result=True)
    series = composite_to_series(response, version="2.0.1", step_s=900)
    assert series.power_kw == pytest.approx((16 * 230 * 3 / 1000, 10 * 230 / 1000))
    v2g = {
        "status": "Accepted",
        "schedule": {
            "evseId": 1, "duration": 1800, "scheduleStart": "2026-03-01T08:00:00Z", "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 7000.0},
                {"startPeriod": 900, "operationMode": "CentralSetpoint", "setpoint": -5500.0,
                 "dischargeLimit": -5500.0},
            ],
        },
    }
    _valid("GetCompositeSchedule", v2g, "2.1", result=True)
    assert composite_to_series(v2g, version="2.1", step_s=900).power_kw == pytest.approx((7.0, -5.5))


def test_round_trip_profile_to_composite() -> None:
    kw = [7.4, 7.4, 3.2, 0.0, 11.0, 11.0, 1.4]
    series = SetpointSeries.of(T0, 900, kw)
    out = charging_profile(series, version="2.0.1", evse_id=1, profile_id=1)
    sched = out.payload["chargingProfile"]["chargingSchedule"][0]
    response = {"status": "Accepted", "schedule": {"evseId": 1, "duration": sched["duration"],
                                                   "scheduleStart": sched["startSchedule"], "chargingRateUnit": "W",
                                                   "chargingSchedulePeriod": sched["chargingSchedulePeriod"]}}
    assert composite_to_series(response, version="2.0.1", step_s=900) == series


def test_composite_errors_name_the_field() -> None:
    with pytest.raises(ProfileError, match="status is 'Rejected'"):
        composite_to_series({"status": "Rejected"}, version="1.6", step_s=60)
    bad = {"status": "Accepted", "schedule": {"evseId": 1, "duration": 60, "scheduleStart": "2026-03-01T08:00:00",
                                              "chargingRateUnit": "W", "chargingSchedulePeriod": []}}
    with pytest.raises(ProfileError, match=r"scheduleStart .* has no UTC offset"):
        composite_to_series(bad, version="2.0.1", step_s=60)
    bad["schedule"]["scheduleStart"] = "2026-03-01T08:00:00Z"
    bad["schedule"]["chargingSchedulePeriod"] = [{"startPeriod": 30, "limit": 1.0}]
    with pytest.raises(ProfileError, match="first period must start at 0"):
        composite_to_series(bad, version="2.0.1", step_s=60)


def test_meter_values_normalised_to_wh_and_w() -> None:
    rows16 = [{"timestamp": "2026-03-01T08:15:00Z", "sampledValue": [
        {"value": "12.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"},
        {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
        {"value": "7100", "measurand": "Power.Active.Import", "phase": "L1"},  # unit absent: W for power
        {"value": "1234"},  # all defaults: energy register in Wh
        {"value": "AB12CD", "format": "SignedData"},
    ]}]
    samples, skipped = samples_from_meter_values(rows16, version="1.6", charge_point_id="cp", evse_id=1,
                                                 transaction_id="3")
    assert [(s.measurand, s.phase, s.value, s.unit) for s in samples] == [
        ("Energy.Active.Import.Register", None, 12500.0, "Wh"),
        ("Power.Active.Import", None, 7200.0, "W"),
        ("Power.Active.Import", "L1", 7100.0, "W"),
        ("Energy.Active.Import.Register", None, 1234.0, "Wh"),
    ]
    assert skipped == ["meterValue[0].sampledValue[4]: SignedData value not read"]
    assert samples[0].at == datetime(2026, 3, 1, 8, 15, tzinfo=UTC)
    rows2 = [{"timestamp": "2026-03-01T09:15:00+01:00", "sampledValue": [
        {"value": 3.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh", "multiplier": 1}},
        {"value": 7.1, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}},
        {"value": -4000, "measurand": "Power.Active.Export"},
    ]}]
    samples, skipped = samples_from_meter_values(rows2, version="2.0.1", charge_point_id="cp", evse_id=None,
                                                 transaction_id=None)
    assert [(s.value, s.unit) for s in samples] == [(35000.0, "Wh"), (7100.0, "W"), (-4000.0, "W")]
    assert samples[0].at == datetime(2026, 3, 1, 8, 15, tzinfo=UTC) and skipped == []
    with pytest.raises(SampleError, match=r"meterValue\[0\].timestamp .* has no UTC offset"):
        samples_from_meter_values([{"timestamp": "2026-03-01T08:15:00", "sampledValue": []}], version="1.6",
                                  charge_point_id="cp", evse_id=1, transaction_id=None)


def test_awkward_floats_land_on_the_16_schema_grid() -> None:
    """1.6 requires limits on a 0.1 grid (ocpp-rpc's strict mode refuses 7400.05); kW floats are rounded to 0.1 W."""
    kw = [3.14159, 0.1 + 0.2, 7.40004, -0.00001]
    out = charging_profile(SetpointSeries.of(T0, 60, kw), version="1.6", evse_id=1, profile_id=1, discharge="clamp")
    periods = out.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [3141.6, 300.0, 7400.0, 0.0]
    assert out.clamped_steps == ()  # -0.01 W rounds to 0 W: nothing to clamp
    assert "-0.0" not in str(periods)
    _valid("SetChargingProfile", out.payload, "1.6")
