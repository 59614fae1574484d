-- Validate the run checks that 20261207000000 added NOT VALID. VALIDATE scans the run history
-- under a SHARE UPDATE EXCLUSIVE lock, which lets the runner insert and update runs throughout:
-- only the ALTER that added them locked writes out, briefly. Alone in its transaction, so that
-- no other statement holds a stronger lock on schedule_runs for as long as the scans take.
alter table public.schedule_runs validate constraint schedule_runs_status_check;
alter table public.schedule_runs validate constraint schedule_runs_trigger_check;
alter table public.schedule_runs validate constraint schedule_runs_finished_check;
