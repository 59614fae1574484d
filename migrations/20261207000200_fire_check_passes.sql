-- The missed-fire check's own heartbeat (scheduler/missed_fires.py; issue #23 item 7): one row,
-- written by each pass that gets to its end. A pass that follows the previous one within two
-- of the check's intervals was found "as soon as the check could" for the slots that became due
-- since the check has been up; a later one follows an outage of the check, and the catch-up
-- window of the slots that became due before it counts at it.

create table if not exists public.missed_fire_check_passes (
  singleton boolean primary key default true check (singleton),
  -- the instant (the pass's clock at its start) of the latest pass that got to its end
  last_pass_at timestamptz not null,
  -- the first pass after the check's latest outage (or its first pass ever): the slots due
  -- after it were found as soon as the check could
  up_since timestamptz not null check (up_since <= last_pass_at)
);

-- Row level security on, and no policy: only the service (the database owner) reads or writes it.
alter table public.missed_fire_check_passes enable row level security;
revoke all on public.missed_fire_check_passes from anon, authenticated;
grant all on public.missed_fire_check_passes to service_role;
