"""The service's configuration: one frozen model, read from YAML, every field defaulted.

``vgi serve`` with no file runs on a SQLite file in the working directory, HTTP on 127.0.0.1:8080 and OCPP on
127.0.0.1:9000, with the local OpenADR VTN on and the VEN off.  A key that is unknown, of the wrong type or out of
range is a one-line :class:`~vgi.errors.VgiError` naming the file and the key.

What a driver did not tell the service (when they leave, how much energy they want, the battery) is filled from
``defaults``: these are assumptions, and the plan is only as good as they are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vgi.errors import VgiError
from vgi.model.timegrid import check_timezone

__all__ = [
    "ChargePointConfig",
    "DashboardConfig",
    "ListenConfig",
    "ServiceConfig",
    "SessionDefaults",
    "VenConfig",
    "VtnClientConfig",
    "VtnConfig",
    "load_config",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListenConfig(_Frozen):
    """Where a server listens (port 0: any free port, for tests)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class SessionDefaults(_Frozen):
    """Assumptions for a session whose driver said nothing (no departure time, no energy wanted)."""

    dwell_hours: float = Field(8.0, gt=0, description="hours from plug-in to departure")
    energy_kwh: float = Field(20.0, ge=0, description="battery kWh wanted by departure")
    battery_kwh: float = Field(60.0, gt=0, description="usable battery capacity, kWh")
    initial_soc: float = Field(0.2, ge=0, le=1, description="state of charge at plug-in, 0-1")
    charge_efficiency: float = Field(0.95, gt=0, le=1, description="battery kWh per grid kWh drawn")
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="grid kWh per battery kWh discharged")
    max_charge_kw: float = Field(7.4, gt=0, description="power of a charge point not configured with its own, kW")


class ChargePointConfig(_Frozen):
    """A charge point allowed to connect (security profile 1: its id and password)."""

    id: str = Field(min_length=1, max_length=48)
    password: str | None = Field(None, min_length=8)
    password_env: str | None = None
    site: str = "site"
    max_charge_kw: float | None = Field(None, gt=0)
    max_discharge_kw: float = Field(0.0, ge=0)

    def resolved_password(self) -> str | None:
        """The password, read from the environment variable ``password_env`` where given."""
        if self.password_env is None:
            return self.password
        value = os.environ.get(self.password_env)
        if not value:
            raise VgiError(f"charge_points.{self.id}.password_env: environment variable {self.password_env} is unset")
        return value


class VtnClientConfig(_Frozen):
    """An OAuth2 client of the local VTN: ``BL`` (a utility's business logic) or ``VEN``."""

    client_id: str = Field(min_length=1)
    secret: str = Field(min_length=8)
    role: Literal["BL", "VEN"]
    ven_name: str | None = None


class VtnConfig(_Frozen):
    """The local OpenADR 3 VTN, served under ``/openadr``.

    ``key`` signs its bearer tokens; without it the key comes from the environment variable ``VGI_SERVICE_KEY`` or
    is generated once and kept in the database, so that restarts and several processes accept the same tokens.
    """

    enabled: bool = True
    clients: tuple[VtnClientConfig, ...] = ()
    key: str | None = Field(None, min_length=16)
    token_lifetime_s: int = Field(3600, gt=0)


class VenConfig(_Frozen):
    """The aggregator's VEN: which VTN to follow (may be the local one), as whom, and which programmes."""

    enabled: bool = False
    vtn_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    ven_name: str = "vgi"
    program_ids: tuple[str, ...] = ()
    poll_seconds: float = Field(60.0, gt=0)
    report: bool = True

    @model_validator(mode="after")
    def _complete(self) -> VenConfig:
        if self.enabled:
            missing = [k for k in ("vtn_url", "client_id", "client_secret") if not getattr(self, k)]
            if missing:
                raise ValueError(f"an enabled VEN needs {', '.join(missing)}")
            if not self.program_ids:
                raise ValueError("an enabled VEN needs program_ids (the programmes to follow)")
        return self


class DashboardConfig(_Frozen):
    """HTTP Basic credentials of the dashboard and ``/api`` (no password: one is generated on first start and
    kept in the database)."""

    user: str = Field("admin", min_length=1)
    password: str | None = Field(None, min_length=8)


class ServiceConfig(_Frozen):
    """Everything ``vgi serve`` needs; see docs/service.md for each key."""

    database_url: str = "sqlite:///vgi.db"
    database_schema: str | None = None
    http: ListenConfig = ListenConfig()
    ocpp: ListenConfig = ListenConfig(port=9000)
    step_minutes: int = Field(15, gt=0, le=60)
    horizon_hours: int = Field(24, gt=0, le=24 * 7)
    timezone: str = "Europe/London"
    tariff: str = "uk-octopus-go"
    mode: Literal["v1g", "v2g"] = "v1g"
    site_limits_kw: dict[str, float] = Field(default_factory=dict)
    dispatch_penalty_per_kwh: float | None = Field(
        None, ge=0, description="price of each kWh above or below an OpenADR DISPATCH_SETPOINT, in the tariff's "
        "currency (None: 10 x the largest price of the plan + 10)")
    defaults: SessionDefaults = SessionDefaults()
    charge_points: tuple[ChargePointConfig, ...] = ()
    vtn: VtnConfig = VtnConfig()
    ven: VenConfig = VenConfig()
    settle_programme: str | None = None
    dashboard: DashboardConfig = DashboardConfig()
    aggregator: bool = Field(True, description="may run the loop and the VEN poller here: the process holding "
                             "the fleet's leader lock does, the others stand by")
    leader_retry_seconds: float = Field(5.0, gt=0, le=3600, description="how often a standing-by process tries to "
                                        "take the leader lock, and the leader checks that it still holds it, s")
    plan_poll_seconds: float = Field(1.0, gt=0, le=3600, description="how often every process looks for a newer "
                                     "stored plan to send its own charge points (the leader: for sessions started "
                                     "at other processes, to re-plan), s")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            check_timezone(value)
        except VgiError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("step_minutes")
    @classmethod
    def _step(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("step_minutes must divide an hour (1, 5, 15, 30, 60, ...)")
        return value

    @field_validator("site_limits_kw")
    @classmethod
    def _limits(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [site for site, kw in value.items() if not kw >= 0]
        if bad:
            raise ValueError(f"site {bad[0]!r}: a limit must be a number of kW >= 0")
        return value

    @model_validator(mode="after")
    def _unique(self) -> ServiceConfig:
        ids = [cp.id for cp in self.charge_points]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"charge point {dupes[0]!r} is listed twice")
        clients = [c.client_id for c in self.vtn.clients]
        dupes = sorted({i for i in clients if clients.count(i) > 1})
        if dupes:
            raise ValueError(f"VTN client {dupes[0]!r} is listed twice")
        return self

    def with_(self, **changes: Any) -> ServiceConfig:
        """A copy with top-level keys changed (validated again)."""
        return ServiceConfig.model_validate({**self.model_dump(), **changes})


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_config(data: Any, source: str = "<config>") -> ServiceConfig:
    """A :class:`ServiceConfig` from a mapping; a one-line error naming ``source`` and the first bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise VgiError(f"{source}: the configuration must be a mapping of keys, got {type(data).__name__}")
    try:
        return ServiceConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise VgiError(f"{source}: {_key_path(tuple(err['loc']))}: {msg}") from None


def load_config(path: str | Path | None) -> ServiceConfig:
    """Read the YAML file at ``path`` (None: every default)."""
    if path is None:
        return ServiceConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VgiError(f"{path}: no such configuration file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise VgiError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(path))
