-- The calendars a schedule excludes (issue #26): at most 10 calendar ids, kept on the row so
-- every read of a schedule has them without a join and the runner's claim reads them with the
-- schedule. No foreign key can point from an array: the API checks the ids are the schedule's
-- owner's calendars (locking them FOR KEY SHARE, so a concurrent delete waits and then sees the
-- reference), and a calendar in use cannot be deleted without detaching it (api/calendars.py).
-- A constant default: metadata only (no rewrite); the check is NOT VALID (no scan here), and
-- every existing row is '{}', which it holds. Alone in its transaction, giving up after a second
-- (see 20261208000500).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists exclude_calendars uuid[] not null default '{}';

alter table public.schedules drop constraint if exists schedules_exclude_calendars_bounds;
alter table public.schedules add constraint schedules_exclude_calendars_bounds
  check (cardinality(exclude_calendars) <= 10)
  not valid;
