-- The schedules whose EventBridge schedule(s) still have to follow a committed change of the row
-- (issue #25, bulk pause / resume): a bulk change commits every row at once, then updates
-- EventBridge at a bounded rate; what its request had no time for stays marked here, and the
-- next drain (the request's retry, the drain it starts, or the reconcile pass, which drains
-- before its shards) updates it. A marker is removed with the record of the write that made
-- EventBridge follow the row (schedule_eventbridge_state), in the same transaction.
-- A new, empty table: nothing waits on its creation.

create table if not exists public.schedule_eventbridge_pending (
  schedule_id uuid primary key references public.schedules (id) on delete cascade,
  -- when the row changed: oldest first, and a drain removes only the marker it read (a newer
  -- change marks it again, with a newer time, and stays marked)
  marked_at timestamptz not null default clock_timestamp()
);

-- A drain reads the oldest markers first.
create index if not exists schedule_eventbridge_pending_marked_at_idx
  on public.schedule_eventbridge_pending (marked_at);

-- Row level security on, and no policy: only the service (the database owner) reads or writes it.
alter table public.schedule_eventbridge_pending enable row level security;
revoke all on public.schedule_eventbridge_pending from anon, authenticated;
grant all on public.schedule_eventbridge_pending to service_role;
