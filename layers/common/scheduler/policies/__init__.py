"""The policies of time and tenancy: what happens to fire times beyond a single delivery.

Owns: the one definition of a schedule's expected fire times (expected) and what became of
each (accounting, over the schedule's past versions: schedule_versions), the missed-fire check
(with the exceptions it settles: excepted_fires) and catch-up policies, the sweep of abandoned
claims, backfill, retention, per-owner limits, Idempotency-Key records (a retried write
answered once), the heartbeat, and the periodic pass (ReconcileFunction's coordinator) that runs
the sweep, the check and the reconcile shards.

May import: sync, run, steps, models, store, cron, platform; not api, not auth.
"""
