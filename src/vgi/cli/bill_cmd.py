"""``vgi bill``: the bill of a load profile under a tariff."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import pandas as pd

from vgi.cli.common import json_option, print_json, print_table
from vgi.errors import VgiError
from vgi.io.series import parse_timestamps, parse_values
from vgi.io.tariff_library import tariff_for_period
from vgi.settle.bills import bill as compute_bill
from vgi.settle.bills import load_profile_from_frame, step_hours_of


def _read_csv(path: str, what: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise VgiError(f"{p}: no such {what} file")
    try:
        return pd.read_csv(p, dtype=str, skipinitialspace=True, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise VgiError(f"{p}: empty {what} file; expected a header line") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        message = " ".join(str(exc).split())
        raise VgiError(f"{p}: cannot read the {what} CSV ({message})") from exc


def read_load_csv(path: str) -> pd.Series:
    """A ``timestamp,power_kw`` CSV as a tz-aware power series in kW (positive import, negative export)."""
    frame = _read_csv(path, "load")
    frame.columns = [str(c).strip() for c in frame.columns]
    return load_profile_from_frame(frame, str(path))


def read_price_csv(path: str, what: str) -> pd.Series:
    """A ``timestamp,<value>`` CSV (times with a UTC offset) as a tz-aware series; errors name the file, row
    and field."""
    frame = _read_csv(path, what)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "timestamp" not in frame.columns or len(frame.columns) != 2:
        raise VgiError(f"{path}: expected two columns 'timestamp,<value>', found {list(frame.columns)}")
    if len(frame) == 0:
        raise VgiError(f"{path}: no data rows")
    col = next(c for c in frame.columns if c != "timestamp")
    index = parse_timestamps(frame["timestamp"], str(path))
    return pd.Series(parse_values(frame[col], str(path), str(col)), index=index, name=col)


def _parse_days(values: tuple[str, ...]) -> list[dt.date]:
    out = []
    for v in values:
        try:
            out.append(dt.date.fromisoformat(v.strip()))
        except ValueError as exc:
            raise VgiError(f"--critical-peak-day '{v}' is not a date YYYY-MM-DD") from exc
    return out


@click.command("bill")
@click.option("--load", "load_path", required=True, metavar="FILE",
              help="CSV with columns timestamp,power_kw: ISO 8601 times with a UTC offset (each row's power "
                   "holds until the next row; the last row lasts as long as the one before), power in kW, "
                   "positive = import from the grid, negative = export / V2G discharge.")
@click.option("--tariff", "tariff_id", required=True, metavar="ID_OR_PATH",
              help="A tariff id (see `vgi tariffs list`) or a tariff file: vgi YAML, OpenEI URDB JSON or "
                   "acnportal JSON.")
@click.option("--prices", "prices_path", default=None, metavar="FILE",
              help="For dynamic tariffs: CSV timestamp,<value> with the price series in the unit the tariff "
                   "names (EUR/MWh for de-dynamic-spot-2024, GBP/MWh for uk-octopus-agile); each value holds "
                   "until the next timestamp.")
@click.option("--export-prices", "export_path", default=None, metavar="FILE",
              help="For tariffs that pay exports from a series (e.g. cn-chongqing-v2g-discharge): CSV "
                   "timestamp,<value> in the tariff's currency per kWh (unless the tariff says otherwise).")
@click.option("--critical-peak-day", "cpp_days", multiple=True, metavar="DATE",
              help="A local date (YYYY-MM-DD) on which the tariff's triggered critical peak applies (e.g. a "
                   "Guangzhou >= 35 degC day); repeat for several days.")
@click.option("--subscribed-blocks", type=int, default=None, metavar="N",
              help="Capacity-subscription blocks (PG&E BEV: 10 kW or 50 kW each); default: the cheapest "
                   "number for each month's peak.")
@json_option
def bill(
    load_path: str,
    tariff_id: str,
    prices_path: str | None,
    export_path: str | None,
    cpp_days: tuple[str, ...],
    subscribed_blocks: int | None,
    as_json: bool,
) -> None:
    """Bill a load profile under a tariff, line by line: energy by season and period (currency/kWh x kWh),
    tiers, export / V2G credit, demand charges and subscription (per kW of the month's peak 15-min
    average), fixed charges (per day or month, prorated).  Amounts are in the tariff's currency; credits
    are negative."""
    load = read_load_csv(load_path)
    index = pd.DatetimeIndex(load.index)
    end = index[-1] + pd.Timedelta(hours=float(step_hours_of(index, 60.0 if len(index) == 1 else None)[-1]))
    tariff = tariff_for_period(tariff_id, index[0], end)  # the version in force for the load's days
    spot = read_price_csv(prices_path, "price") if prices_path else None
    export_spot = read_price_csv(export_path, "export price") if export_path else None
    days = _parse_days(cpp_days)
    if days and not any(rule.trigger and rule.applies for rule in tariff.critical_peaks):
        raise VgiError(
            f"tariff '{tariff.id}' has no triggered critical peak; --critical-peak-day does not apply"
        )
    if subscribed_blocks is not None and tariff.subscription is None:
        raise VgiError(
            f"tariff '{tariff.id}' has no capacity subscription; --subscribed-blocks does not apply"
        )
    result = compute_bill(load, tariff, spot=spot, export_spot=export_spot, critical_peak_days=days,
                          subscribed_blocks=subscribed_blocks)
    if as_json:
        data = result.to_dict()
        data["tariff_name"] = tariff.name
        data["verification"] = tariff.verification
        data["hours_verified"] = tariff.hours_verified
        print_json(data)
        return
    rows = [[ln.category, ln.label, ln.quantity, ln.unit, ln.rate, ln.amount] for ln in result.lines]
    print_table(
        f"{tariff.id}: {result.start.isoformat()} to {result.end.isoformat()} (amounts in {result.currency})",
        ["category", "line", "quantity", "unit", f"rate ({result.currency}/unit)",
         f"amount ({result.currency})"],
        rows,
    )
    click.echo(f"import {result.import_kwh:,.3f} kWh, export {result.export_kwh:,.3f} kWh")
    click.echo(f"total {result.total:,.2f} {result.currency}")
    if not tariff.hours_verified:
        click.echo(f"note: the hours of '{tariff.id}' are not verified for its date; see `vgi tariffs show "
                   f"{tariff.id}`", err=True)
