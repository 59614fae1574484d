"""The policies of time and tenancy: what happens to fire times beyond a single delivery.

Owns: the missed-fire check and catch-up policies, the sweep of abandoned claims, backfill,
run-history retention, per-owner limits, Idempotency-Key records (a retried write answered
once), and the periodic pass (ReconcileFunction's coordinator) that runs the sweep, the check
and the reconcile shards.

May import: sync, run, steps, models, store, cron, platform; not api, not auth.
"""
