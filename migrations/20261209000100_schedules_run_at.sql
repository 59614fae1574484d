-- One-time schedules (issue #25, docs/api.md "One-time schedules"): a schedule fires either on
-- its `cron` or once, at `run_at` (an instant; EventBridge's at() in the schedule's timezone).
-- Exactly one of the two is set, and a one-time schedule has no window (startAt / endAt).
-- DROP NOT NULL and a nullable column without a default are metadata only (no rewrite, no scan);
-- the ALTER still waits for every transaction using schedules, and the runner's claims queue
-- behind it meanwhile: it gives up after a second, below the runner's own lock timeout (2 s),
-- and scheduler/migrate.py tries again later. The checks are added NOT VALID, so this ALTER
-- scans nothing; 20261209000101 validates them without locking writes out. Alone in its
-- transaction (see 20261207000000).
set local lock_timeout = '1s';

alter table public.schedules
  alter column cron drop not null,
  add column if not exists run_at timestamptz;

alter table public.schedules drop constraint if exists schedules_cron_or_run_at;
alter table public.schedules add constraint schedules_cron_or_run_at
  check ((cron is null) <> (run_at is null))
  not valid;

alter table public.schedules drop constraint if exists schedules_run_at_has_no_window;
alter table public.schedules add constraint schedules_run_at_has_no_window
  check (run_at is null or (start_at is null and end_at is null))
  not valid;

-- A new run_at is a new fire time: the missed-fire check starts again from now (a PATCH of
-- `at` re-arms a one-time schedule), as for a new cron (20261206000000).
create or replace function public.set_schedule_fires_from() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    new.fires_from := now();
  elsif new.enabled and (not old.enabled
        or new.cron is distinct from old.cron
        or new.run_at is distinct from old.run_at
        or new.timezone is distinct from old.timezone
        or new.start_at is distinct from old.start_at
        or new.end_at is distinct from old.end_at
        or new.flexible_window_minutes is distinct from old.flexible_window_minutes) then
    new.fires_from := now();
  else
    new.fires_from := old.fires_from;
  end if;
  return new;
end
$$;
