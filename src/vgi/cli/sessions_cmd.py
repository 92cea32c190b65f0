"""``vgi sessions``: validate session files and generate synthetic fleets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from vgi.cli.common import json_option, print_json, print_table
from vgi.errors import ValidationError, VgiError
from vgi.io.session_readers import FORMATS, read_any
from vgi.model.generator import ARCHETYPES, generate_sessions, parse_archetypes
from vgi.model.sessions import SessionTable

__all__ = ["generate", "sessions", "validate"]


@click.group("sessions")
def sessions() -> None:
    """Charging sessions: check a session file, or generate a synthetic fleet.

    A session is one plug-in: arrival, departure, energy wanted (kWh) or target SoC, battery (kWh), initial
    SoC, max charge and discharge power (kW), efficiencies, V2G consent and the minimum SoC kept.  The
    generic CSV/Parquet layout is documented in docs/sessions.md.
    """


def _parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise VgiError(f"--map expects OURS=THEIRS (e.g. arrival=plug_in_time), not {pair!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _flagged_rows(table: SessionTable, show: int) -> list[dict[str, Any]]:
    flagged = table.flagged.sort_values("shortfall_kwh", ascending=False, kind="stable").head(show)
    frame = table.frame.loc[flagged.index]
    return [
        {
            "session_id": str(sid),
            "arrival": arr.isoformat(),
            "departure": dep.isoformat(),
            "energy_kwh": float(e),
            "max_charge_kw": float(p),
            "shortfall_kwh": float(s),
        }
        for sid, arr, dep, e, p, s in zip(
            frame["session_id"],
            frame["arrival"],
            frame["departure"],
            frame["energy_kwh"],
            frame["max_charge_kw"],
            frame["shortfall_kwh"],
            strict=True,
        )
    ]


def _print_summary(title: str, summary: dict[str, Any]) -> None:
    labels = {
        "sessions": "sessions",
        "sites": "sites",
        "vehicles": "vehicles",
        "first_arrival": "first arrival (UTC)",
        "last_departure": "last departure (UTC)",
        "energy_kwh": "energy wanted, kWh",
        "mean_energy_kwh": "mean energy per session, kWh",
        "mean_dwell_h": "mean plug-in time, h",
        "v2g_sessions": "V2G-enabled sessions",
        "flagged_sessions": "flagged (energy not deliverable)",
        "shortfall_kwh": "total shortfall, kWh",
    }
    rows = [[label, summary[key]] for key, label in labels.items()]
    rows.append(["time zones", ", ".join(summary["timezones"])])
    print_table(title, ["quantity", "value"], rows)


@sessions.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="generic",
    show_default=True,
    help="generic: our CSV/Parquet layout; acn-json / acn-csv: ACN-Data export; "
    "boulder: start + duration records.",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="OURS=THEIRS",
    help="Generic layout: read our column OURS from the file's column THEIRS (repeatable).",
)
@click.option(
    "--prefer",
    type=click.Choice(["requested", "delivered"]),
    default="requested",
    show_default=True,
    help="ACN formats: the driver's requested kWh and departure where given, or always the metered ones.",
)
@click.option(
    "--show", default=10, show_default=True, help="How many flagged sessions to list (largest first)."
)
@json_option
def validate(fmt: str, file: Path, mapping: tuple[str, ...], prefer: str, show: int, as_json: bool) -> None:
    """Check FILE and print counts, totals and the sessions whose energy cannot be delivered.

    Every problem is listed with its file, row (1-based, header excluded) and field; the exit status is
    then 1.
    A session whose energy (kWh) cannot be delivered between arrival and departure at its max power (kW) is
    kept and flagged with its shortfall in kWh.
    """
    try:
        table = read_any(file, fmt, _parse_mapping(mapping), prefer=prefer)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = exc.problems
        if as_json:
            print_json(
                {
                    "file": str(file),
                    "valid": False,
                    "problems": [
                        {"source": p.source, "row": p.row, "field": p.field, "message": p.message}
                        for p in problems
                    ],
                }
            )
        else:
            click.echo(f"{file}: {len(problems)} problem(s)")
            for p in problems:
                click.echo(f"  {p}")
        sys.exit(1)
    summary = table.summary()
    flagged = _flagged_rows(table, max(show, 0))
    if as_json:
        print_json(
            {"file": str(file), "valid": True, **summary, "notes": list(table.notes), "flagged": flagged}
        )
        return
    _print_summary(f"{file} ({fmt})", summary)
    for note in table.notes:
        click.echo(f"note: {note}")
    if flagged:
        print_table(
            f"flagged sessions (largest {len(flagged)} of {summary['flagged_sessions']})",
            ["session_id", "arrival", "departure", "energy_kwh", "max_charge_kw", "shortfall_kwh"],
            [list(row.values()) for row in flagged],
        )


@sessions.command("generate")
@click.option(
    "--archetype",
    "archetypes",
    multiple=True,
    required=True,
    metavar="NAME[=SHARE]",
    help=f"Archetype and its share of the count (repeatable): {', '.join(ARCHETYPES)}. "
    "Names without a share split the rest equally.",
)
@click.option("--count", type=click.IntRange(min=0), required=True, help="Number of sessions in all.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same sessions.")
@click.option("--start-day", default="2024-06-03", show_default=True, help="First local day, YYYY-MM-DD.")
@click.option(
    "--days", "n_days", type=click.IntRange(min=1), default=1, show_default=True, help="Days to spread over."
)
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the sites' wall clock.")
@click.option(
    "--v2g-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Probability that a session (not public DC) consents to V2G, with a V2G-capable vehicle.",
)
@click.option("--site-prefix", default="", help="Prefix of session and site ids.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file, .csv (times in local time with offset) or .parquet.",
)
@json_option
def generate(
    archetypes: tuple[str, ...],
    count: int,
    seed: int,
    start_day: str,
    n_days: int,
    timezone: str,
    v2g_share: float,
    site_prefix: str,
    out: Path,
    as_json: bool,
) -> None:
    """Generate a synthetic fleet from shipped distribution tables and write it in the generic layout.

    Arrivals, plug-in times and energy (kWh) are drawn per archetype from the ElaadNL tables (home,
    workplace, public_ac) or vgi's cited tables (public_dc, depot); vehicles (battery kWh, AC/DC kW, V2G)
    from vehicles.csv.
    """
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise VgiError(f"--out must end in .csv or .parquet, not {out.name!r}")
    shares = parse_archetypes(",".join(archetypes))
    table = generate_sessions(count, shares, seed, start_day, n_days, timezone, v2g_share, site_prefix)
    if out.parent and not out.parent.exists():
        raise VgiError(f"{out.parent}: no such folder")
    table.write(out)
    summary = table.summary()
    summary["source"] = str(out)
    if as_json:
        print_json({"file": str(out), "archetypes": shares, "seed": seed, **summary})
        return
    _print_summary(f"wrote {out}", summary)
    click.echo("archetypes: " + ", ".join(f"{k}={v:.3g}" for k, v in shares.items()))
