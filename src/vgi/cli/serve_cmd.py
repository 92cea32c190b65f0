"""``vgi serve``: run the live aggregator (OCPP CSMS, OpenADR 3 VTN and VEN, the loop, the dashboard).

With no option it runs on a SQLite file ``vgi.db`` in the working directory, HTTP on 127.0.0.1:8080 and OCPP on
127.0.0.1:9000, and prints the credentials it generated on first start.  ``vgi serve add-charge-point ID`` lets
a charge point in (its password from a file or an environment variable, stored as a salted hash).
SIGINT or SIGTERM stops it cleanly: the service stops (every charge point's connection closed with 1001 going away,
every meter value received committed, the database closed), then the process exits at once, without waiting for a
re-plan still being solved in a worker thread (its plan would not be sent; the next start plans afresh) or for the
interpreter's teardown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vgi.errors import VgiError

if TYPE_CHECKING:
    from vgi.service.config import ServiceConfig

__all__ = ["serve"]


def _config(config_path: str | None, db_url: str | None, **listen: int | None) -> ServiceConfig:
    from vgi.service.config import load_config

    cfg = load_config(config_path)
    changes: dict[str, Any] = {}
    if db_url is not None:
        changes["database_url"] = db_url
    for name, port in listen.items():
        if port is not None:
            changes[name] = {**getattr(cfg, name).model_dump(), "port": port}
    return cfg.with_(**changes) if changes else cfg


_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                              help="YAML configuration file (every key has a default; see docs/service.md).")
_db_option = click.option("--db", "db_url", envvar="VGI_DATABASE_URL", default=None,
                          help="Database URL (sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB); "
                               "overrides the file's database_url; env VGI_DATABASE_URL.")


@click.group(invoke_without_command=True)
@_config_option
@_db_option
@click.option("--http-port", type=click.IntRange(0, 65535), default=None, help="HTTP port (dashboard, API, VTN).")
@click.option("--ocpp-port", type=click.IntRange(0, 65535), default=None, help="OCPP websocket port.")
@click.pass_context
def serve(ctx: click.Context, config_path: str | None, db_url: str | None, http_port: int | None,
          ocpp_port: int | None) -> None:
    """Run the live service until SIGINT or SIGTERM."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (config_path, db_url)
        return
    cfg = _config(config_path, db_url, http=http_port, ocpp=ocpp_port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per VEN poll
    asyncio.run(_run(cfg))


async def _run(cfg: ServiceConfig) -> None:
    from vgi.service.app import build_service

    service = build_service(cfg)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    creds = service.credentials
    assert creds is not None
    click.echo(f"vgi serve: database {cfg.database_url}")
    click.echo(f"  dashboard and API  {service.http_url}/  (/api/state)")
    if cfg.vtn.enabled:
        click.echo(f"  OpenADR 3 VTN      {service.http_url}/openadr")
    click.echo(f"  OCPP               ws://{cfg.ocpp.host}:{service.ocpp_port}/ocpp/<charge point id>")
    if cfg.ven.enabled:
        click.echo(f"  following          {cfg.ven.vtn_url} programmes {', '.join(cfg.ven.program_ids)}")
    for line in creds.generated:
        click.echo(f"  generated (shown once, kept in the database): {line}")
    try:
        await stop.wait()
    finally:
        click.echo("vgi serve: stopping")
        await service.stop()
        click.echo("vgi serve: stopped")
    _exit_now()


def _exit_now() -> None:
    """Leave with status 0 once the service has stopped: asyncio.run would first wait for its worker threads (a
    re-plan's solve, a numba compilation: seconds to minutes) and the interpreter's teardown takes a second or
    two more; nothing of either is needed once the database is closed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@serve.command("add-charge-point")
@click.argument("charge_point_id")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File whose first line is the charge point's password.")
@click.option("--password-env", default=None, help="Environment variable holding the password.")
@click.option("--site", default=None, help="Site the charge point belongs to (for site limits).")
@click.option("--max-charge-kw", type=float, default=None, help="Maximum charging power, kW.")
@click.option("--max-discharge-kw", type=float, default=None, help="Maximum discharging power (V2G), kW.")
@click.pass_context
def add_charge_point(ctx: click.Context, charge_point_id: str, password_file: str | None, password_env: str | None,
                     site: str | None, max_charge_kw: float | None, max_discharge_kw: float | None) -> None:
    """Let charge point CHARGE_POINT_ID connect (or change it); its password is stored as a salted hash."""
    import os

    from vgi.service.store import Store

    config_path, db_url = ctx.obj
    cfg = _config(config_path, db_url)
    if (password_file is None) == (password_env is None):
        raise VgiError("give the password with exactly one of --password-file or --password-env")
    if password_file is not None:
        lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        password = lines[0].strip() if lines else ""
        where = password_file
    else:
        password = os.environ.get(str(password_env), "")
        where = f"environment variable {password_env}"
    if len(password) < 8:
        raise VgiError(f"{where}: a charge point password needs at least 8 characters")
    with Store.open(cfg.database_url, schema=cfg.database_schema) as store:
        record = store.upsert_charge_point(charge_point_id, password=password, site_id=site,
                                           max_charge_kw=max_charge_kw, max_discharge_kw=max_discharge_kw)
    click.echo(f"charge point {record.id} stored (site {record.site_id or '-'}) in {cfg.database_url}")
