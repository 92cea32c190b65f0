"""vgi: vehicle-grid integration (V1G/V2G) demand response for EV fleets.

The pure core (models, flexibility, scheduling, bills, settlement) takes and returns arrays and frozen models;
the CLI, report and storage layers around it do the I/O.

``vgi.run(scenario)`` mirrors ``vgi run`` and ``vgi.sweep(...)`` mirrors ``vgi sweep`` (see :mod:`vgi.api`); they
are imported on first use so that ``import vgi`` stays light.
"""

from __future__ import annotations

from typing import Any

from vgi.version import __version__

__all__ = ["__version__", "run", "sweep"]


def __getattr__(name: str) -> Any:
    if name in ("run", "sweep"):
        from vgi import api

        return getattr(api, name)
    raise AttributeError(f"module 'vgi' has no attribute {name!r}")
