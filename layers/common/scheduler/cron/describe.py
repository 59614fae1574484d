"""Plain-English descriptions of Unix cron expressions, via cron-descriptor.

cron-descriptor is imported by the first description: only the API describes crons, and the
runner and reconcile, which import `scheduler.cron` for fire times and conversion, need not
load it (~20 ms of their cold start). ApiFunction imports it at init (functions/api/app.py).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise
from typing import Any

from scheduler.cron.convert import compile_expression, eventbridge_dom
from scheduler.cron.fields import DOW, SPECS, FieldSpec, format_set


@lru_cache(maxsize=1)
def _options() -> Any:
    from cron_descriptor import Options

    return Options(locale_code="en_US", use_24hour_time_format=False)


def _describe_set(values: frozenset[int], spec: FieldSpec) -> str:
    """A Unix field for the describer: `*`, `*/n`, `a-b/n` or a plain list."""
    full = spec.full
    if values == full:
        return "*"
    ordered = sorted(values)
    steps = {b - a for a, b in pairwise(ordered)}
    if len(ordered) >= 3 and len(steps) == 1 and (step := steps.pop()) > 1:
        if ordered[0] == spec.lo and ordered[-1] + step > max(full):
            return f"*/{step}"
        return f"{ordered[0]}-{ordered[-1]}/{step}"
    breaks = [i for i in range(1, len(ordered)) if ordered[i] != ordered[i - 1] + 1]
    if len(breaks) == 1 and ordered[0] == spec.lo and ordered[-1] == max(full):
        # one run across the end of the field, e.g. hours 22-2: say it as the user would
        return f"{ordered[breaks[0]]}-{ordered[breaks[0] - 1]}"
    return format_set(values, full)


@lru_cache(maxsize=2048)  # cron-descriptor reloads its locale on every call (~0.5 ms)
def describe(expr: str) -> str:
    """A human description of the expression via cron-descriptor, e.g. "At 07:00 AM".

    It describes what the expression does (macros expanded, `59/15` as minute 59, complete
    fields as every value), not its spelling.
    """
    compiled = compile_expression(expr)
    minute, hour, dom, month, dow = compiled.fields
    dom_text = dow_text = "*"
    if compiled.day_mode in ("dom", "or"):
        if dom.special is None:
            dom_text = _describe_set(dom.values, SPECS[2])
        else:
            dom_text = eventbridge_dom(dom)
    if compiled.day_mode in ("dow", "or"):
        if dow.special is None:
            dow_text = _describe_set(dow.values, FieldSpec(DOW, 0, 6, 7, {}))
        elif dow.special.kind == "last_dow":
            dow_text = f"{dow.special.value}L"
        else:
            dow_text = f"{dow.special.value}#{dow.special.nth}"
    unix = " ".join(
        (
            _describe_set(minute.values, SPECS[0]),
            _describe_set(hour.values, SPECS[1]),
            dom_text,
            _describe_set(month.values, SPECS[3]),
            dow_text,
        )
    )
    try:
        from cron_descriptor import ExpressionDescriptor

        return str(ExpressionDescriptor(unix, _options()).get_description())
    except Exception:  # the describer is a nicety: never fail a request over it
        return compiled.normalized
