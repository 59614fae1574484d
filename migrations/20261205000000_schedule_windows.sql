-- Schedule windows, flexible windows and notes (issue #15): when a schedule may fire, how far
-- EventBridge may spread its fires, and a free-text note. Every column has a default that keeps
-- an existing row as it was: no window, fires at the exact time, no note.

alter table public.schedules
  -- the schedule fires only at fire times inside [start_at, end_at] (either end open when null);
  -- EventBridge's StartDate / EndDate, and the runner ignores a fire outside it
  add column if not exists start_at timestamptz,
  add column if not exists end_at timestamptz,
  -- EventBridge's FlexibleTimeWindow: 0 is OFF, else it may invoke up to this many minutes after
  -- the fire time (the run is still recorded under the nominal fire time)
  add column if not exists flexible_window_minutes integer not null default 0,
  -- why it was paused, who owns it: shown with the schedule, never interpreted
  add column if not exists note text;

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'schedules_window_check') then
    alter table public.schedules add constraint schedules_window_check
      check (start_at is null or end_at is null or start_at < end_at);
  end if;
  if not exists (
    select 1 from pg_constraint where conname = 'schedules_flexible_window_minutes_check'
  ) then
    alter table public.schedules add constraint schedules_flexible_window_minutes_check
      check (flexible_window_minutes between 0 and 1440);
  end if;
  if not exists (select 1 from pg_constraint where conname = 'schedules_note_check') then
    alter table public.schedules add constraint schedules_note_check
      check (note is null or length(note) <= 500);
  end if;
end
$$;

-- Row level security and grants are the table's (20261127000100_workflow_schedules.sql): new
-- columns are covered by its policies, clients still only read them, the service writes.
