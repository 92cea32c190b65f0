"""The Python API of vgi's main job, mirroring ``vgi run`` and ``vgi sweep``.

>>> import vgi.api
>>> res = vgi.api.run()                                  # the shipped default scenario, nothing written
>>> res.summary()                                        # metric rows x mode columns (pandas)
>>> res.metrics["direct-v2g"]["peak_reduction_pct"]
>>> res = vgi.api.run("my-study.yaml", overrides=["fleet.generator.count=500"], out="results/")
>>> sw = vgi.api.sweep("guangzhou-default", {"tariffs.default": vgi.api.table_3_3_tariffs()}, out="sweep/")

A scenario is a shipped name (``guangzhou-default``), a YAML file, a mapping in the YAML layout, or a
:class:`~vgi.scenario.schema.Scenario`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vgi.scenario.loader import load_scenario, shipped_scenarios
from vgi.scenario.runner import Progress, Results, run_scenario
from vgi.scenario.schema import Scenario
from vgi.scenario.sweep import SweepProgress, SweepResult, run_sweep, table_3_3_tariffs

__all__ = [
    "Results",
    "Scenario",
    "SweepResult",
    "load_scenario",
    "run",
    "shipped_scenarios",
    "sweep",
    "table_3_3_tariffs",
]

DEFAULT_SCENARIO = "guangzhou-default"


def run(
    scenario: str | Path | Mapping[str, Any] | Scenario = DEFAULT_SCENARIO,
    *,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    out: str | Path | bool | None = None,
    progress: Progress | None = None,
) -> Results:
    """Run a scenario under every mode and measure it, like ``vgi run``.

    Args:
        scenario: shipped name, YAML file, mapping or :class:`Scenario`; default the Guangzhou scenario.
        overrides: ``{"fleet.generator.count": 500}`` or ``["fleet.generator.count=500"]``.
        out: write the results folder there (``True``: ``./vgi-results/<name>/``; None/False: write nothing).
        progress: called as ``progress(label, done, total)`` while the modes are scheduled.

    Returns:
        :class:`~vgi.scenario.runner.Results`: ``metrics`` per mode, ``summary()``, ``settlement``,
        ``drivers``, ``eligibility``, the schedules in ``runs[mode].schedule``, and ``write(folder)``.
    """
    scn = load_scenario(scenario, overrides)
    res = run_scenario(scn, progress=progress)
    if out is not None and out is not False:
        from vgi.report.html import write_report

        paths = res.write(None if out is True else Path(out))
        write_report(res, paths["metrics"].parent)
    return res


def sweep(
    scenario: str | Path | Mapping[str, Any] | Scenario,
    params: Mapping[str, Sequence[Any]],
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    workers: int | None = None,
    cluster: Any = None,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Run a scenario over a grid of parameters, like ``vgi sweep`` (parallel, resumable).

    Args:
        params: key path -> values, e.g. ``{"fleet.v2g.share": [0, 0.1, 0.2]}``.
        out: results folder (default ``./vgi-results/<name>-sweep/``).
        overrides: applied to the base scenario before the sweep.
        workers: processes (default the CPU count; 1 runs in this process).  They are spawned: a script calling
            ``sweep`` needs the ``if __name__ == "__main__":`` guard.
        cluster: a Dask scheduler address or a ``distributed.Client``.
    """
    scn = load_scenario(scenario, overrides)
    target = Path(out) if out is not None else Path("vgi-results") / f"{scn.name}-sweep"
    from vgi.report.html import render_sweep_report

    return run_sweep(scn, params, target, workers=workers, cluster=cluster, progress=progress,
                     render_report=render_sweep_report)
