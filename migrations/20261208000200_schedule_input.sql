-- A schedule's `input`: a JSON object its runs receive (placeholders in an http step, the lambda
-- step's payload; docs/input-and-placeholders.md).
-- A column with a constant default is metadata only since PostgreSQL 11: no table rewrite, every
-- existing row reads '{}'. Its ALTER still waits for every transaction using schedules, and the
-- runner's claims queue behind it meanwhile: it gives up after a second, below the runner's own
-- lock timeout (2 s), and scheduler/migrate.py tries again later.
-- The bounds (the API's too: scheduler.models.schedule_input) are added NOT VALID, so this ALTER
-- scans nothing; 20261208000201 validates them without locking writes out. Alone in its
-- transaction: holding this lock while taking one on another table could deadlock with the
-- runner (see 20261207000000).
set local lock_timeout = '1s';

alter table public.schedules add column if not exists input jsonb not null default '{}'::jsonb;

-- An object, of at most 8 KiB of JSON text and 16 levels of nesting (public.jsonb_depth, from
-- 20261201000000, stops walking past 64): what the runner loads at every fire stays small and
-- parseable.
alter table public.schedules drop constraint if exists schedules_input_bounds;
alter table public.schedules add constraint schedules_input_bounds
  check (jsonb_typeof(input) = 'object'
         and octet_length(input::text) <= 8192
         and public.jsonb_depth(input) <= 16)
  not valid;
