"""runWorkflow: the workflow engine and its steps.

Owns: loading a stored definition within bounds, running its steps in order (the engine), the
http and lambda steps, and the secrets steps name.

May import: models, store, cron, platform.
"""
