-- migrate: no-transaction
-- The schedules that use a calendar (`exclude_calendars @> array[id]`: deleting a calendar, its
-- preview): GIN over the array. Built concurrently, alone in its file (see 20261208000302).
create index concurrently if not exists schedules_exclude_calendars_idx
  on public.schedules using gin (exclude_calendars);
