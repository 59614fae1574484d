"""The Schedules API's routes, grouped by what they act on, on one Powertools resolver.

`routing` holds the resolver (`app`), what every route asks of a request (the caller, whose
rows it sees, the use cases to call) and the parameters routes share; each other module
registers a group of routes on it when imported: schedules, bulk, runs, keys, cron, workflows,
docs.
A route parses, calls one use case and returns its model; errors are mapped to HTTP once, by
functions/api/app.py with scheduler.api.http_errors. Only ApiFunction imports this package.
"""
