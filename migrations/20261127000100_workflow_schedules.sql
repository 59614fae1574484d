-- Workflows, their cron schedules and the run history.

-- workflows: the host app may already have this table; add only what is missing.
create table if not exists public.workflows (
  id uuid primary key default gen_random_uuid()
);
alter table public.workflows
  add column if not exists owner_id uuid,
  add column if not exists name text not null default '',
  add column if not exists definition jsonb not null default '{"steps": []}'::jsonb,
  add column if not exists status text not null default 'idle',
  add column if not exists run_count integer not null default 0,
  add column if not exists last_run_at timestamptz,
  add column if not exists last_run_status text,
  -- fence of the newest lease that wrote this row: an older lease holder cannot overwrite it
  add column if not exists lease_fence bigint not null default 0,
  add column if not exists created_at timestamptz not null default now(),
  add column if not exists updated_at timestamptz not null default now();

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'workflows_status_check') then
    alter table public.workflows
      add constraint workflows_status_check check (status in ('idle', 'running'));
  end if;
  if not exists (select 1 from pg_constraint where conname = 'workflows_last_run_status_check') then
    alter table public.workflows add constraint workflows_last_run_status_check
      check (last_run_status is null or last_run_status in ('succeeded', 'failed'));
  end if;
end
$$;

create index if not exists workflows_owner_idx on public.workflows (owner_id, created_at desc, id desc);

-- One trigger function keeps updated_at honest and created_at immutable on every table.
create or replace function public.set_updated_at() returns trigger
language plpgsql as $$
begin
  new.created_at := old.created_at;
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists workflows_set_updated_at on public.workflows;
create trigger workflows_set_updated_at before update on public.workflows
  for each row execute function public.set_updated_at();

create table if not exists public.schedules (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  cron text not null check (length(btrim(cron)) > 0 and length(cron) <= 256),
  timezone text not null default 'UTC' check (length(timezone) between 1 and 64),
  enabled boolean not null default true,
  last_run_at timestamptz,
  -- why the runner disabled this schedule (a critical error); null when enabled by the user
  disabled_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index if not exists schedules_workflow_idx on public.schedules (workflow_id);
create index if not exists schedules_page_idx on public.schedules (created_at desc, id desc);

drop trigger if exists schedules_set_updated_at on public.schedules;
create trigger schedules_set_updated_at before update on public.schedules
  for each row execute function public.set_updated_at();

create table if not exists public.schedule_runs (
  id uuid primary key default gen_random_uuid(),
  schedule_id uuid not null references public.schedules (id) on delete cascade,
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  trigger text not null default 'schedule' check (trigger in ('schedule', 'manual')),
  scheduled_time timestamptz not null,
  status text not null default 'running'
    check (status in ('running', 'succeeded', 'failed', 'skipped')),
  attempt integer not null default 1 check (attempt >= 1),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- the run is abandoned (its runner died) once this passes with the status still 'running'
  lease_expires_at timestamptz,
  fence bigint,
  error text,
  output jsonb,
  -- EventBridge delivers at least once: this constraint is the dedupe of a fire time.
  constraint schedule_runs_slot_key unique (schedule_id, scheduled_time),
  constraint schedule_runs_finished_check
    check ((status = 'running') = (finished_at is null))
);

create index if not exists schedule_runs_history_idx
  on public.schedule_runs (schedule_id, scheduled_time desc, id desc);
create index if not exists schedule_runs_workflow_idx on public.schedule_runs (workflow_id);
create index if not exists schedule_runs_stuck_idx
  on public.schedule_runs (lease_expires_at) where status = 'running';

-- Row level security: Supabase clients (PostgREST, supabase-js) see only their own rows.
-- The scheduler's functions connect as the database owner and filter by owner themselves.
-- Schedules and runs are read-only to clients: the API is the one writer of schedules (it keeps
-- EventBridge in step and validates cron and timezone), the runner the one writer of runs.
alter table public.workflows enable row level security;
alter table public.schedules enable row level security;
alter table public.schedule_runs enable row level security;

drop policy if exists workflows_owner_all on public.workflows;
create policy workflows_owner_all on public.workflows for all to authenticated
  using (owner_id = auth.uid()) with check (owner_id = auth.uid());

drop policy if exists schedules_owner_all on public.schedules;
drop policy if exists schedules_owner_read on public.schedules;
create policy schedules_owner_read on public.schedules for select to authenticated
  using (exists (select 1 from public.workflows w
                 where w.id = schedules.workflow_id and w.owner_id = auth.uid()));

drop policy if exists schedule_runs_owner_read on public.schedule_runs;
create policy schedule_runs_owner_read on public.schedule_runs for select to authenticated
  using (exists (select 1 from public.workflows w
                 where w.id = schedule_runs.workflow_id and w.owner_id = auth.uid()));

-- Supabase's default privileges grant everything on new tables to anon and authenticated:
-- take back the writes (and anon's reads) explicitly.
revoke all on public.schedules, public.schedule_runs from anon, authenticated;
grant usage on schema public to anon, authenticated, service_role;
grant select, insert, update, delete on public.workflows to authenticated;
grant select on public.schedules, public.schedule_runs to authenticated;
grant all on public.workflows, public.schedules, public.schedule_runs to service_role;

-- The workflow's run state belongs to the runner: a client writing its own workflow row
-- (the host app may let it) cannot fake a run or block the next one through the lease fence.
create or replace function public.keep_workflow_run_state() returns trigger
language plpgsql as $$
begin
  if current_user in ('anon', 'authenticated') then
    if tg_op = 'INSERT' then
      new.status := 'idle';
      new.run_count := 0;
      new.last_run_at := null;
      new.last_run_status := null;
      new.lease_fence := 0;
    else
      new.status := old.status;
      new.run_count := old.run_count;
      new.last_run_at := old.last_run_at;
      new.last_run_status := old.last_run_status;
      new.lease_fence := old.lease_fence;
    end if;
  end if;
  return new;
end
$$;

drop trigger if exists workflows_keep_run_state on public.workflows;
create trigger workflows_keep_run_state before insert or update on public.workflows
  for each row execute function public.keep_workflow_run_state();
