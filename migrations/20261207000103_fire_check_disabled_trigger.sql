-- Record when a schedule is disabled (schedule_fire_checks.disabled_at, 20261207000102): the
-- missed-fire check still records the fire times before it that did not run.
-- Alone in its transaction: CREATE TRIGGER locks schedules, which a pause holds while its own
-- trigger writes schedule_runs and schedule_fire_checks; taking it while holding either (as
-- this migration's first release did) deadlocks with the pause. It gives up after a second
-- (scheduler/migrate.py tries again) rather than queue the API's writes behind it.
set local lock_timeout = '1s';

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
