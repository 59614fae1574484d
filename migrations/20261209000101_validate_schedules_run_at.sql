-- Validate the checks that 20261209000100 added NOT VALID. VALIDATE scans the schedules under a
-- SHARE UPDATE EXCLUSIVE lock, which lets the API and the runner write throughout. Alone in its
-- transaction, so no stronger lock on schedules is held for as long as it scans.
alter table public.schedules validate constraint schedules_cron_or_run_at;
alter table public.schedules validate constraint schedules_run_at_has_no_window;
