-- A `Run Missed` alert not yet accepted by EventBridge (the pass ran short of time, PutEvents
-- failed): true until it is, and each pass sends those left over (scheduler/missed_fires.py).
-- A nullable column without a default: adding it rewrites nothing, but its ALTER waits for every
-- transaction using schedule_runs, and the runner's writes queue behind it meanwhile: it gives
-- up after a second, below the runner's own lock timeout (2 s), and scheduler/migrate.py tries
-- again later. Alone in its transaction: holding this lock while taking one on another table
-- could deadlock with the runner or a pause (see 20261207000000).
set local lock_timeout = '1s';

alter table public.schedule_runs add column if not exists missed_alert_pending boolean;

-- Its partial index is built concurrently in 20261207000101, outside any transaction.
