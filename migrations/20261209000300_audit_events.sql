-- The audit log (issue #25): who changed a schedule or an API key, when, in which request, and
-- what changed. Written in the transaction of the change it records (scheduler.store.audit), so
-- a change that rolls back leaves no event and a committed one always has its event.
-- A new, empty table: its indexes are built with it, nothing waits on them.

create table if not exists public.audit_events (
  id uuid primary key default gen_random_uuid(),
  -- the insert's own time, not its transaction's start (now()): a change waits for the schedule's
  -- writer lock after its transaction began, so only this orders a schedule's events as its
  -- changes were made
  occurred_at timestamptz not null default clock_timestamp(),
  -- whose schedule or key it is (the schedule's workflow's owner, the key's owner): lets an owner
  -- list theirs; null for what belongs to the service (a service workflow's schedule, a key for
  -- every tenant)
  owner_id uuid,
  -- Principal.actor: "user:<id>", "api_key:<id>", "service_role"; "scheduler" for the runner's
  -- own changes (a pause after failures, a critical error's disable); "operator:<login>" for
  -- `make api-key`
  actor text not null check (length(actor) between 1 and 200),
  -- API Gateway's requestContext.requestId; null for the scheduler's own changes
  request_id text check (length(request_id) <= 200),
  subject_type text not null check (subject_type in ('schedule', 'api_key')),
  -- no foreign key: the events of a deleted schedule (or key) are kept
  subject_id uuid not null,
  action text not null check (action ~ '^[a-z_]{1,40}$'),
  -- {field: {before, after}}, camelCase field names as the API shows them
  changes jsonb not null default '{}'::jsonb check (jsonb_typeof(changes) = 'object'),
  -- what else the event says: a pause's note, a run's id, a backfill's interval, a key's name
  detail jsonb not null default '{}'::jsonb check (jsonb_typeof(detail) = 'object')
);

-- A schedule's (or key's) events, newest first (GET /api/schedules/{id}/events).
create index if not exists audit_events_subject_idx
  on public.audit_events (subject_id, occurred_at desc, id desc);
-- The service listing, newest first (GET /api/audit-events), and retention, oldest first.
create index if not exists audit_events_occurred_at_idx
  on public.audit_events (occurred_at desc, id desc);

-- Supabase clients may read the events of what they own, and write none: the API writes them.
alter table public.audit_events enable row level security;
drop policy if exists audit_events_owner_read on public.audit_events;
create policy audit_events_owner_read on public.audit_events for select to authenticated
  using (owner_id = auth.uid());
revoke all on public.audit_events from anon, authenticated;
grant select on public.audit_events to authenticated;
grant all on public.audit_events to service_role;
