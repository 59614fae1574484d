-- A new DST policy is new fire times (docs/cron-and-time-zones.md "DST policy"): the missed-fire
-- check starts again from now, as for a new cron or timezone (20261206000000, 20261209000100).
-- Without it, a policy that adds an instant already past (shift, just after a gap) would have
-- that instant recorded missed, though no EventBridge schedule could have delivered it.
-- Replacing the function takes no lock on schedules.
create or replace function public.set_schedule_fires_from() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    new.fires_from := now();
  elsif new.enabled and (not old.enabled
        or new.cron is distinct from old.cron
        or new.run_at is distinct from old.run_at
        or new.timezone is distinct from old.timezone
        or new.dst_policy is distinct from old.dst_policy
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
