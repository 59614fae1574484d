-- Labels on schedules (issue #25): a bounded map of string -> string the caller filters the list
-- by (GET /api/schedules?label=k=v, `labels @> ...`). A constant default: metadata only since
-- PostgreSQL 11 (no table rewrite, every existing row reads '{}').
-- The bounds (the API's too: scheduler.models.schedule_labels): an object of at most 16 labels,
-- each key 1 to 63 of a-z 0-9 _ . - / starting with a letter or a digit, each value a string
-- of at most 63 characters without control characters. A CHECK cannot hold a subquery, so they
-- are an immutable function over the value. Added NOT VALID, so this ALTER scans nothing;
-- 20261209000201 validates it without locking writes out. Alone in its transaction, giving up
-- after a second (see 20261208000500).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists labels jsonb not null default '{}';

create or replace function public.schedule_labels_valid(labels jsonb) returns boolean
language sql immutable parallel safe as $$
  select jsonb_typeof(labels) = 'object'
     and (select count(*) from jsonb_each(labels)) <= 16
     and not exists (
       select 1 from jsonb_each(labels) as label(key, value)
       where label.key !~ '^[a-z0-9][a-z0-9_./-]{0,62}$'
          or jsonb_typeof(label.value) <> 'string'
          or char_length(label.value #>> '{}') > 63
          or (label.value #>> '{}') ~ '[[:cntrl:]]'
     )
$$;

alter table public.schedules drop constraint if exists schedules_labels_bounds;
alter table public.schedules add constraint schedules_labels_bounds
  check (public.schedule_labels_valid(labels))
  not valid;
