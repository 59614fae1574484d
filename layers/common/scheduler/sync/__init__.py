"""Keeping EventBridge Scheduler in step with the database.

Owns: every EventBridge Scheduler call and the mapping row -> schedule(s) (with the one-time
at() schedules a DST policy adds: dst_schedules), a moved occurrence's at() (moves), the
reconcile of one shard (compare, repair, orphans: reconcile, schedule_compare), how a pass is
split into shards, and the drain of the updates a bulk change left pending (pending).

May import: steps, models, store, cron, platform; not run, not anything above.
"""
