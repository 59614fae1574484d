"""Reading settings from the process environment, for modules that must stay light.

pydantic-settings cost ~100 ms of every cold start (most of it its command-line source) to do
what these few lines do for flat settings. Names match case-insensitively, as they did there:
DATABASE_URL or database_url. The authorizer reads its settings through here without loading
pydantic at all (scheduler.auth.tokens); scheduler.config validates the others with pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping


def environment_values(
    names: Iterable[str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The value of each setting in `names` that the environment sets, by its lowercase name."""
    lowered = {name.lower(): value for name, value in environ.items()}
    return {name: lowered[name] for name in names if name in lowered}


def secret_setting(value: str | None, secret_name: str | None) -> str | None:
    """A secret given directly (local, tests) or by its Secrets Manager name (AWS)."""
    if value is not None:
        return value
    if secret_name:
        from aws_lambda_powertools.utilities import parameters  # only where a secret is named

        # Cached for 5 minutes: a rotated secret is picked up without a redeploy.
        return str(parameters.get_secret(secret_name, max_age=300))
    return None
