-- Run rows: `missed` (no delivery ran it in time; finished when recorded) and `buffered` (waiting
-- for its workflow to be free; not finished); triggers `catchup` and `backfill`.
-- Each check is added NOT VALID: the ALTER locks the runner's writes to schedule_runs out until
-- this migration commits, at once, as it scans nothing. 20261207000001 validates them without
-- locking writes out. Alone in its transaction: holding that lock while taking one on another
-- table (schedules, which the runner's writes also lock) could deadlock with the runner.
-- Where 20261206000000's first release added and validated them, they are added again here, as
-- they were, and validated again by the next migration (a scan that blocks no write).
alter table public.schedule_runs drop constraint if exists schedule_runs_status_check;
alter table public.schedule_runs add constraint schedule_runs_status_check
  check (status in ('running', 'succeeded', 'failed', 'skipped', 'missed', 'buffered')) not valid;
alter table public.schedule_runs drop constraint if exists schedule_runs_trigger_check;
alter table public.schedule_runs add constraint schedule_runs_trigger_check
  check (trigger in ('schedule', 'manual', 'catchup', 'backfill')) not valid;
alter table public.schedule_runs drop constraint if exists schedule_runs_finished_check;
alter table public.schedule_runs add constraint schedule_runs_finished_check
  check ((status in ('running', 'buffered')) = (finished_at is null)) not valid;
