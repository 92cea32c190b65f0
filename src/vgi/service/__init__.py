"""The live aggregator service: the store, OCPP to charge points and OpenADR 3 to the grid.

This package is the shell around vgi's pure core (models, flexibility, scheduling, settlement): it adds the clock,
the protocols and the database, nothing the simulator does not share.
"""
