"""Time grid: regular steps in absolute time, DST days with 92/100 quarter hours."""

import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid, day_grid


@pytest.mark.parametrize(
    ("day", "zone", "steps"),
    [
        ("2024-03-31", "Europe/Amsterdam", 92),  # clocks 02:00 -> 03:00
        ("2024-10-27", "Europe/Amsterdam", 100),  # clocks 03:00 -> 02:00
        ("2024-03-10", "America/Los_Angeles", 92),
        ("2024-11-03", "America/Los_Angeles", 100),
        ("2024-06-01", "America/Los_Angeles", 96),
        ("2024-06-01", "Asia/Shanghai", 96),
    ],
)
def test_day_lengths(day: str, zone: str, steps: int) -> None:
    grid = day_grid(day, zone)
    assert grid.n_steps == steps
    assert len(grid.local_index) == steps
    # every step is 15 minutes of absolute time
    assert (grid.utc_index[1:] - grid.utc_index[:-1] == pd.Timedelta(minutes=15)).all()
    assert grid.local_index[0].hour == 0


def test_dst_spring_local_labels_skip_the_missing_hour() -> None:
    grid = day_grid("2024-03-31", "Europe/Amsterdam")
    hours = sorted(set(grid.local_index.hour))
    assert 2 not in hours and len(hours) == 23


def test_dst_autumn_local_labels_repeat_an_hour() -> None:
    grid = day_grid("2024-10-27", "Europe/Amsterdam")
    assert (grid.local_index.hour == 2).sum() == 8


@pytest.mark.parametrize("step", [1, 5, 10, 15, 30, 45, 60, 90, 120, 180, 1440])
def test_steps_that_divide_an_hour_or_a_day(step: int) -> None:
    grid = TimeGrid.local_days("2024-06-01", 1, step, "UTC")
    assert grid.n_steps == 1440 // step
    assert grid.step_hours == pytest.approx(step / 60)


@pytest.mark.parametrize("step", [7, 25, 50, 0, -15])
def test_bad_steps_are_refused(step: int) -> None:
    with pytest.raises(VgiError, match="does not divide"):
        TimeGrid.local_days("2024-06-01", 1, step, "UTC")


def test_unknown_zone_and_naive_times() -> None:
    with pytest.raises(VgiError, match="unknown time zone"):
        day_grid("2024-06-01", "Mars/Olympus")
    with pytest.raises(VgiError, match="time zone or UTC offset"):
        TimeGrid(pd.Timestamp("2024-06-01"), pd.Timestamp("2024-06-02"))


def test_step_of() -> None:
    grid = day_grid("2024-06-01", "Asia/Shanghai")
    times = pd.DatetimeIndex(["2024-06-01T00:00+08:00", "2024-06-01T00:14+08:00", "2024-06-01T23:50+08:00"])
    assert grid.step_of(times).tolist() == [0, 0, 95]
    assert grid.step_of(times, side="ceil").tolist() == [0, 1, 96]


def test_series_csv_needs_offsets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vgi.cli.common import read_series_csv

    good = tmp_path / "p.csv"
    good.write_text("timestamp,price\n2024-06-01T00:00+08:00,1.5\n2024-06-01T01:00+08:00,2\n")
    series = read_series_csv(good)
    assert series.tolist() == [1.5, 2.0] and str(series.index.tz) == "UTC"
    bad = tmp_path / "naive.csv"
    bad.write_text("timestamp,price\n2024-06-01T00:00+08:00,1.5\n2024-06-01 01:00,2\n")
    with pytest.raises(VgiError, match=r"row 2, field 'timestamp'.*no UTC offset"):
        read_series_csv(bad)
