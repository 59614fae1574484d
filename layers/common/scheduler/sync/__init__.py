"""Keeping EventBridge Scheduler in step with the database.

Owns: every EventBridge Scheduler call and the mapping row -> schedule(s), the reconcile of one
shard (compare, repair, orphans), how a pass is split into shards, and the drain of the updates
a bulk change left pending (pending).

May import: steps, models, store, cron, platform; not run, not anything above.
"""
