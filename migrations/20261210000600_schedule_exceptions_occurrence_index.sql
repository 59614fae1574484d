-- migrate: no-transaction
-- Retention deletes exceptions whose occurrence (and a move's new time) fell out of the run
-- history kept, oldest first: this index finds them without reading the table. Built
-- concurrently, alone in its file (see 20261208000302).
create index concurrently if not exists schedule_exceptions_occurrence_idx
  on public.schedule_exceptions (occurrence);
