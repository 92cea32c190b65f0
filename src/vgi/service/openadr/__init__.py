"""OpenADR 3 (3.0.1 and 3.1.0): object models, a VTN (FastAPI), a VEN client and events -> grid signals.

- :mod:`~vgi.service.openadr.models`: frozen pydantic models of programs, events, reports, subscriptions, VENs,
  resources, problems and notifications.
- :mod:`~vgi.service.openadr.vtn`: :func:`create_vtn_app`, the server (OAuth2 client credentials, webhooks).
- :mod:`~vgi.service.openadr.ven`: :class:`VenClient`, the aggregator's client.
- :mod:`~vgi.service.openadr.signals`: the pure :func:`grid_signals` and :func:`usage_report`.
"""

from vgi.service.openadr.auth import ClientConfig
from vgi.service.openadr.signals import GridSignals, grid_signals, usage_report
from vgi.service.openadr.ven import VenClient
from vgi.service.openadr.vtn import create_vtn_app

__all__ = ["ClientConfig", "GridSignals", "VenClient", "create_vtn_app", "grid_signals", "usage_report"]
