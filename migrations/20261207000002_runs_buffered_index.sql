-- migrate: no-transaction
-- The waiting runs of a workflow, in the order they are handed on (scheduler/run_queue.py).
-- Built concurrently, so the runner's writes go on during the build (a plain CREATE INDEX would
-- lock them out for as long as it scans the run history); hence alone in its file, outside any
-- transaction (scheduler/migrate.py). A no-op where 20261206000000 built it (its first release).
create index concurrently if not exists schedule_runs_buffered_idx
  on public.schedule_runs (workflow_id, scheduled_time) where status = 'buffered';
