"""The API's data shapes (pydantic v2): camelCase in JSON, snake_case in Python.

Owns: the base model and its checks, one module per family of shapes: a schedule's fields
(schedule_fields), its labels' bounds (schedule_labels), the list's filter as the query string
states it (schedule_filters), its requests and row (schedules), the views the API shows
(schedule_views), the cron preview (cron_previews), workflows, the error bodies (errors), the
runs' (run rows, run now, backfill), the API keys' and the exclusion calendars'. Shapes, no
behaviour: the use cases above take and return them; `python -m scheduler.models.json_schema
schema` writes them as JSON Schema.

May import: store, cron, platform.
"""
