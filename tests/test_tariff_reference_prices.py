"""Table 3-3 prices recorded but not billed: each has a reason that `vgi tariffs show` prints, and the reasons'
arithmetic holds (the sources' adders from the base price, the 1.2 critical factor)."""

from __future__ import annotations

import pandas as pd
import pytest

from vgi.cli import main
from vgi.io.tariff_library import get_tariff
from vgi.settle.bills import bill

UNBILLED = {
    "fujian": ["flat"], "hebei": ["flat"], "jibei": ["flat"], "jiangxi": ["flat"], "shanghai": ["flat"],
    "shanxi": ["flat"], "zhejiang": ["flat"], "shandong": ["flat", "critical_peak"],
    "heilongjiang": ["critical_peak"],
}


@pytest.mark.parametrize("region", sorted(UNBILLED))
def test_every_unbilled_price_says_why_in_tariffs_show(region: str, capsys: pytest.CaptureFixture[str]) -> None:
    t = get_tariff(f"cn-{region}-residential-ev")
    assert sorted(t.reference_prices) == sorted(UNBILLED[region])
    assert sorted(t.reference_price_notes) == sorted(UNBILLED[region])
    main(["tariffs", "show", t.id])
    out = " ".join(capsys.readouterr().out.split())
    for name, value in t.reference_prices.items():
        assert f"{name} {value:.10g}: not billed:" in out, (region, name)
        assert name not in t.period_names  # no window bills it


@pytest.mark.parametrize(
    ("region", "peak_adder", "valley_adder"),
    [("fujian", 0.03, -0.20), ("jiangxi", 0.03, -0.12), ("shandong", 0.03, -0.17)],
)
def test_base_price_plus_the_sources_adders_gives_the_billed_prices(region: str, peak_adder: float,
                                                                   valley_adder: float) -> None:
    t = get_tariff(f"cn-{region}-residential-ev")
    assert t.energy is not None
    base = t.reference_prices["flat"]
    assert t.energy.prices["peak"] == pytest.approx(base + peak_adder)
    assert t.energy.prices["valley"] == pytest.approx(base + valley_adder)


def test_heilongjiang_critical_is_peak_times_1_2_and_is_not_billed() -> None:
    t = get_tariff("cn-heilongjiang-residential-ev")
    assert t.reference_prices["critical_peak"] == pytest.approx(0.7695 * 1.2)
    assert not t.critical_peaks
    # 1 kW 15:30-20:00 on a June day: all peak 4.5 x 0.7695, never the critical price
    idx = pd.date_range("2024-06-03 15:30", periods=9, freq="30min", tz="Asia/Shanghai")
    assert bill(pd.Series(1.0, index=idx), t).total == pytest.approx(4.5 * 0.7695)


def test_jiangxi_day_bills_only_peak_and_valley() -> None:
    # 1 kW all day: 14 h peak x 0.65 + 10 h valley x 0.50 = 14.1 (the base 0.62 never appears)
    idx = pd.date_range("2024-06-03", periods=24, freq="1h", tz="Asia/Shanghai")
    assert bill(pd.Series(1.0, index=idx), get_tariff("cn-jiangxi-residential-ev")).total == pytest.approx(14.1)
