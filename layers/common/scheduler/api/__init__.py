"""The Schedules API: its use cases and what turns them into HTTP.

Owns: the schedules' use cases (CRUD that keeps the database and EventBridge in step), the
workflows' writes (a definition checked as the runner loads it; a delete that takes the
schedules with it, all or nothing), the exclusion calendars' (a delete refused while
schedules use one, or detaching them; what a calendar removes from a schedule's fires), the
exceptions of one occurrence (skip / move), what a schedule's reads show beyond its row
(schedule_reads: calendars and exceptions applied), the accounting's route, the one
mapping of errors to HTTP answers, the Powertools resolver, the OpenAPI document's answers, and
the dashboard's files. The handler
(functions/api) is thin over it.

May import: every layer below (auth, policies, sync, run, steps, models, store, cron, platform).
"""
