-- migrate: no-transaction
-- Fill last_run_status (20261209000202) from each existing schedule's newest finished run, and
-- owner_id (20261208000300) where it is still null, a batch of 5,000 schedules per transaction
-- (committed as it goes: no long transaction, no lock held on many rows at once, so the runner
-- and the API go on writing). Safe to run again and beside the runner: a schedule whose outcome
-- the runner recorded meanwhile (last_run_scheduled_time set) is left alone, and the runner's
-- own record keeps the newer of the two (by scheduled time) whichever writes first.
-- No-transaction (autocommit, one DO statement) so that the block may commit its batches.
do $$
declare
  after_id uuid := '00000000-0000-0000-0000-000000000000';
  batch uuid[];
begin
  loop
    select array_agg(id order by id) into batch
    from (select id from public.schedules where id > after_id order by id limit 5000) b;
    exit when batch is null;
    update public.schedules s
    set owner_id = coalesce(s.owner_id, (select w.owner_id from public.workflows w
                                         where w.id = s.workflow_id)),
        (last_run_status, last_run_scheduled_time) = (
          select coalesce(s.last_run_status, r.status),
                 coalesce(s.last_run_scheduled_time, r.scheduled_time)
          from (select 1) as one left join lateral (
            select status, scheduled_time from public.schedule_runs
            where schedule_id = s.id and status in ('succeeded', 'failed', 'skipped')
            order by scheduled_time desc, id desc limit 1
          ) r on true)
    where s.id = any(batch)
      -- only the rows that change: a schedule without an owner or a run is not rewritten
      and ((s.owner_id is null
            and exists (select 1 from public.workflows w
                        where w.id = s.workflow_id and w.owner_id is not null))
           or (s.last_run_scheduled_time is null
               and exists (select 1 from public.schedule_runs
                           where schedule_id = s.id
                             and status in ('succeeded', 'failed', 'skipped'))));
    after_id := batch[array_length(batch, 1)];
    commit;
  end loop;
end
$$;
