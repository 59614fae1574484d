-- migrate: no-transaction
-- buffer_one: at most one live fire of a schedule waits; a second one is skipped. The index makes
-- that hold for fires arriving at once (scheduler/queue_store.py catches the violation).
-- Built concurrently, alone in its file, as 20261207000002. A no-op where 20261206000000 built it.
create unique index concurrently if not exists schedule_runs_one_buffered_fire
  on public.schedule_runs (schedule_id)
  where status = 'buffered' and trigger in ('schedule', 'manual');
