-- Shared exclusion calendars (issue #26): an owner's named sets of dates in a timezone
-- (holidays, freeze windows) that schedules exclude (schedules.exclude_calendars, 20261210000201).
-- A fire is excluded when its instant, read in the CALENDAR's timezone, falls on one of its
-- dates (docs/calendars.md). The dates are one datemultirange: the claim asks `dates @> day`,
-- one containment test however many ranges; overlapping and adjacent ranges merge on write.
-- A new, empty table: its indexes are built with it, nothing waits on them.

create table if not exists public.calendars (
  id uuid primary key default gen_random_uuid(),
  -- the owner of the workflows whose schedules may use it; null: the service's own (schedules of
  -- owner-less workflows), as schedules.owner_id
  owner_id uuid,
  name text not null check (char_length(name) between 1 and 100),
  timezone text not null default 'UTC' check (char_length(timezone) between 1 and 64),
  note text check (char_length(note) <= 1000),
  dates datemultirange not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- one name per owner (the service's own calendars count as one owner)
create unique index if not exists calendars_owner_name_key
  on public.calendars (owner_id, name) nulls not distinct;

-- Supabase clients may read their own calendars; the API writes them.
alter table public.calendars enable row level security;
drop policy if exists calendars_owner_read on public.calendars;
create policy calendars_owner_read on public.calendars for select to authenticated
  using (owner_id = auth.uid());
revoke all on public.calendars from anon, authenticated;
grant select on public.calendars to authenticated;
grant all on public.calendars to service_role;

drop trigger if exists calendars_set_updated_at on public.calendars;
create trigger calendars_set_updated_at before update on public.calendars
  for each row execute function public.set_updated_at();
