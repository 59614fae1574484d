-- A DST policy per schedule (issue #26, docs/cron-and-time-zones.md "DST policy"): what its cron
-- does with wall times a DST change skips (spring_forward: skip | shift) or repeats (fall_back:
-- first | last | both). The default is the behaviour before the column, EventBridge's own.
-- A constant default: metadata only since PostgreSQL 11 (no table rewrite, every existing row
-- reads the default). The bounds (the API's too: scheduler.models.schedule_dst) are added NOT
-- VALID, so this ALTER scans nothing; 20261210000301 validates them without locking writes out.
-- Alone in its transaction, giving up after a second (see 20261208000500).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists dst_policy jsonb not null
    default '{"spring_forward": "skip", "fall_back": "first"}';

alter table public.schedules drop constraint if exists schedules_dst_policy_choices;
alter table public.schedules add constraint schedules_dst_policy_choices
  check (
    jsonb_typeof(dst_policy) = 'object'
    and dst_policy - 'spring_forward' - 'fall_back' = '{}'::jsonb
    and dst_policy ->> 'spring_forward' in ('skip', 'shift')
    and dst_policy ->> 'fall_back' in ('first', 'last', 'both')
  )
  not valid;
