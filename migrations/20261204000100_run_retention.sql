-- Run history retention (scheduler.retention): runs older than RUN_HISTORY_DAYS are deleted in
-- small batches, oldest first, except each schedule's latest finished run and any run still
-- running.

-- The batches walk the history in (scheduled_time, id) order: a batch reads the next few
-- thousand entries of this index after the previous batch's last one, so its cost does not
-- depend on the table's size or on how many old rows are kept. The id breaks ties: every
-- schedule of a cron fires at the same instant, so one scheduled_time is shared by many rows.
-- Whether a run is its schedule's latest is answered by schedule_runs_slot_key.
--
-- Building it locks out writes to schedule_runs for as long as the build takes (migrations run
-- in a transaction, where CONCURRENTLY is not allowed). On a large table, build it first by
-- hand with the same statement plus `concurrently`; this one then does nothing.
create index if not exists schedule_runs_age_idx on public.schedule_runs (scheduled_time, id);
