-- Failure handling per schedule (docs/run-policies.md): `pause_after_failures` (null: never
-- paused) and the count of consecutive failed runs the runner's record keeps.
-- Nullable and a constant default: both are metadata only since PostgreSQL 11 (no table rewrite,
-- every existing row reads null and 0). The ALTER still waits for every transaction using
-- schedules, and the runner's claims queue behind it meanwhile: it gives up after a second,
-- below the runner's own lock timeout (2 s), and scheduler/migrate.py tries again later.
-- The bounds (the API's too: scheduler.models.schedule_fields) are added NOT VALID, so this
-- ALTER scans nothing; 20261208000501 validates them without locking writes out. Alone in its
-- transaction (see 20261207000000).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists pause_after_failures integer,
  add column if not exists consecutive_failures integer not null default 0;

alter table public.schedules drop constraint if exists schedules_pause_after_failures_range;
alter table public.schedules add constraint schedules_pause_after_failures_range
  check (pause_after_failures between 1 and 1000)
  not valid;

alter table public.schedules drop constraint if exists schedules_consecutive_failures_not_negative;
alter table public.schedules add constraint schedules_consecutive_failures_not_negative
  check (consecutive_failures >= 0)
  not valid;
