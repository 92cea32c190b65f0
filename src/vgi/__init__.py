"""vgi: vehicle-grid integration (V1G/V2G) demand response for EV fleets.

The pure core (models, flexibility, scheduling, bills, settlement) takes and returns arrays and frozen models;
the CLI, report and storage layers around it do the I/O.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
