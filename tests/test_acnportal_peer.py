"""A peer on the same input: acnportal (Caltech's ACN simulator) against vgi on a week of ACN Caltech sessions.

* acnportal's uncontrolled charging and vgi's uncontrolled strategy deliver the same energy to every session;
* vgi's price-responsive schedule (each EV alone, exact) and vgi's coupled LP under the same 30 kW site limit cost
  less than acnportal's least-laxity-first under SCE TOU-EV-4 (the tariff file acnportal ships), with the same
  energy delivered.

Both run on the same snapped input: 15-minute periods, arrival at the start of the period the car plugged in,
departure at the end of the period it left, 32 A at 208 V (6.656 kW) per station, the energy the session really
received (``kWhDelivered``) as its request; acnportal's battery is sized to the request so that its uncontrolled
charging stops exactly at it, as vgi's does.

Runs only where the ACN data (``../shared``) is present and acnportal can be run: imported in this interpreter,
or in a subprocess from ``$VGI_ACNPORTAL_PYTHON`` (a python with acnportal), or from a venv at
``$VGI_ACNPORTAL_VENV`` that the test creates (``pip install acnportal``) when it does not exist yet.  The figures
and commands are in docs/scheduling.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.api import ScheduleOptions, schedule
from vgi.schedule.prices import price_inputs
from vgi.schedule.problem import FleetOnGrid

pytestmark = [pytest.mark.shared, pytest.mark.slow]

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SESSIONS_CSV = SHARED / "ev_sessions" / "acn_caltech" / "acn_caltech_sessions_2020-12_2021-09.csv"
TARIFF_JSON = SHARED / "tariffs" / "acnportal_sce_pge" / "sce_tou_ev_4_march_2019.json"
TIMEZONE = "America/Los_Angeles"
WEEK_START = "2021-07-12"  # Monday; a summer week without a holiday
PERIOD_MIN = 15
VOLTAGE = 208.0
MAX_AMPS = 32.0
SITE_LIMIT_KW = 30.0

# Runs inside acnportal's environment (no vgi there): reads a spec as JSON on stdin, writes results on stdout.
ACN_RUNNER = r'''
import json
import sys
from datetime import datetime


def run(spec):
    import pytz
    from acnportal import acnsim, algorithms
    from acnportal.signals.tariffs import TimeOfUseTariff

    tz = pytz.timezone(spec["timezone"])
    start = tz.localize(datetime.fromisoformat(spec["start_local"]))
    period, voltage, amps = spec["period_minutes"], spec["voltage"], spec["max_amps"]
    tariff = TimeOfUseTariff(spec["tariff"])
    out = {"prices": [float(p) for p in tariff.get_tariffs(start, spec["n_periods"], period)]}
    for name in spec["algorithms"]:
        network = acnsim.ChargingNetwork()
        stations = [s["session_id"] for s in spec["sessions"]]
        for st in stations:
            network.register_evse(acnsim.EVSE(st, max_rate=amps), voltage, 0)
        limit_kw = spec.get("site_limit_kw") if name != "uncontrolled" else None
        # acnsim needs at least one constraint; uncontrolled charging gets one that never binds
        limit_amps = 1e9 if not limit_kw else limit_kw * 1000 / voltage
        network.add_constraint(acnsim.Current(stations), limit_amps, name="site")
        events = []
        for s in spec["sessions"]:
            battery = acnsim.Battery(capacity=s["energy_kwh"], init_charge=0, max_power=amps * voltage / 1000)
            ev = acnsim.EV(s["arrival"], s["departure"], s["energy_kwh"], s["session_id"], s["session_id"], battery)
            events.append(acnsim.PluginEvent(s["arrival"], ev))
        if name == "uncontrolled":
            algo = algorithms.UncontrolledCharging()
        else:
            algo = algorithms.SortedSchedulingAlgo(algorithms.least_laxity_first)
        sim = acnsim.Simulator(network, algo, acnsim.EventQueue(events), start, period=period,
                               signals={"tariff": tariff}, verbose=False)
        sim.run()
        agg = acnsim.aggregate_power(sim)
        out[name] = {
            "delivered_kwh": {ev.session_id: float(ev.energy_delivered) for ev in sim.ev_history.values()},
            "energy_cost": float(acnsim.energy_cost(sim)),
            "peak_kw": float(agg.max()),
            "total_kwh": float(acnsim.total_energy_delivered(sim)),
        }
    return out


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
'''


def _snapped_week() -> pd.DataFrame:
    df = pd.read_csv(SESSIONS_CSV, dtype={"sessionID": "string"})
    start = pd.Timestamp(WEEK_START, tz=TIMEZONE)
    end = start + pd.Timedelta(days=7)
    arr = pd.to_datetime(df["connectionTime_utc"], utc=True)
    dep = pd.to_datetime(df["disconnectTime_utc"], utc=True)
    keep = ((arr >= start) & (dep <= end)).to_numpy()
    step_s = PERIOD_MIN * 60.0
    a = np.floor((arr[keep] - start).dt.total_seconds().to_numpy() / step_s).astype(int)
    d = np.ceil((dep[keep] - start).dt.total_seconds().to_numpy() / step_s).astype(int)
    return pd.DataFrame(
        {
            "session_id": [f"acn{i:03d}" for i in range(int(keep.sum()))],
            "acn_session": df.loc[keep, "sessionID"].to_numpy(),
            "arrival": a,
            "departure": d,
            "energy_kwh": df.loc[keep, "kWhDelivered"].to_numpy(dtype=float),
        }
    )


def _spec(week: pd.DataFrame) -> dict[str, Any]:
    return {
        "timezone": TIMEZONE,
        "start_local": f"{WEEK_START}T00:00:00",
        "period_minutes": PERIOD_MIN,
        "voltage": VOLTAGE,
        "max_amps": MAX_AMPS,
        "n_periods": 7 * 24 * 60 // PERIOD_MIN,
        "tariff": "sce_tou_ev_4_march_2019",
        "algorithms": ["uncontrolled", "llf"],
        "site_limit_kw": SITE_LIMIT_KW,
        "sessions": [
            {"session_id": r.session_id, "arrival": int(r.arrival), "departure": int(r.departure),
             "energy_kwh": float(r.energy_kwh)}
            for r in week.itertuples()
        ],
    }


def _acn_python() -> str | None:
    """A python that can import acnportal, other than this one (None if there is none)."""
    explicit = os.environ.get("VGI_ACNPORTAL_PYTHON")
    if explicit:
        return explicit
    venv_dir = os.environ.get("VGI_ACNPORTAL_VENV")
    if not venv_dir:
        return None
    python = Path(venv_dir) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(venv_dir)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "acnportal"], check=True)
    return str(python)


def run_acnportal(spec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """acnportal's results on ``spec``: in this interpreter if it has acnportal, else in a subprocess."""
    if importlib.util.find_spec("acnportal") is not None:
        namespace: dict[str, Any] = {"__name__": "acn_runner"}
        exec(compile(ACN_RUNNER, "acn_runner", "exec"), namespace)
        return namespace["run"](spec)  # type: ignore[no-any-return]
    python = _acn_python()
    if python is None:
        pytest.skip("acnportal is not importable; set VGI_ACNPORTAL_PYTHON or VGI_ACNPORTAL_VENV to run the peer")
    script = tmp_path / "acn_runner.py"
    script.write_text(ACN_RUNNER)
    done = subprocess.run([python, str(script)], input=json.dumps(spec), capture_output=True, text=True,
                          check=False, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"acnportal run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def vgi_fleet(week: pd.DataFrame) -> FleetOnGrid:
    start = pd.Timestamp(WEEK_START, tz=TIMEZONE)
    step = pd.Timedelta(minutes=PERIOD_MIN)
    frame = pd.DataFrame(
        {
            "session_id": week["session_id"],
            "arrival": start + week["arrival"].to_numpy() * step,
            "departure": start + week["departure"].to_numpy() * step,
            "energy_kwh": week["energy_kwh"],
            "battery_kwh": 200.0,
            "initial_soc": 0.0,
            "max_charge_kw": MAX_AMPS * VOLTAGE / 1000.0,
            "charge_efficiency": 1.0,
            "discharge_efficiency": 1.0,
            "site_id": "caltech",
            "timezone": TIMEZONE,
        }
    )
    grid = TimeGrid.local_days(WEEK_START, 7, PERIOD_MIN, TIMEZONE)
    return FleetOnGrid.from_sessions(sessions_from_frame(frame, "acn-caltech-week"), grid, "v1g")


def peer_figures(tmp_path: Path) -> dict[str, Any]:
    """Everything the comparison reports (also printed by ``python tests/test_acnportal_peer.py``)."""
    from vgi.io.tariff_readers import read_acnportal_tariff

    week = _snapped_week()
    acn = run_acnportal(_spec(week), tmp_path)
    fleet = vgi_fleet(week)
    prices = price_inputs(read_acnportal_tariff(TARIFF_JSON, timezone=TIMEZONE), fleet.grid)
    out: dict[str, Any] = {"sessions": len(week), "acn": acn, "prices_match": bool(
        np.allclose(prices.buy, np.asarray(acn["prices"]), rtol=0, atol=1e-12))}
    for name, strategy, options in (
        ("uncontrolled", "uncontrolled", ScheduleOptions()),
        ("price", "price", ScheduleOptions()),
        ("coupled_lp", "coupled", ScheduleOptions(site_limit_kw=SITE_LIMIT_KW, solver="lp")),
    ):
        result = schedule(fleet, strategy, prices, options)
        out[name] = {
            "delivered_kwh": dict(zip(week["session_id"], result.delivered_kwh(), strict=True)),
            "energy_cost": float(result.stats["cost"]),
            "peak_kw": float(result.stats["peak_kw"]),
            "total_kwh": float(result.delivered_kwh().sum()),
            "solve_seconds": float(result.stats["solve_seconds"]),
        }
    return out


@pytest.mark.skipif(not SESSIONS_CSV.exists() or not TARIFF_JSON.exists(), reason="../shared data not present")
def test_vgi_against_acnportal(tmp_path: Path) -> None:
    fig = peer_figures(tmp_path)
    assert fig["sessions"] > 50
    # the same SCE TOU-EV-4 prices on every 15-minute step of the week
    assert fig["prices_match"]
    acn_u = fig["acn"]["uncontrolled"]["delivered_kwh"]
    vgi_u = fig["uncontrolled"]["delivered_kwh"]
    assert set(acn_u) == set(vgi_u)
    for sid, kwh in acn_u.items():
        assert vgi_u[sid] == pytest.approx(kwh, abs=1e-6), sid
    # every strategy delivers what uncontrolled charging does (nobody is short because of the optimisation)
    total = fig["acn"]["uncontrolled"]["total_kwh"]
    for name in ("price", "coupled_lp"):
        assert fig[name]["total_kwh"] == pytest.approx(total, rel=1e-9)
    assert fig["acn"]["llf"]["total_kwh"] == pytest.approx(total, rel=1e-6)
    # same energy, lower cost than least-laxity-first under the same tariff (and the same site limit for the LP)
    llf_cost = fig["acn"]["llf"]["energy_cost"]
    assert fig["price"]["energy_cost"] < llf_cost
    assert fig["coupled_lp"]["energy_cost"] < llf_cost
    assert fig["coupled_lp"]["peak_kw"] <= SITE_LIMIT_KW + 1e-6
    # uncontrolled charging costs the same in both tools
    assert fig["uncontrolled"]["energy_cost"] == pytest.approx(fig["acn"]["uncontrolled"]["energy_cost"], rel=1e-9)


if __name__ == "__main__":  # print the figures for docs/scheduling.md
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figures = peer_figures(Path(tmp))
    print(f"sessions: {figures['sessions']}  prices match: {figures['prices_match']}")
    rows = [
        ("acnportal uncontrolled", figures["acn"]["uncontrolled"]),
        ("acnportal LLF (30 kW)", figures["acn"]["llf"]),
        ("vgi uncontrolled", figures["uncontrolled"]),
        ("vgi price (exact)", figures["price"]),
        ("vgi coupled LP (30 kW)", figures["coupled_lp"]),
    ]
    for label, r in rows:
        print(f"{label:26s} energy {r['total_kwh']:9.3f} kWh  cost {r['energy_cost']:9.4f} USD  "
              f"peak {r['peak_kw']:7.3f} kW")
    diffs = [abs(figures["uncontrolled"]["delivered_kwh"][k] - v)
             for k, v in figures["acn"]["uncontrolled"]["delivered_kwh"].items()]
    print(f"largest per-session difference, uncontrolled: {max(diffs):.2e} kWh")
    sys.exit(0)
