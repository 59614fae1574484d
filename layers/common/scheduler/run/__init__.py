"""One fire time's run: the runner and what it leans on.

Owns: the runner (claim, lease, runWorkflow, record, release), its input event, one invocation's
fire and retries, overlap and the queue of waiting runs, a fire an exclusion calendar or an
exception of its occurrence skips, a moved occurrence's run,
the DynamoDB lease lock, alerts, and the client that invokes the runner (run now, backfill,
hand-ons).

May import: steps, models, store, cron, platform; not sync, not anything above.
"""
