-- What was last written to EventBridge Scheduler for each schedule row (scheduler/sync_store.py),
-- so that a reconcile pass recognises an unchanged schedule from ListSchedules' summaries alone
-- (its LastModificationDate is not newer than `written_at`) instead of one GetSchedule each.
-- Written in the same transaction as the row change by every API write and every repair. A row
-- without one (written before this migration, or around the API) is compared as before, with
-- GetSchedule, and gets one once it is found in step.

create table if not exists public.schedule_eventbridge_state (
  schedule_id uuid primary key references public.schedules (id) on delete cascade,
  -- SHA-256 (hex) of every Create/UpdateSchedule request the row maps to (scheduler/eventbridge.py)
  fingerprint text not null check (length(fingerprint) = 64),
  -- when it was written: our clock after the write returned, or AWS's LastModificationDate of a
  -- schedule found in step; a later modification of the schedule is someone else's
  written_at timestamptz not null
);

-- Row level security on, and no policy: only the service (the database owner) reads or writes it.
alter table public.schedule_eventbridge_state enable row level security;
revoke all on public.schedule_eventbridge_state from anon, authenticated;
grant all on public.schedule_eventbridge_state to service_role;
