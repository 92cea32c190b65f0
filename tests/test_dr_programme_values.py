"""GB programme values checked against the figures their sources publish (worked out here, not copied).

Every value a source gives is listed under ``value_sources`` with the date it applies from; the test recomputes
the value from the source's own numbers.
"""

from __future__ import annotations

import datetime as dt

import pytest

from vgi.dr.programmes import get_programme, load_programme, programme_library
from vgi.errors import VgiError


def test_dfs_pays_the_2024_25_average_not_the_2022_test_cap() -> None:
    dfs = get_programme("uk-dfs")
    rule = dfs.payments.energy_down
    assert rule is not None and rule.kind == "pay_as_bid"
    # NESO, winter 2024/25: GBP 1.2 m of contracts for 3,917.7 MWh -> GBP 306.3/MWh
    average_gbp_per_kwh = 1.2e6 / (3917.7 * 1000.0)
    assert rule.price_per_kwh == pytest.approx(average_gbp_per_kwh, abs=0.0005)
    assert rule.price_per_kwh < 3.0 and rule.cap_per_kwh is None  # the 2022/23 guaranteed price is gone
    src = dfs.value_sources["payments.energy_down.price_per_kwh"]
    assert src.applies_from == dt.date(2024, 11, 1) and "3,917.7" in src.detail
    assert not dfs.is_assumption("payments.energy_down.price_per_kwh")


def test_local_constraint_market_is_turn_up_in_scotland_at_20p() -> None:
    lcm = get_programme("uk-local-constraint-market")
    assert lcm.direction == "up" and lcm.directions == ("up",)
    assert lcm.payments.energy_down is None
    up = lcm.payments.energy_up
    assert up is not None and up.price_per_kwh == pytest.approx(20 / 100)  # 20 p/kWh
    assert "B6" in (lcm.location.zone_kind or "") and "Scotland" in (lcm.location.zone_kind or "")
    assert set(lcm.value_sources) >= {"direction", "payments.energy_up.price_per_kwh"}


def test_quick_reserve_is_day_ahead_with_gate_closure_the_day_before() -> None:
    qr = get_programme("uk-quick-reserve")
    assert qr.timing.invitation == "day_ahead"
    assert qr.timing.gate_closure_local_time == "14:00" and qr.timing.gate_closure_days_before == 1
    assert qr.valid_from == dt.date(2024, 12, 3)
    assert qr.timing.response_minutes == 1
    # Modo, first day: GBP 10.91/MW/h positive -> GBP/kW/h
    assert qr.payments.availability_per_kw_hour == pytest.approx(10.91 / 1000)
    for path in ("timing.invitation", "timing.gate_closure_local_time", "payments.availability_per_kw_hour"):
        assert qr.value_sources[path].applies_from == dt.date(2024, 12, 3), path


def test_bm_dates_from_p375_going_live() -> None:
    bm = get_programme("uk-bm")
    assert bm.valid_from == dt.date(2022, 6, 30)
    assert bm.value_sources["valid_from"].applies_from == dt.date(2022, 6, 30)


def test_balancing_reserve_is_for_bm_units_at_the_first_auctions_price() -> None:
    br = get_programme("uk-balancing-reserve")
    assert br.valid_from == dt.date(2024, 3, 12)
    assert br.payments.availability_per_kw_hour == pytest.approx(9.46 / 1000)  # GBP 9.46/MW/h
    assert "0.98" in br.value_sources["payments.availability_per_kw_hour"].detail  # the negative service
    assert any("BM unit" in h for h in br.eligibility.hardware)
    assert br.size.min_kw == 1000 and not br.is_assumption("size.min_kw")


def test_slow_reserve_starts_when_stor_day_ahead_ended() -> None:
    sr = get_programme("uk-slow-reserve")
    # the final STOR day-ahead tender (30 March 2026) bought the service day ending 05:00 on 1 April 2026
    assert sr.valid_from == dt.date(2026, 4, 1) and not sr.is_assumption("valid_from")
    src = sr.value_sources["valid_from"]
    assert src.applies_from == sr.valid_from and "30 March" in src.detail and "Inferred" in src.detail
    # procured day-ahead in the EAC (window 1 from 23:00 the day before), not the table's intraday 14:30
    assert sr.timing.invitation == "day_ahead" and sr.timing.gate_closure_local_time is None
    assert sr.timing.response_minutes == 15 and sr.size.min_kw == 1000
    assert sr.is_assumption("payments.availability_per_kw_hour")


def test_every_sourced_value_names_a_source_and_a_date() -> None:
    for prog in programme_library().values():
        for path, src in prog.value_sources.items():
            assert src.source.strip(), (prog.id, path)
            assert src.applies_from >= dt.date(2015, 1, 1), (prog.id, path)
            assert not prog.is_assumption(path), (prog.id, path)


def test_a_value_cannot_be_both_sourced_and_assumed() -> None:
    data = get_programme("uk-bm").model_dump(mode="json")
    data["assumptions"] = {"valid_from": "guess"}
    with pytest.raises(VgiError, match="both sourced"):
        load_programme(data, "mine.yaml")
    data["assumptions"] = {}
    data["value_sources"] = {"no.such.field": {"source": "x", "applies_from": "2024-01-01"}}
    with pytest.raises(VgiError, match="does not name a field"):
        load_programme(data, "mine.yaml")


def test_slow_reserve_cites_neso_for_the_date() -> None:
    sr = get_programme("uk-slow-reserve")
    assert any("Transition Plan" in src for src in sr.source)
    assert any("decommissioned" in src and "STOR" in src for src in sr.source)


def test_quick_reserve_baseline_and_location_come_from_the_draft_requirements() -> None:
    qr = get_programme("uk-quick-reserve")
    assert qr.baseline.method == "declared" and "60-minute" in qr.baseline.description
    assert qr.location.scope == "same_zone" and qr.location.zone_kind == "GSP group"
    assert "draft" in qr.value_sources["baseline"].detail and not qr.assumptions


def test_balancing_reserve_holds_for_the_whole_half_hour() -> None:
    br = get_programme("uk-balancing-reserve")
    assert br.timing.min_duration_minutes == 30 == br.timing.settlement_period_minutes
    assert not br.is_assumption("timing.min_duration_minutes")
    assert br.value_sources["timing.min_duration_minutes"].applies_from == dt.date(2024, 3, 12)


def test_revs_availability_price_follows_from_aud_400_a_car() -> None:
    revs = get_programme("au-act-revs-v2g-fcas")
    assert revs.country == "AU" and revs.services == ("frequency_response",) and revs.export_counts
    # ActewAGL's modelling: about AUD 400 a car a year; Wallbox Quasar 7.4 kW; 8,760 h a year
    assert revs.payments.availability_per_kw_hour == pytest.approx(400 / (7.4 * 8760), rel=1e-4)
    src = revs.value_sources["payments.availability_per_kw_hour"]
    assert src.applies_from == dt.date(2023, 4, 1) and "400" in src.detail and "7.4" in src.detail
    assert revs.valid_from == dt.date(2020, 6, 1) == revs.value_sources["valid_from"].applies_from
    # a year of one car's 7.4 kW made available gives back the AUD 400
    assert revs.payments.availability_per_kw_hour * 7.4 * 8760 == pytest.approx(400, abs=0.01)
    assert revs.is_assumption("timing.response_minutes")


def test_pge_v2g_export_is_an_hourly_day_ahead_price_with_no_invented_level() -> None:
    pge = get_programme("us-pge-v2x-export")
    assert pge.valid_from == dt.date(2022, 10, 20) == pge.value_sources["valid_from"].applies_from
    assert pge.timing.invitation == "day_ahead" and pge.timing.settlement_period_minutes == 60
    rule = pge.payments.energy_down
    assert rule is not None and rule.kind == "clearing" and rule.price_per_kwh is None
    assert "NOT FOUND" in pge.assumptions["payments.energy_down.price_per_kwh"]
    # the commercial pilot's USD 151 an EV a month is USD 1,812 a year, as its source says
    assert "151" in pge.notes and f"{151 * 12:,}" in pge.notes
    with pytest.raises(VgiError, match="needs the event's price"):
        rule.price()
    assert rule.price(0.35) == pytest.approx(0.35)  # an hour's given price is paid as it is


def test_elrp_pays_v2g_exports_at_2_usd_per_kwh_settled_by_hand() -> None:
    import pandas as pd

    from vgi.dr.events import Event
    from vgi.dr.settlement import settle_event

    elrp = get_programme("us-ca-elrp-v2g-export")
    rule = elrp.payments.energy_down
    assert rule is not None and rule.price() == pytest.approx(2.0) and elrp.export_counts
    src = elrp.value_sources["payments.energy_down.price_per_kwh"]
    assert src.applies_from == dt.date(2022, 5, 1) and "USD 2" in src.detail
    # a school bus charging 5 kW the hour before a 17:00-19:00 event, then exporting 60 kW:
    # (5 - (-60)) kW x 2 h = 130 kWh at USD 2 = USD 260
    tz = "America/Los_Angeles"
    idx = pd.date_range("2024-07-10", periods=24, freq="1h", tz=tz)
    kw = pd.Series(0.0, index=idx)
    kw.iloc[16], kw.iloc[17], kw.iloc[18] = 5.0, -60.0, -60.0
    res = settle_event(elrp, Event(idx[17], idx[19], committed_kw=60.0), kw)
    assert res.response_kwh == pytest.approx(130.0) and res.energy_payment == pytest.approx(260.0)
    # 30 to 60 event hours a year: USD 60-120 a year for each kW exported in every event hour
    assert f"USD {2 * 30}-{2 * 60}" in elrp.notes


def test_sce_and_sdge_pay_v2g_exports_in_elrp_events_settled_by_hand() -> None:
    import pandas as pd

    from vgi.dr.events import Event
    from vgi.dr.settlement import settle_event

    sce = get_programme("us-sce-elrp-v2g-export")
    sdge = get_programme("us-sdge-elrp-v2g-export")
    for prog in (sce, sdge):
        rule = prog.payments.energy_down
        assert rule is not None and rule.price() == pytest.approx(2.0) and prog.export_counts
        assert prog.eligibility.v2g_required and prog.size.min_kw == 1.0
        windows = prog.timing.call_windows
        assert [(w.start, w.end) for w in windows] == [("16:00", "21:00")]
    # SCE's pilot runs 2021-2027, events May 1 - Oct 31: the last event day is 2027-10-31
    assert sce.valid_to == dt.date(2027, 10, 31) and "2027" in sce.value_sources["valid_to"].source
    assert sce.timing.max_duration_minutes == 5 * 60 and not sce.is_assumption("timing.max_duration_minutes")
    # SDG&E: the sub-group of the buses is unknown, so the 5 h longest event is an assumption
    assert sdge.is_assumption("timing.max_duration_minutes")
    assert sdge.value_sources["payments.energy_down.price_per_kwh"].applies_from == dt.date(2022, 7, 26)
    # 60 event hours a season at USD 2: USD 120 per kW; six 60 kW chargers: 360 x 60 x 2 = USD 43,200
    assert "USD 120" in sdge.notes and "USD 43,200" in sdge.notes and "(360 x 60 x 2)" in sdge.notes
    # a bus exporting 60 kW for an 18:00-21:00 SDG&E event after idling (0 kW) the hour before:
    # (0 - (-60)) kW x 3 h = 180 kWh at USD 2 = USD 360
    tz = "America/Los_Angeles"
    idx = pd.date_range("2024-08-15", periods=24, freq="1h", tz=tz)
    kw = pd.Series(0.0, index=idx)
    kw.iloc[18:21] = -60.0
    res = settle_event(sdge, Event(idx[18], idx[21], committed_kw=60.0), kw)
    assert res.response_kwh == pytest.approx(180.0) and res.energy_payment == pytest.approx(360.0)
