-- A schedule's identity for the caller (issue #25): `name`, a label, and `external_id`, the
-- caller's own key for it, unique per owner (PUT /api/schedules/by-external-id/{externalId}).
-- The owner is the workflow's; a unique index cannot reach into workflows, so `owner_id` is a
-- copy of the workflow's owner_id, kept in step by the trigger below on every insert and on an
-- update of `workflow_id` or `external_id` (a workflow's owner never changes: no write of the
-- API or of a Supabase client changes it). Rows written before this migration keep a null
-- owner_id until one of those writes: they have no external_id, the only thing it keys.
-- Nullable columns without a default: metadata only, no table rewrite. The bounds (the API's
-- too: scheduler.models.schedule_identity) are added NOT VALID so this ALTER scans nothing;
-- 20261208000301 validates them without locking writes out, 20261208000302 builds the unique
-- index concurrently. Alone in its transaction, giving up after a second (see 20261208000200).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists name text,
  add column if not exists external_id text,
  add column if not exists owner_id uuid;

-- name: at most 200 characters, no control characters (it is shown in lists and logs).
alter table public.schedules drop constraint if exists schedules_name_bounds;
alter table public.schedules add constraint schedules_name_bounds
  check (char_length(name) <= 200 and name !~ '[[:cntrl:]]')
  not valid;

-- external_id: 1 to 200 of A-Z a-z 0-9 . _ : -, starting with a letter or a digit: it is a path
-- segment of the API that needs no percent-encoding and is never "." or "..".
alter table public.schedules drop constraint if exists schedules_external_id_format;
alter table public.schedules add constraint schedules_external_id_format
  check (external_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$')
  not valid;

create or replace function public.schedules_set_owner_id() returns trigger
language plpgsql as $$
begin
  new.owner_id := (select w.owner_id from public.workflows w where w.id = new.workflow_id);
  return new;
end;
$$;

drop trigger if exists schedules_owner_id on public.schedules;
create trigger schedules_owner_id
  before insert or update of workflow_id, external_id on public.schedules
  for each row execute function public.schedules_set_owner_id();
