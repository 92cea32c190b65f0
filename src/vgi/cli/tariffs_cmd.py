"""``vgi tariffs``: list the tariff library and show one tariff readably."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from vgi.cli.common import console, json_option, print_json
from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff, tariff_library, tariff_versions
from vgi.model.tariffs import Tariff, Window, schedule_rows

_COUNTRY_ALIASES = {"UK": "GB"}


def _windows_text(windows: tuple[Window, ...]) -> str:
    def clock(h: float) -> str:
        m = round(h * 60)
        return f"{m // 60:02d}:{m % 60:02d}"

    parts = []
    for w in windows:
        text = f"{clock(w.start)}-{clock(w.end)}"
        if len(w.months) < 12:
            text += f" (months {','.join(str(m) for m in w.months)})"
        parts.append(text)
    return ", ".join(parts) or "(none)"


def _summary(t: Tariff) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "region": t.region,
        "country": t.country,
        "currency": t.currency,
        "timezone": t.timezone,
        "valid_from": t.valid_from.isoformat(),
        "valid_to": t.valid_to.isoformat() if t.valid_to else None,
        "verification": t.verification,
        "hours_verified": t.hours_verified,
        "kind": "dynamic" if t.is_dynamic else "time-of-use",
        "customer": t.customer,
        "versions": len(tariff_versions(t.id)) if t.id in tariff_library() else 1,
    }


@click.group("tariffs")
def tariffs() -> None:
    """The tariff library: list tariffs and show one (prices in the tariff's currency per kWh, demand charges
    per kW of a month's peak, local clock times in the tariff's time zone)."""


@tariffs.command("list")
@click.option("--country", default=None, help="Only tariffs of this country code (CN, US, GB or UK, DE, AU).")
@json_option
def list_tariffs(country: str | None, as_json: bool) -> None:
    """List the shipped tariffs: id, name, region, currency, valid-from date and verification status."""
    lib = tariff_library()
    items = list(lib.values())
    if country is not None:
        code = _COUNTRY_ALIASES.get(country.upper(), country.upper())
        known = sorted({t.country for t in items})
        if code not in known:
            raise VgiError(f"no tariffs for country '{country}'; the library has {', '.join(known)}")
        items = [t for t in items if t.country == code]
    rows = [_summary(t) for t in items]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"vgi tariff library ({len(rows)} tariffs)")
    for col in ("id", "name", "region", "currency", "valid from", "valid to", "verification", "hours"):
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "valid from", "valid to"))
    for r in rows:
        name = r["name"] + (f" (+{r['versions'] - 1} later version; `vgi tariffs show ID@DATE`)"
                            if r["versions"] > 1 else "")
        table.add_row(r["id"], name, r["region"], r["currency"], r["valid_from"], r["valid_to"] or "-",
                      r["verification"], "verified" if r["hours_verified"] else "UNVERIFIED")
    console().print(table)


def _tariff_json(t: Tariff) -> dict[str, Any]:
    data = t.model_dump(mode="json")
    data["schedule"] = schedule_rows(t)
    return data


def _versions_json(t: Tariff) -> list[dict[str, Any]]:
    if t.id not in tariff_library():
        return []
    return [{"valid_from": v.valid_from.isoformat(), "valid_to": v.valid_to.isoformat() if v.valid_to else None,
             "name": v.name} for v in tariff_versions(t.id)]


def _fmt_price(value: object) -> str:
    return f"{value:.10g}" if isinstance(value, int | float) else "-"


@tariffs.command("show")
@click.argument("tariff_id", metavar="ID")
@json_option
def show_tariff(tariff_id: str, as_json: bool) -> None:
    """Show a tariff (an id of `vgi tariffs list`, ID@YYYY-MM-DD for the version in force that day, or a tariff
    file): periods, hours, prices, seasons,
    critical peaks, tiers, export, demand and fixed charges, sources and verification."""
    t = get_tariff(tariff_id)
    if as_json:
        data = _tariff_json(t)
        data["versions"] = _versions_json(t)
        print_json(data)
        return
    con = console()
    cur = t.currency
    con.print(f"[bold]{t.id}[/bold]  {t.name}")
    con.print(f"region {t.region} ({t.country}), currency {cur}, time zone {t.timezone}, "
              f"customer: {t.customer}")
    hours = "verified" if t.hours_verified else "UNVERIFIED"
    con.print(f"valid from {t.valid_from.isoformat()}; verification {t.verification}; hours {hours}")
    start_rule = ("it began on valid_from" if t.starts_on_valid_from
                  else "valid_from dates the prices; earlier days are billed at them")
    con.print(f"bills periods {t.validity_text} ({start_rule})")
    if t.id in tariff_library():
        others = [v for v in tariff_versions(t.id) if v != t]
        for v in others:
            con.print(f"  other version: {v.validity_text} - {v.name}", markup=False)
    for key, text in t.verification_detail.items():
        con.print(f"  - {key}: {text}")
    sources = [t.source] if isinstance(t.source, str) else list(t.source)
    con.print("sources:")
    for src in sources:
        con.print(f"  - {src}", markup=False)
    if t.notes:
        con.print("notes:", t.notes, markup=False)
    if t.holidays:
        names = ", ".join(t.holiday_names) if t.holiday_names else "all"
        con.print(f"holidays ({t.holidays}, observance {t.holiday_observance}): {names}", markup=False)

    rows = schedule_rows(t)
    if rows:
        table = Table(title=f"energy prices ({cur}/kWh)")
        for col in ("season", "months", "days", "period", "hours", "price"):
            table.add_column(col, overflow="fold")
        for r in rows:
            cells = [str(r[k]) for k in ("season", "months", "days", "period", "hours")]
            table.add_row(*cells, _fmt_price(r["price"]))
        con.print(table)
    if t.dynamic is not None:
        f = t.dynamic
        pairs = zip(f.window_adders, f.window_adder_values, strict=True)
        adders = ", ".join(f"+{v:.10g} in {_windows_text((w,))}" for w, v in pairs)
        text = (f"dynamic price = ({f.multiplier:.10g} x series x {f.series_to_currency_per_kwh:.10g}"
                f" + {f.adder:.10g}{' ' + adders if adders else ''}) x (1 + {f.vat:.10g})")
        if f.cap is not None:
            text += f", capped at {f.cap:.10g}"
        if f.floor is not None:
            text += f", floored at {f.floor:.10g}"
        con.print(f"{text} {cur}/kWh; series: {f.series or 'price series'}", markup=False)
    if t.reference_prices:
        con.print(f"reference prices (shown, not billed; {cur}/kWh):")
        for k, price in t.reference_prices.items():
            why = t.reference_price_notes.get(k, "no window of the schedule uses it")
            con.print(f"  - {k} {price:.10g}: {why}", markup=False)
    for rule in t.critical_peaks:
        value = (f"price {rule.price:.10g}" if rule.price is not None else
                 f"x {rule.multiplier:.10g}" if rule.multiplier is not None else f"+ {rule.adder:.10g}")
        when = f"trigger: {rule.trigger}" if rule.trigger else "fixed"
        applied = "" if rule.applies else " [not applied]"
        months = ",".join(str(m) for m in rule.months) if len(rule.months) < 12 else "all months"
        con.print(f"critical peak '{rule.name}'{applied}: {months}, {'/'.join(rule.day_types)} days, "
                  f"{_windows_text(rule.windows)}, {value} ({when})", markup=False)
    if t.tiers is not None:
        applied = "applied" if t.tiers.applies else "not applied by default"
        con.print(f"tiers (kWh per {t.tiers.per}, {applied}):")
        for season, blocks in t.tiers.blocks.items():
            lower = 0.0
            parts = []
            for b in blocks:
                upper = "inf" if b.up_to_kwh is None else f"{b.up_to_kwh:.10g}"
                extra = "".join(f", {k} +{v:.10g}" for k, v in b.period_adders.items())
                parts.append(f"{lower:.10g}-{upper} kWh: +{b.adder:.10g}{extra}")
                lower = b.up_to_kwh or lower
            con.print(f"  {season}: " + "; ".join(parts), markup=False)
    e = t.export
    export_text = {
        "none": "exports earn nothing",
        "fixed": f"fixed {e.price:.10g} {cur}/kWh",
        "periods": f"by period {e.prices} (else {e.price:.10g}) {cur}/kWh",
        "import_fraction": f"{e.fraction:.10g} x the import price",
        "series": f"from a series ({e.formula.series if e.formula else ''})",
    }[e.kind]
    if e.extra:
        export_text += f" + {e.extra:.10g} {cur}/kWh"
    con.print(f"export / V2G discharge: {export_text}" + (f" - {e.note}" if e.note else ""), markup=False)
    for d in t.demand_charges:
        scope = []
        if len(d.months) < 12:
            scope.append("months " + ",".join(str(m) for m in d.months))
        if d.periods:
            scope.append("periods " + ",".join(d.periods))
        if d.windows is not None:
            scope.append("; ".join(f"{k} {_windows_text(v)}" for k, v in d.windows.items()))
        scope_text = " - " + " | ".join(scope) if scope else ""
        con.print(f"demand charge '{d.name}': {d.price_per_kw:.10g} {cur}/kW of the month's peak "
                  f"({d.interval_minutes}-min average){scope_text}", markup=False)
    if t.subscription is not None:
        s = t.subscription
        con.print(f"subscription: blocks of {s.block_kw:.10g} kW at {s.price_per_block:.10g} {cur}/month, "
                  f"overage {s.overage_per_kw:.10g} {cur}/kW above the subscription "
                  f"({s.interval_minutes}-min demand)")
    for fc in t.fixed_charges:
        con.print(f"fixed charge '{fc.name}': {fc.amount:.10g} {cur} per {fc.per}", markup=False)
