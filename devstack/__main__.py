"""`make run`: start the local stack in the foreground until Ctrl-C or SIGTERM.

Environment: PORT (default 3000) for the API, DEV_DIR (default .dev) for the data.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType


def _say(message: str) -> None:
    print(message, flush=True)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _banner(stack: object) -> str:
    from devstack.console import LOG_DIR
    from devstack.stack import Stack

    assert isinstance(stack, Stack)
    user = stack.users[0]
    api = stack.api_url
    # Each link signs its demo user in: the dashboard takes the token from the fragment (which
    # never reaches the server) and removes it from the address bar.
    dashboards = "\n".join(
        f"  Dashboard {api}/dashboard#access_token={demo.token}   (demo user {number})"
        for number, demo in enumerate(stack.users, start=1)
    )
    return f"""
Ready. The scheduler runs locally (Postgres, moto, the real Lambda handlers, a local EventBridge).

{dashboards}
  API       {api}/api
  Docs      {api}/api/docs
  Demo hits {api}/demo/hits   (what the demo workflows' http step has received)
  Heartbeat {api}/demo/heartbeat   (the last completed pass of the missed-fire check and reconcile)
  Tokens    {stack.state_file}   (apiUrl, users[].token / workflowId, serviceKey)
  Logs      {stack.data_dir / LOG_DIR}/   (lambda.jsonl: every JSON log record of the functions)
  Service   {stack.service_key}
            (a backend's API key, every tenant: Authorization: Bearer wsk_...)

Create a schedule that runs demo user 1's workflow every minute:

  curl -s -X POST {api}/api/schedules \\
    -H 'Authorization: Bearer {user.token}' \\
    -H 'Content-Type: application/json' \\
    -d '{{"workflowId": "{user.workflow_id}", "cron": "* * * * *"}}'

then, a minute later, its run history (put the returned id in place of ID):

  curl -s {api}/api/schedules/ID/runs -H 'Authorization: Bearer {user.token}'

Each API request and each run prints a line here, and so does every warning or error the
functions log (their full records, tracebacks too, are in lambda.jsonl). A run that fails (or
a schedule the runner disables) also prints an ALERT line: the event the runner published to
EventBridge (moto's default bus), as the template's rule would forward it.

A backend sees every tenant's schedules with the service key:

  curl -s {api}/api/schedules -H 'Authorization: Bearer {stack.service_key}'

Ctrl-C stops everything; the data stays in {stack.data_dir}.
"""


def main() -> int:
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # pgserver's platformdirs
    port = int(os.environ.get("PORT") or 3000)
    data_dir = Path(os.environ.get("DEV_DIR") or ".dev")

    from devstack.console import LOG_DIR, configure_logging
    from devstack.stack import Stack, StackAlreadyRunning

    configure_logging(data_dir / LOG_DIR)

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (nohup, &)
    stack = Stack(data_dir, port=port, say=_say)
    started = time.monotonic()
    try:
        stack.start()
        _say(_banner(stack))
        _say(f"(started in {time.monotonic() - started:.1f} s)")
        while True:
            time.sleep(3600)
    except StackAlreadyRunning as exc:
        print(f"{exc}. Stop it first (Ctrl-C in its terminal, or kill {exc.pid}).", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"Port {port} is in use. Free it or run: PORT=3001 make run", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        # A second Ctrl-C must not cut the shutdown short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _say("\nStopping ...")
        stack.stop()
        _say("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
