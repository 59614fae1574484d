-- The run path under faults: which invocation holds a claim, and definitions Python can load.

-- The Lambda request id of the invocation that claimed the slot. A Lambda retry of that
-- invocation carries the same id, so it can resume its own unstarted claim (and take back its
-- own lease), while a concurrent duplicate delivery, another invocation, cannot.
alter table public.schedule_runs add column if not exists claim_token text;

-- A workflow definition is user input that a runner must load: bound its size and its nesting
-- (a document nested thousands deep cannot be parsed without exhausting the parser's stack).
create or replace function public.jsonb_depth(doc jsonb) returns integer
language sql immutable strict parallel safe as $$
  with recursive walk(value, depth) as (
    select doc, 1
    union all
    select child.value, walk.depth + 1
    from walk
    cross join lateral (
      select e.value from jsonb_each(case when jsonb_typeof(walk.value) = 'object'
                                          then walk.value else '{}'::jsonb end) e
      union all
      select a.value from jsonb_array_elements(case when jsonb_typeof(walk.value) = 'array'
                                                    then walk.value else '[]'::jsonb end) a
    ) child
    where walk.depth <= 64  -- stop walking past the limit: the check only needs "too deep"
  )
  select max(depth) from walk
$$;

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'workflows_definition_bounds') then
    -- not valid: rows the host app already has are not rechecked (the runner still refuses
    -- to load them, as an invalid definition); every insert and update is checked.
    alter table public.workflows add constraint workflows_definition_bounds
      check (octet_length(definition::text) <= 262144 and public.jsonb_depth(definition) <= 32)
      not valid;
  end if;
end
$$;
