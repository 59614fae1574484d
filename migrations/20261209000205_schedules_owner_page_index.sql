-- migrate: no-transaction
-- An owner's schedules, newest first (GET /api/schedules for one caller): the list reads one
-- owner's first page straight from this index instead of walking every owner's schedules in
-- created_at order (at 1,000,000 schedules over many owners: docs/performance.md). Built
-- concurrently, alone in its file (see 20261208000302).
create index concurrently if not exists schedules_owner_page_idx
  on public.schedules (owner_id, created_at desc, id desc);
