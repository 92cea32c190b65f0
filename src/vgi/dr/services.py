"""Services an aggregator can hold capacity for beside energy: frequency response and capacity, as frozen data.

A :class:`ServiceProduct` says what a buyer pays for capacity *held* (not energy delivered): the direction held
(``up``: discharge more or charge less, the response to low frequency; ``down``: charge more or discharge less;
``symmetric``: the same kW both ways), the contract blocks (GB: six 4-hour EFA blocks from 23:00), the clock windows
in which blocks are offered, the minimum size of one offer, how long the unit must sustain full delivery (which sets
the energy it must keep in reserve), the availability price per MW and hour held, the de-rating factor (the share of
each held kW the buyer pays for: a capacity market pays per kW of de-rated capacity), the expected utilisation (the
share of the held kW delivered on average, whose energy is bought or sold at the energy price) and, for Chinese
regulation markets, the mileage paid per MW of regulation movement.

Every shipped product (``vgi/data/services/*.yaml``) names its sources and the date it applies from; a value the
sources do not give is listed under ``assumptions`` (key path -> why).  Units: power in kW (offers) or MW (prices,
as markets quote them), energy in kWh, money in the product's currency, durations in minutes, clock times local to
the product's time zone.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vgi.dr.programmes import ClockWindow
from vgi.errors import VgiError
from vgi.io.files import library_by_id, read_yaml_file, validate_mapping
from vgi.model.timegrid import TimezoneName

__all__ = [
    "ServiceProduct",
    "get_service",
    "load_service",
    "load_service_file",
    "service_library",
]


class ServiceProduct(BaseModel):
    """A capacity-holding service (see the module docstring).

    Attributes:
        kind: ``frequency_response`` (availability paid per MW and hour held) or ``capacity`` (a capacity payment
            for power held available to export, the same arithmetic, reported as a capacity stream).
        direction: ``up``, ``down`` or ``symmetric`` (``r_up = r_down``).
        block_minutes: contract block length (must divide a day); blocks start at ``block_start`` local time.
        windows: local clock windows a block must lie in to be offered; empty: any block of the day.
        min_mw: least capacity of one offer per block (a block held below it earns nothing, so the planner holds
            either 0 or at least this); 0: no minimum.
        delivery_minutes: how long the unit must be able to sustain full delivery of what it holds.
        availability_price_per_mw_h: paid per MW held per hour of the block (currency/MW/h); for a capacity market,
            per MW of *de-rated* capacity (see ``derating_factor``).
        derating_factor: the share of each held kW the service pays availability for, a dimensionless number in
            (0, 1] (default 1: every held kW is paid).  A capacity market pays per kW of de-rated capacity: a
            duration-limited unit holding ``P`` kW of connection capacity earns ``price x derating_factor x P``
            per hour held.  It scales the availability (or capacity) pay only, not the utilisation energy (the
            energy delivered is the held kW's) nor the mileage; the energy reserve and ``min_mw`` apply to the kW
            held before de-rating.
        utilisation_up / utilisation_down: expected energy delivered, as a share of the held kW over the block's
            hours (up: exported, paid at the export price; down: imported, paid for at the import price).
        mileage_mw_per_mw_h: expected regulation mileage (MW of movement) per MW held per hour (CN markets).
        mileage_price_per_mw: paid per MW of mileage (currency/MW).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    region: str
    country: str
    operator: str = ""
    kind: Literal["frequency_response", "capacity"]
    currency: str
    timezone: TimezoneName
    valid_from: dt.date
    valid_to: dt.date | None = None
    source: tuple[str, ...]
    verification: Literal["verified-primary", "verified-secondary", "secondary", "unverified", "assumption"]
    direction: Literal["up", "down", "symmetric"]
    block_minutes: int = 240
    block_start: str = "23:00"
    windows: tuple[ClockWindow, ...] = ()
    min_mw: float = Field(0.0, ge=0.0)
    delivery_minutes: float = Field(gt=0.0)
    availability_price_per_mw_h: float
    derating_factor: float = Field(1.0, gt=0.0, le=1.0)
    utilisation_up: float = Field(0.0, ge=0.0, le=1.0)
    utilisation_down: float = Field(0.0, ge=0.0, le=1.0)
    mileage_mw_per_mw_h: float = Field(0.0, ge=0.0)
    mileage_price_per_mw: float = Field(0.0, ge=0.0)
    assumptions: dict[str, str] = Field(default_factory=dict)
    notes: str = ""

    @field_validator("source", mode="before")
    @classmethod
    def _sources(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @field_validator("block_start", mode="before")
    @classmethod
    def _clock(cls, v: object) -> str:
        return ClockWindow(start=str(v), end=str(v)).start

    @model_validator(mode="after")
    def _check(self) -> ServiceProduct:
        if not self.source:
            raise ValueError("a service must name at least one source")
        if self.block_minutes <= 0 or 1440 % self.block_minutes:
            raise ValueError(f"block_minutes {self.block_minutes} must divide a day (1440 min)")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        wrong_way = self.utilisation_down if self.direction == "up" else (
            self.utilisation_up if self.direction == "down" else 0.0)
        if wrong_way > 0:
            raise ValueError(f"a '{self.direction}' service cannot have utilisation in the other direction")
        for path in self.assumptions:
            if path not in type(self).model_fields:
                raise ValueError(f"assumption '{path}' does not name a field of the service")
        return self

    # -- units the planner uses (kW) ------------------------------------------------------------------------
    @property
    def min_kw(self) -> float:
        return 1000.0 * self.min_mw

    @property
    def availability_price_per_kw_h(self) -> float:
        """The quoted price in currency per kW (of de-rated capacity, for a capacity market) per hour, before the
        de-rating factor."""
        return self.availability_price_per_mw_h / 1000.0

    @property
    def availability_pay_per_kw_h(self) -> float:
        """What one kW *held* earns per hour: the price x the de-rating factor (currency/kW/h).  The planner's
        objective and every availability / capacity stream use this."""
        return self.availability_price_per_kw_h * self.derating_factor

    @property
    def mileage_price_per_kw_h(self) -> float:
        """Expected mileage pay per kW held per hour (mileage per MW-h x price per MW), currency/kW/h."""
        return self.mileage_mw_per_mw_h * self.mileage_price_per_mw / 1000.0

    @property
    def holds_up(self) -> bool:
        return self.direction in ("up", "symmetric")

    @property
    def holds_down(self) -> bool:
        return self.direction in ("down", "symmetric")

    @property
    def block_start_minutes(self) -> int:
        return round(ClockWindow(start=self.block_start, end=self.block_start).start_minutes)

    def is_assumption(self, path: str) -> bool:
        return path in self.assumptions

    def with_(self, **changes: Any) -> ServiceProduct:
        """A copy with ``changes`` validated (e.g. a price sensitivity)."""
        return type(self).model_validate({**self.model_dump(), **changes})


def load_service(data: dict[str, Any], source: str = "<memory>") -> ServiceProduct:
    """Validate a service given as a mapping (the YAML layout); errors name the source and key path."""
    return validate_mapping(ServiceProduct, data, source, "service")


def load_service_file(path: str | Path) -> ServiceProduct:
    """Read a service YAML (or JSON) file."""
    p = Path(path)
    return load_service(read_yaml_file(p, "service"), str(p))


@lru_cache(maxsize=1)
def service_library() -> dict[str, ServiceProduct]:
    """Every shipped service, by id (file name = id + ``.yaml``)."""
    return library_by_id("services", load_service_file, "service")


def get_service(id_or_path: str | ServiceProduct) -> ServiceProduct:
    """A shipped service by id, or a service file by path."""
    if isinstance(id_or_path, ServiceProduct):
        return id_or_path
    lib = service_library()
    if id_or_path in lib:
        return lib[id_or_path]
    p = Path(id_or_path)
    if p.suffix.lower() in (".yaml", ".yml", ".json") and p.exists():
        return load_service_file(p)
    raise VgiError(f"unknown service '{id_or_path}' (shipped: {', '.join(sorted(lib))})")
