-- The missed-fire check after outages and pauses (issue #23; scheduler/missed_fires.py).
-- Nullable columns without defaults: adding them rewrites nothing. Alone in its transaction,
-- giving up on its lock after a second (scheduler/migrate.py tries again), as 20261207000100.
set local lock_timeout = '1s';

alter table public.schedule_fire_checks
  -- the pass that first found fire times of this schedule still to check (a long outage takes
  -- several passes): their catch-up window is measured at it, not at each later pass; null
  -- once the check has caught up
  add column if not exists backlog_found_at timestamptz,
  -- when the schedule was last disabled: the fire times before it that did not run are still
  -- recorded missed (never run); those after it are not missed
  add column if not exists disabled_at timestamptz,
  -- under catchupPolicy latest, a backlog longer than a batch: the newest missed fire time
  -- within the catch-up window an earlier batch found, left without a row; the batch that
  -- reaches the newest due fire time queues it unless it found a newer one
  add column if not exists backlog_latest_slot timestamptz;
