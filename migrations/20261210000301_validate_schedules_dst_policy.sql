-- Validate the check that 20261210000300 added NOT VALID. VALIDATE scans the schedules under a
-- SHARE UPDATE EXCLUSIVE lock, which lets the API and the runner write throughout. Alone in its
-- transaction, so no stronger lock on schedules is held for as long as it scans.
alter table public.schedules validate constraint schedules_dst_policy_choices;
