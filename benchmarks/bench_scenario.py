"""Wall time and peak memory of the default scenario and of a 27-tariff sweep.

    .venv/bin/python benchmarks/bench_scenario.py            # both, sweep over 2 worker processes
    .venv/bin/python benchmarks/bench_scenario.py --only run
    .venv/bin/python benchmarks/bench_scenario.py --only sweep --workers 2 --all-modes

Each case runs in a fresh Python process, so the figures include imports and (for the first numba call) JIT
compilation, as a user's ``vgi run`` does.  Peak memory is the largest resident set size of that process and, for
the sweep, of its largest worker process (``getrusage``; workers are separate processes).  By default the sweep
runs the modes a tariff acts on (uncontrolled and the two indirect modes) at each of table 3-3's 27 regional
tariffs; ``--all-modes`` adds the two direct modes.  The machine's CPU count and load are printed with the results:
on a shared machine the wall time moves with what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RUN = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    from vgi.api import run
    res = run("guangzhou-default", out=sys.argv[1])
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "stages_s": res.seconds, "sessions": len(res.inputs.sessions),
                      "steps": res.inputs.grid.n_steps,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)

SWEEP = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    from vgi.api import sweep, table_3_3_tariffs
    modes = json.loads(sys.argv[3])
    res = sweep("guangzhou-default", {"tariffs.default": table_3_3_tariffs()}, out=sys.argv[1],
                overrides={"modes": modes}, workers=int(sys.argv[2]))
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "points": int(res.rows["point"].nunique()), "ran": res.ran,
                      "failed": len(res.failed),
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "max_worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
    """
)


def _python(code: str, *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("run", "sweep"), default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--all-modes", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# CPUs {os.cpu_count()}, load average {load:.2f} at start, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "run"):
            r = _python(RUN, str(Path(tmp) / "run"))
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages_s"].items())  # type: ignore[union-attr]
            print(f"default scenario (guangzhou-default: {r['sessions']} sessions x {r['steps']} steps, 5 modes, "
                  f"report written): wall {r['wall_s']:.1f} s, peak memory {r['max_rss_mb']:.0f} MB  [{stages}]")
        if args.only in (None, "sweep"):
            modes = ["uncontrolled", "indirect-v1g", "indirect-v2g"]
            if args.all_modes:
                modes += ["direct-v1g", "direct-v2g"]
            t0 = time.perf_counter()
            s = _python(SWEEP, str(Path(tmp) / "sweep"), str(args.workers), json.dumps(modes))
            print(f"27-tariff sweep of guangzhou-default ({len(modes)} modes, {args.workers} worker process(es)): "
                  f"{s['points']} points, {s['failed']} failed, wall {s['wall_s']:.1f} s "
                  f"({float(s['wall_s']) / max(int(s['points']), 1):.1f} s a point), peak memory "  # type: ignore[arg-type]
                  f"{s['max_rss_mb']:.0f} MB main, {s['max_worker_rss_mb']:.0f} MB largest worker "
                  f"[{time.perf_counter() - t0:.1f} s with start-up]")


if __name__ == "__main__":
    main()
