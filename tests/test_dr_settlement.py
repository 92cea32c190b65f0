"""Settlements worked out by hand: payments, the programmes' penalties, double compensation, the driver split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vgi.dr.events import Event
from vgi.dr.programmes import get_programme
from vgi.dr.settlement import CompensationLedger, capacity_payment, conflicts, settle_arrays, settle_event, settle_fleet
from vgi.errors import VgiError
from vgi.io.tariff_library import load_tariff
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.problem import FleetOnGrid, Schedule

TZ = "Asia/Shanghai"


def steps(start: str, n: int, minutes: int = 15, tz: str = TZ) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start, tz=tz), periods=n, freq=f"{minutes}min")


def test_guangdong_event_the_fleet_cannot_fully_deliver_pays_the_r1_m_penalty() -> None:
    """Committed 1,000 kW for 18:00-20:00 at a clearing price of 1.0 CNY/kWh.

    Hour 1: baseline 3,000 kW, metered 2,200 kW -> 800 kWh, performance 0.8 >= R1 = 0.5: paid 800 x 1.0 = 800.
    Hour 2: metered 2,700 kW -> 300 kWh, performance 0.3 < 0.5: invalid, unpaid, and penalised
            (1,000 x 0.5 - 300) x 1.0 x M (0.5) = 200 x 0.5 = 100.
    Net = 800 - 100 = 700 CNY.
    """
    idx = steps("2024-05-20 18:00", 8)
    base = np.full(8, 3000.0)
    meter = np.array([2200.0] * 4 + [2700.0] * 4)
    res = settle_arrays("cn-guangdong-dr-day-ahead", idx, base, meter, 0.25, 1000.0, price_per_kwh=1.0)
    assert res.periods["response_kwh"].to_numpy() == pytest.approx([800.0, 300.0])
    assert res.periods["valid"].tolist() == [True, False]
    assert res.energy_payment == pytest.approx(800.0)
    assert res.under_penalty == pytest.approx(100.0)
    assert res.net == pytest.approx(700.0)
    assert res.shortfall_kwh == pytest.approx(200.0 + 700.0)
    assert res.performance == pytest.approx(1100 / 2000)


def test_guangdong_over_delivery_is_paid_up_to_120_percent_and_price_is_capped() -> None:
    idx = steps("2024-05-20 18:00", 4)
    # response 1,500 kWh against 1,000 committed: paid 1,200; event price 3.0 capped at 2.25 -> 2,700
    res = settle_arrays("cn-guangdong-dr-day-ahead", idx, np.full(4, 3000.0), np.full(4, 1500.0), 0.25, 1000.0,
                        price_per_kwh=3.0)
    assert res.paid_kwh == pytest.approx(1200.0)
    assert res.periods["price_per_kwh"].iloc[0] == pytest.approx(2.25)
    assert res.net == pytest.approx(2700.0)


def test_bm_non_delivery_with_imbalance_price() -> None:
    """Offer accepted for 2,000 kW over 17:00-17:30 at 0.10 GBP/kWh; the unit delivers 1,500 kW.

    Paid the accepted 1,000 kWh x 0.10 = 100; shortfall 250 kWh: non-delivery charge 250 x (0.10 - 0.06) = 10 and
    imbalance 250 x 0.06 = 15; net 75 = the 750 kWh delivered x 0.10.
    """
    idx = pd.date_range(pd.Timestamp("2024-01-10 16:00", tz="Europe/London"), periods=8, freq="15min")
    metered = pd.Series([3000.0] * 4 + [1500.0, 1500.0] + [3000.0] * 2, index=idx)
    declared = pd.Series([3000.0, 3000.0], index=pd.DatetimeIndex([idx[0], idx[-1] + pd.Timedelta(minutes=15)]))
    event = Event(idx[4], idx[6], 2000.0, "down", price_per_kwh=0.10)
    res = settle_event("uk-bm", event, metered, declared_kw=declared, imbalance_price_per_kwh=0.06)
    assert res.response_kwh == pytest.approx(750.0)
    assert res.energy_payment == pytest.approx(100.0)
    assert res.under_penalty == pytest.approx(10.0)
    assert res.imbalance_cost == pytest.approx(15.0)
    assert res.net == pytest.approx(75.0)
    # an imbalance price above the offer: no non-delivery charge, imbalance 250 x 0.20 = 50 -> net 50
    dear = settle_event("uk-bm", event, metered, declared_kw=declared, imbalance_price_per_kwh=0.20)
    assert (dear.under_penalty, dear.imbalance_cost, dear.net) == pytest.approx((0.0, 50.0, 50.0))


def test_valley_filling_response_is_the_increase() -> None:
    idx = steps("2024-01-10 02:00", 4)
    # North China valley filling: baseline 100 kW, metered 400 kW -> 300 kWh up; reference price 0.2 -> 60 CNY
    res = settle_arrays("cn-north-china-peak-regulation", idx, np.full(4, 100.0), np.full(4, 400.0), 0.25, 250.0,
                        direction="up")
    assert res.response_kwh == pytest.approx(300.0)
    assert res.periods["performance"].to_numpy() == pytest.approx([1.2] * 4)
    assert res.energy_payment == pytest.approx(60.0)
    with pytest.raises(VgiError, match="buys up responses"):
        settle_arrays("cn-north-china-peak-regulation", idx, np.full(4, 100.0), np.zeros(4), 0.25, 50.0)


def test_export_does_not_count_where_the_programme_says_so() -> None:
    prog = get_programme("cn-guangdong-dr-day-ahead").model_copy(update={"export_counts": False})
    idx = steps("2024-05-20 18:00", 4)
    # baseline 100 kW, fleet exports 50 kW: counted as 0 load -> response 100 kWh, not 150
    res = settle_arrays(prog, idx, np.full(4, 100.0), np.full(4, -50.0), 0.25, 100.0, price_per_kwh=1.0)
    assert res.response_kwh == pytest.approx(100.0)
    assert any("export" in n for n in res.notes)


def test_double_compensation_caiso_dera_and_retail_dr_pay_each_kwh_once() -> None:
    """A site cuts 100 kW for an hour (100 kWh).  ELRP (retail, 2 USD/kWh) and a CAISO DERA (0.15 USD/kWh) both
    cover the hour; CAISO's rule: the same kWh is not compensated in both."""
    dera, elrp = get_programme("caiso-dera"), get_programme("us-pge-elrp")
    assert conflicts(dera, elrp) and conflicts(elrp, dera)
    idx = steps("2024-08-01 17:00", 4, tz="America/Los_Angeles")
    base, meter = np.full(4, 300.0), np.full(4, 200.0)

    ledger = CompensationLedger()
    first = settle_arrays(elrp, idx, base, meter, 0.25, None, ledger=ledger, resource="site-1")
    second = settle_arrays(dera, idx, base, meter, 0.25, 100.0, price_per_kwh=0.15, ledger=ledger,
                           resource="site-1")
    assert first.paid_kwh == pytest.approx(100.0) and first.net == pytest.approx(200.0)
    assert second.paid_kwh == pytest.approx(0.0) and second.excluded_kwh == pytest.approx(100.0)
    assert second.net == pytest.approx(0.0)
    assert ledger.total_paid_kwh("site-1") == pytest.approx(100.0)  # never more than the 100 kWh response

    ledger2 = CompensationLedger()
    a = settle_arrays(dera, idx, base, meter, 0.25, 100.0, price_per_kwh=0.15, ledger=ledger2, resource="site-1")
    b = settle_arrays(elrp, idx, base, meter, 0.25, None, ledger=ledger2, resource="site-1")
    assert a.net == pytest.approx(15.0) and b.paid_kwh == pytest.approx(0.0)
    # another site is not affected
    c = settle_arrays(elrp, idx, base, meter, 0.25, None, ledger=ledger2, resource="site-2")
    assert c.paid_kwh == pytest.approx(100.0)


def test_double_compensation_partial_overlap() -> None:
    dera, elrp = get_programme("caiso-dera"), get_programme("us-pge-elrp")
    ledger = CompensationLedger()
    idx = steps("2024-08-01 17:00", 8, tz="America/Los_Angeles")
    base, meter = np.full(8, 300.0), np.full(8, 200.0)
    # ELRP pays only the first half hour (2 steps x 100 kW x 0.25 h = 50 kWh)
    settle_arrays(elrp, idx[:2], base[:2], meter[:2], 0.25, None, ledger=ledger)
    res = settle_arrays(dera, idx, base, meter, 0.25, 100.0, price_per_kwh=0.15, ledger=ledger)
    # DERA: 200 kWh committed and delivered over two hours, 50 kWh already paid -> 150 x 0.15 = 22.5
    assert res.excluded_kwh == pytest.approx(50.0)
    assert res.energy_payment == pytest.approx(22.5)


def test_capacity_payment_on_the_uncalled_part() -> None:
    hainan = get_programme("cn-hainan-dr-contracted")
    # 1,000 kW contracted, 400 kW called in the month: 600 x 0.3 CNY/kW-month = 180
    assert capacity_payment(hainan, 1000.0, months=1.0, called_kw=400.0) == pytest.approx(180.0)
    idx = steps("2024-07-01 19:00", 4)
    res = settle_arrays(hainan, idx, np.full(4, 1000.0), np.full(4, 600.0), 0.25, 400.0, capacity_kw=1000.0,
                        capacity_months=1.0, called_kw=400.0)
    # energy 400 kWh x 1.0 fixed + capacity 180
    assert res.energy_payment == pytest.approx(400.0)
    assert res.capacity_payment == pytest.approx(180.0)
    assert res.net == pytest.approx(580.0)


def simple_tariff() -> object:
    return load_tariff(
        {
            "id": "test-flat", "name": "flat", "region": "test", "country": "CN", "currency": "CNY",
            "timezone": TZ, "valid_from": "2024-01-01", "source": "test", "verification": "assumption",
            "energy": {"prices": {"flat": 1.0}, "seasons": [{"name": "all", "default_period": "flat"}]},
            "export": {"kind": "fixed", "price": 0.5},
        }
    )


def test_fleet_settlement_split_between_aggregator_and_drivers() -> None:
    """Two V2G sessions on 17:00-19:00 (15 min steps); event 18:00-19:00, 20 kW committed, Hainan day-ahead.

    Counterfactual: both charge 7 kW in 18:00-19:00.  Dispatched: A pre-charges 7 kW in 17:00-18:00 and rests;
    B pre-charges 7 kW in 17:00-18:00 and discharges 7 kW in 18:00-19:00.
    Response: A 7 kWh, B 14 kWh -> 21 kWh; paid 21 x 1.5 (reference = cap) = 31.5; driver share 50 %: pot 15.75,
    A 15.75 x 7/21 = 5.25, B 10.5.  B's wear: 7 kWh / 0.95 x 0.1 = 0.7368.  Bills (1.0 import, 0.5 export):
    A 7 vs 7 (change 0); B 7 - 3.5 = 3.5 vs 7 (change -3.5).  B's net benefit 10.5 - 0.7368 + 3.5 = 13.263.
    """
    frame = pd.DataFrame(
        {
            "session_id": ["A", "B"],
            "arrival": ["2024-07-01T17:00:00+08:00"] * 2,
            "departure": ["2024-07-01T19:00:00+08:00"] * 2,
            "energy_kwh": [6.65, 6.65],
            "battery_kwh": [60.0, 60.0],
            "initial_soc": [0.5, 0.5],
            "max_charge_kw": [7.0, 7.0],
            "max_discharge_kw": [7.0, 7.0],
            "v2g": [True, True],
        }
    )
    sessions = sessions_from_frame(frame)
    grid = TimeGrid(pd.Timestamp("2024-07-01 17:00", tz=TZ), pd.Timestamp("2024-07-01 19:00", tz=TZ), 15, TZ)
    fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
    charge = np.zeros((2, 8))
    discharge = np.zeros((2, 8))
    charge[:, :4] = 7.0
    discharge[1, 4:] = 7.0
    sched = Schedule(fleet, "test", charge, discharge)
    base = np.zeros((2, 8))
    base[:, 4:] = 7.0
    event = Event(pd.Timestamp("2024-07-01 18:00", tz=TZ), pd.Timestamp("2024-07-01 19:00", tz=TZ), 20.0)
    res = settle_fleet("cn-hainan-dr-day-ahead", event, sched, base, driver_share=0.5, wear_cost_per_kwh=0.1,
                       tariff=simple_tariff())
    assert res.response_kwh == pytest.approx(21.0)
    assert res.net == pytest.approx(31.5)
    d = res.drivers
    assert d is not None
    t = d.table.set_index("session_id")
    assert t.loc["A", "revenue"] == pytest.approx(5.25)
    assert t.loc["B", "revenue"] == pytest.approx(10.5)
    assert t.loc["B", "wear_cost"] == pytest.approx(0.7 / 0.95)
    assert t.loc["A", "bill_change"] == pytest.approx(0.0)
    assert t.loc["B", "bill_change"] == pytest.approx(-3.5)
    assert t.loc["B", "net_benefit"] == pytest.approx(10.5 - 0.7 / 0.95 + 3.5)
    assert d.aggregator_revenue == pytest.approx(15.75)
    assert t["revenue"].sum() + d.aggregator_revenue == pytest.approx(res.net)


def test_settle_event_from_metered_history_with_programme_baseline() -> None:
    # 6 working days of 100 kW at 15 min, then the event day at 100 kW with a 40 kW cut in 19:00-20:00
    idx = pd.date_range(pd.Timestamp("2024-06-03", tz=TZ), pd.Timestamp("2024-06-12", tz=TZ), freq="15min",
                        inclusive="left")
    kw = pd.Series(100.0, index=idx)
    event = Event(pd.Timestamp("2024-06-11 19:00", tz=TZ), pd.Timestamp("2024-06-11 20:00", tz=TZ), 50.0,
                  price_per_kwh=1.0)
    kw[event.mask(idx)] = 60.0
    # Guangdong: 5 similar (working) days -> 100 kW baseline; response 40 kWh of 50 committed (0.8): paid 40
    res = settle_event("cn-guangdong-dr-day-ahead", event, kw, holidays=())
    assert res.baseline is not None and len(res.baseline.days_used) == 5
    assert res.response_kwh == pytest.approx(40.0)
    assert res.net == pytest.approx(40.0)


def test_committed_values_per_period_must_match() -> None:
    idx = steps("2024-05-20 18:00", 8)
    with pytest.raises(VgiError, match="committed values"):
        settle_arrays("cn-guangdong-dr-day-ahead", idx, np.ones(8), np.ones(8), 0.25, [1.0, 2.0, 3.0])


def test_dispatched_fleet_that_cannot_deliver_is_settled_with_the_penalty() -> None:
    """End to end: the three-car fleet of test_dr_eligibility is asked for 25 kW over two hours (Guangdong rules,
    1.0 CNY/kWh).  It can give at most 20 kW in hour 0 (A defers, C discharges) and 10 kW in hour 1 (B must
    charge), so the dispatch delivers 20 + 10 = 30 of 50 kWh.  Hour 0: performance 0.8, paid 20.  Hour 1:
    performance 0.4 < 0.5, unpaid, penalty (25 x 0.5 - 10) x 1.0 x 0.5 = 1.25.  Net 18.75 CNY."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_dr_eligibility import small_fleet
    from vgi.aggregator.dispatch import dispatch_event

    fleet = small_fleet("v2g")
    t0 = fleet.grid.start
    event = Event(t0, t0 + pd.Timedelta(hours=2), 25.0, price_per_kwh=1.0)
    res = dispatch_event(fleet, event)
    assert res.shortfall_kwh == pytest.approx(20.0, abs=1e-6)
    assert res.baseline_per_session_kw is not None
    st = settle_fleet("cn-guangdong-dr-day-ahead", event, res.schedule, res.baseline_per_session_kw, driver_share=0.5)
    assert st.periods["response_kwh"].to_numpy() == pytest.approx([20.0, 10.0], abs=1e-6)
    assert st.energy_payment == pytest.approx(20.0, abs=1e-6)
    assert st.under_penalty == pytest.approx(1.25, abs=1e-6)
    assert st.net == pytest.approx(18.75, abs=1e-6)
    assert st.drivers is not None
    assert st.drivers.table["revenue"].sum() == pytest.approx(18.75 / 2, abs=1e-6)
