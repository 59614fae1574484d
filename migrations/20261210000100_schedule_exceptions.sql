-- Exceptions for single fire times of a schedule (issue #26): `skip` one occurrence, or `move` it
-- to another instant, without pausing the schedule. `occurrence` is the slot as
-- scheduler.cron.fire_slot gives it (a repeated autumn wall time: its first instant), the same
-- instant schedule_runs.scheduled_time holds for it, so the runner finds the exception with its
-- claim. A moved occurrence runs at `move_to` under its original slot's identity: EventBridge
-- fires it from a one-time at() schedule named `move-<id>` (scheduler.sync.moves).
-- A new, empty table: its indexes are built with it, nothing waits on them. Its foreign key
-- takes a brief SHARE ROW EXCLUSIVE lock on schedules: giving up after a second (and retried by
-- the migrator, scheduler.store.migrate) rather than queueing the runner's writes behind a long
-- transaction.
set local lock_timeout = '1s';

create table if not exists public.schedule_exceptions (
  id uuid primary key default gen_random_uuid(),
  schedule_id uuid not null references public.schedules (id) on delete cascade,
  occurrence timestamptz not null,
  action text not null check (action in ('skip', 'move')),
  -- only a move has one, and it is not the occurrence itself
  move_to timestamptz,
  note text check (char_length(note) <= 500),
  created_at timestamptz not null default now(),
  -- Principal.actor of who added it ("user:<id>", "api_key:<id>", "service_role")
  created_by text not null check (length(created_by) between 1 and 200),
  constraint schedule_exceptions_move_to check (
    (action = 'move') = (move_to is not null) and move_to is distinct from occurrence
  ),
  -- one exception per occurrence: the runner's claim finds at most one
  constraint schedule_exceptions_occurrence_key unique (schedule_id, occurrence)
);

-- Two moves of one schedule to the same instant would run two slots at once: refused.
create unique index if not exists schedule_exceptions_move_to_key
  on public.schedule_exceptions (schedule_id, move_to) where action = 'move';
-- The missed-fire check and reconcile read the moves by their new time.
create index if not exists schedule_exceptions_move_to_idx
  on public.schedule_exceptions (move_to) where action = 'move';

-- Row level security on, and no policy: the API reads and writes them for their owners.
alter table public.schedule_exceptions enable row level security;
revoke all on public.schedule_exceptions from anon, authenticated;
grant all on public.schedule_exceptions to service_role;
