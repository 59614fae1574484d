-- migrate: no-transaction
-- The retention pass deletes the exceptions whose time passed longer ago than the run history is
-- kept, oldest occurrence first (scheduler.policies.retention): an index to read them in that
-- order. Built concurrently, alone in its file (see 20261208000302).
create index concurrently if not exists schedule_exceptions_occurrence_idx
  on public.schedule_exceptions (occurrence);
