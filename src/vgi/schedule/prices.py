"""Prices a strategy schedules against: import (buy) and export (sell) price per step of a fleet's grid.

:class:`PriceInputs` is what every strategy takes.  Build one from a tariff with :func:`price_inputs`, or
directly from arrays (a spot series, a coupled solver's shadow prices).  Prices are in the tariff's currency
per kWh of grid
energy: ``buy[t]`` is paid per kWh imported in step ``t``, ``sell[t]`` earned per kWh exported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.tariffs import Tariff, tariff_prices
from vgi.model.timegrid import TimeGrid

__all__ = ["PriceInputs", "price_inputs"]


@dataclass(frozen=True, eq=False)
class PriceInputs:
    """Import and export prices per step, currency/kWh, each of shape (T,).

    Attributes:
        buy: price paid per kWh imported (may be negative).
        sell: price earned per kWh exported (zeros where exports earn nothing).
        currency: label only (e.g. ``CNY``).
    """

    buy: np.ndarray
    sell: np.ndarray
    currency: str = ""

    def __post_init__(self) -> None:
        buy = np.ascontiguousarray(np.asarray(self.buy, dtype=float))
        sell = np.ascontiguousarray(np.asarray(self.sell, dtype=float))
        if buy.ndim != 1:
            raise VgiError(f"buy prices must be one value per step, got shape {buy.shape}")
        if sell.shape != buy.shape:
            raise VgiError(
                f"sell prices have shape {sell.shape}, buy prices {buy.shape}: give one of each per step"
            )
        for name, arr in (("buy", buy), ("sell", sell)):
            if not np.isfinite(arr).all():
                first = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise VgiError(f"{name} price at step {first} is not a finite number")
        object.__setattr__(self, "buy", buy)
        object.__setattr__(self, "sell", sell)

    def __len__(self) -> int:
        return len(self.buy)

    @classmethod
    def flat(cls, n_steps: int, buy: float, sell: float = 0.0, currency: str = "") -> PriceInputs:
        """Constant prices over ``n_steps``."""
        return cls(np.full(n_steps, float(buy)), np.full(n_steps, float(sell)), currency)

    def check_grid(self, grid: TimeGrid) -> None:
        """Raise :class:`VgiError` when the prices do not have one value per step of ``grid``."""
        if len(self.buy) != grid.n_steps:
            raise VgiError(f"prices have {len(self.buy)} steps, the time grid has {grid.n_steps}")


def _series_on_grid(series: np.ndarray | pd.Series | None, grid: TimeGrid, what: str) -> np.ndarray | None:
    """A price series as one value per grid step: an array of the grid's length, or a tz-aware series read as
    a step function (each step takes the last value at or before its start)."""
    if series is None:
        return None
    if isinstance(series, pd.Series):
        if not isinstance(series.index, pd.DatetimeIndex) or series.index.tz is None:
            raise VgiError(f"{what} series needs tz-aware timestamps")
        s = series.sort_index()
        idx = grid.utc_index
        times = pd.DatetimeIndex(s.index).tz_convert("UTC")
        pos = times.searchsorted(idx, side="right") - 1
        if (pos < 0).any():
            first = idx[int(np.flatnonzero(pos < 0)[0])]
            raise VgiError(f"{what} series starts at {s.index[0]}, after the grid step {first}")
        last = s.index[-1]
        span = (s.index[-1] - s.index[-2]) if len(s) > 1 else pd.Timedelta(minutes=grid.step_minutes)
        if idx[-1] >= last + span:
            raise VgiError(f"{what} series ends at {last}, before the grid step {idx[-1]}")
        return s.to_numpy(dtype=float)[pos]
    arr = np.asarray(series, dtype=float)
    if arr.shape != (grid.n_steps,):
        raise VgiError(f"{what} series has {arr.size} values for {grid.n_steps} steps")
    return arr


def price_inputs(
    tariff: Tariff,
    grid: TimeGrid,
    spot: np.ndarray | pd.Series | None = None,
    export_spot: np.ndarray | pd.Series | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
) -> PriceInputs:
    """The tariff's import and export prices at each step of ``grid``.

    Args:
        tariff: a :class:`~vgi.model.tariffs.Tariff` (period prices, or a dynamic formula of ``spot``).
        grid: the fleet's time grid; prices are taken at each step's start.
        spot: for dynamic tariffs, the series the formula applies to: an array with one value per step, or a
            tz-aware series (e.g. hourly) read as a step function.
        export_spot: for tariffs that pay exports from a series.
        critical_peak_days: local dates on which triggered critical-peak rules apply.
    """
    vectors = tariff_prices(
        tariff,
        grid.utc_index,
        spot=_series_on_grid(spot, grid, "price"),
        export_spot=_series_on_grid(export_spot, grid, "export price"),
        critical_peak_days=critical_peak_days,
    )
    return PriceInputs(vectors.import_price, vectors.export_price, tariff.currency)
