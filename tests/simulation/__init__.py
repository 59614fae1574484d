"""A seeded simulation of the whole scheduler on a virtual clock (issue #23).

The product's own code (runner, missed-fire check, hand-on, backfill, retention, the Schedules
API's use cases) runs against the real database and moto; EventBridge Scheduler, Lambda's async
invocation and the workflows' target are simulated here, with faults at every network call.
`python -m tests.simulation` runs many seeds (make soak); tests/integration/test_simulation.py a
few (make test). See docs/reliability.md, "Reliability: the simulation".
"""
