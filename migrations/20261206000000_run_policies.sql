-- Run policies (issue #15): what happens to fire times that did not run (catch-up), to a fire
-- that finds its workflow running (overlap), and to replayed history (backfill). Every column
-- has a default that keeps an existing row as it was: missed fires skipped, overlaps skipped.

alter table public.schedules
  -- skip: a missed fire time is only recorded; latest: the most recent one within the window
  -- runs; all: every one within the window runs, oldest first, one at a time
  add column if not exists catchup_policy text not null default 'skip',
  -- missed fire times older than this (seconds) are only recorded, never run
  add column if not exists catchup_window_seconds integer not null default 3600,
  -- skip: a fire that finds the workflow running is skipped; buffer_one: at most one such fire
  -- waits (status `buffered`) and runs as soon as the current run ends
  add column if not exists overlap_policy text not null default 'skip',
  -- fire times before this instant are never missed: the schedule did not exist, was disabled,
  -- or said something else then (kept by the trigger below, whoever writes the row)
  add column if not exists fires_from timestamptz not null default now();

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'schedules_catchup_policy_check') then
    alter table public.schedules add constraint schedules_catchup_policy_check
      check (catchup_policy in ('skip', 'latest', 'all'));
  end if;
  if not exists (
    select 1 from pg_constraint where conname = 'schedules_catchup_window_seconds_check'
  ) then
    alter table public.schedules add constraint schedules_catchup_window_seconds_check
      check (catchup_window_seconds between 60 and 604800);
  end if;
  if not exists (select 1 from pg_constraint where conname = 'schedules_overlap_policy_check') then
    alter table public.schedules add constraint schedules_overlap_policy_check
      check (overlap_policy in ('skip', 'buffer_one'));
  end if;
end
$$;

-- A schedule's fire times count from when it was created, last enabled, or last changed in when
-- it fires; a note, a policy or a run's record does not move it.
create or replace function public.set_schedule_fires_from() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    new.fires_from := now();
  elsif new.enabled and (not old.enabled
        or new.cron is distinct from old.cron
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

drop trigger if exists schedules_set_fires_from on public.schedules;
create trigger schedules_set_fires_from before insert or update on public.schedules
  for each row execute function public.set_schedule_fires_from();

-- The run rows' checks that admit the statuses `missed` and `buffered` and the triggers `catchup`
-- and `backfill`: 20261207000000, in a transaction of its own. (This file's first release changed them here, and validated them, and built the two
-- indexes of run_queue.py: holding the lock that locks the runner's writes to schedule_runs out,
-- taken while holding one on schedules, for as long as scanning the whole run history took. On
-- a database that applied it then, 20261207000000 to 20261207000003 find little or nothing to
-- do, and leave the same schema.)

-- How far the missed-fire check has looked at each schedule's fire times (scheduler/missed_fires.py).
create table if not exists public.schedule_fire_checks (
  schedule_id uuid primary key references public.schedules (id) on delete cascade,
  -- the schedule's fires_from when this was written: a newer one restarts the check from there
  fires_from timestamptz not null,
  -- every fire time up to this instant has a run row, or has been recorded missed
  checked_through timestamptz not null,
  -- when the next fire time after checked_through is due to have a run row; null: none coming
  next_check_at timestamptz
);

create index if not exists schedule_fire_checks_due_idx
  on public.schedule_fire_checks (next_check_at) where next_check_at is not null;

-- A schedule whose fire times start anew (created, enabled, changed) is due for a check now: the
-- check reads only due rows (the index above), never every schedule. A schedule disabled while
-- runs of it wait has them skipped: they would otherwise run, stale, whenever it is enabled again.
create or replace function public.schedule_fire_times_changed() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.fires_from is distinct from old.fires_from then
    insert into public.schedule_fire_checks (schedule_id, fires_from, checked_through, next_check_at)
    values (new.id, new.fires_from, new.fires_from, new.fires_from)
    on conflict (schedule_id) do update
      set fires_from = excluded.fires_from, checked_through = excluded.checked_through,
          next_check_at = excluded.next_check_at;
  end if;
  if tg_op = 'UPDATE' and old.enabled and not new.enabled then
    update public.schedule_runs
    set status = 'skipped', finished_at = now(),
        error = 'skipped: its schedule was disabled while it waited'
    where schedule_id = new.id and status = 'buffered';
  end if;
  return null;
end
$$;

drop trigger if exists schedules_fire_times_changed on public.schedules;
create trigger schedules_fire_times_changed after insert or update on public.schedules
  for each row execute function public.schedule_fire_times_changed();

-- The schedules that exist now start being checked from now (none of their past is missed).
insert into public.schedule_fire_checks (schedule_id, fires_from, checked_through, next_check_at)
select id, fires_from, fires_from, fires_from from public.schedules
on conflict (schedule_id) do nothing;

-- Row level security on, and no policy: only the service reads or writes it.
alter table public.schedule_fire_checks enable row level security;
revoke all on public.schedule_fire_checks from anon, authenticated;
grant all on public.schedule_fire_checks to service_role;
