"""Keeping EventBridge Scheduler in step with the database.

Owns: every EventBridge Scheduler call and the mapping row -> schedule(s), the reconcile of one
shard (compare, repair, orphans), and how a pass is split into shards.

May import: steps, models, store, cron, platform; not run, not anything above.
"""
