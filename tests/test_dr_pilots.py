"""The report's pilots recomputed from public facts: figures, inputs with sources, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from vgi.dr import pilots as P


def check_common(r: P.PilotResult) -> None:
    assert np.isfinite(r.ours) and r.ours >= 0
    assert r.reported > 0 and r.reported_source
    assert r.inputs and all(v for v in r.inputs.values())
    assert len(r.explanation) > 100


def test_shenzhen() -> None:
    r = P.shenzhen_2024()
    check_common(r)
    d = r.details
    # managed cars cannot reduce more than they were drawing; the parts add up at most to the whole
    assert d["v1g_capability_kw"] <= d["v1g_reference_kw"] + 1e-6
    assert r.ours >= d["v1g_capability_kw"] + d["v2g_capability_kw"] - 1e-6
    assert 0.5 < r.ratio < 2.0  # same order as the 4,389 kWh reported (not fitted to it)


def test_octopus_by_hand() -> None:
    flex, iog = P.octopus_power_pack()
    check_common(flex)
    check_common(iog)
    # 333 kWh x 12 = 3,996 kWh; x 22.36 p = GBP 893.51; x 7.0 p = GBP 279.72
    assert flex.ours == pytest.approx(3996 * 0.2236, rel=1e-6)
    assert iog.ours == pytest.approx(3996 * 0.07, rel=1e-6)
    # typical driver: 7,000 miles / 4 miles per kWh = 1,750 kWh -> GBP 391.30 and GBP 122.50
    assert flex.details["typical_driver_saving"] == pytest.approx(1750 * 0.2236, rel=1e-6)
    assert iog.details["typical_driver_saving"] == pytest.approx(1750 * 0.07, rel=1e-6)
    assert flex.details["implied_kwh"] == pytest.approx(880 / 0.2236)


def test_oakland_within_physical_bounds() -> None:
    r = P.oakland_school_buses()
    check_common(r)
    # at most 2.7 MW for the 5 peak hours every day of the year: 4.93 GWh
    assert r.ours <= 2.7 * 5 * 365 / 1000 + 1e-9
    assert r.details["idle_day_max_export_kw"] <= 2700 + 1e-6
    assert r.details["school_day_export_kwh"] > 0 and r.details["idle_day_export_kwh"] > 0


def test_bmw_within_physical_bounds() -> None:
    r = P.bmw_chargeforward_1(n_days=6)
    check_common(r)
    assert 0 < r.details["mean_event_kw"] <= 100 * 7.4
    assert r.ours == pytest.approx(r.details["mean_event_kw"] * 209)
