-- migrate: no-transaction
-- The label filter (`labels @> '{"team": "billing"}'`): jsonb_path_ops is the smaller, faster
-- GIN opclass and serves exactly `@>`, the only operator the filter uses. Built concurrently,
-- alone in its file (see 20261208000302).
create index concurrently if not exists schedules_labels_idx
  on public.schedules using gin (labels jsonb_path_ops);
