-- The missed-fire check after outages and pauses (issue #23; scheduler/missed_fires.py).
-- Nullable columns without defaults: adding them rewrites no table.

alter table public.schedule_fire_checks
  -- the pass that first found fire times of this schedule still to check (a long outage takes
  -- several passes): their catch-up window is measured at it, not at each later pass; null
  -- once the check has caught up
  add column if not exists backlog_found_at timestamptz,
  -- when the schedule was last disabled: the fire times before it that did not run are still
  -- recorded missed (never run); those after it are not missed
  add column if not exists disabled_at timestamptz;

-- A `Run Missed` alert not yet accepted by EventBridge (the pass ran short of time, PutEvents
-- failed): true until it is, and each pass sends those left over.
alter table public.schedule_runs add column if not exists missed_alert_pending boolean;

-- Its partial index is built concurrently in 20261207000101, outside this transaction.

create or replace function public.schedule_fire_check_disabled() returns trigger
language plpgsql as $$
begin
  if old.enabled and not new.enabled then
    update public.schedule_fire_checks set disabled_at = now() where schedule_id = new.id;
  end if;
  return null;
end
$$;

drop trigger if exists schedules_fire_check_disabled on public.schedules;
create trigger schedules_fire_check_disabled after update on public.schedules
  for each row execute function public.schedule_fire_check_disabled();
