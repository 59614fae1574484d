"""Cost of converting a Unix cron to EventBridge syntax, over every input of the shared vectors.

Each call is timed with the converter's cache cleared first, so the numbers are those of a
first conversion (what the API pays for a new expression), rejects included.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import backends

ROOT = Path(__file__).resolve().parents[1]
SHARED_VECTORS = ROOT.parent / "shared" / "cron-vectors.tsv"
VENDORED_VECTORS = ROOT / "tests" / "unit" / "data" / "cron-vectors.tsv"
REPEATS = backends.sized(200, 3)


def _inputs() -> list[str]:
    path = SHARED_VECTORS if SHARED_VECTORS.is_file() else VENDORED_VECTORS
    lines = path.read_text(encoding="utf-8").split("\n")
    return [
        line.removesuffix("\r").rsplit("\t", 1)[0]
        for line in lines
        if line and not line.startswith("#") and "\t" in line
    ]


def measure() -> dict[str, float]:
    """Median microseconds per to_eventbridge call, and the slowest input's median."""
    if str(ROOT / "layers" / "common") not in sys.path:
        sys.path.insert(0, str(ROOT / "layers" / "common"))
    from scheduler import cron
    from scheduler.cron import convert as cron_convert

    all_samples: list[float] = []
    per_input: list[float] = []
    for text in _inputs():
        samples = []
        for _ in range(REPEATS):
            cron_convert._compile.cache_clear()
            start = time.perf_counter()
            with contextlib.suppress(cron.CronError):
                cron.to_eventbridge(text)
            samples.append((time.perf_counter() - start) * 1e6)
        all_samples.extend(samples)
        per_input.append(statistics.median(samples))
    return {
        "cron.convert_us": round(statistics.median(all_samples), 2),
        "cron.max_us": round(max(per_input), 2),
        **_preview_costs(),
    }


def _preview_costs() -> dict[str, float]:
    """POST /api/cron/preview's use case with its DST notes, in microseconds: the worst case
    (every minute in Berlin: 120 affected wall times a year) first with every cache cleared,
    then warm, and the notes alone warm for a daily cron."""
    from datetime import UTC, datetime

    from scheduler import cron
    from scheduler.api.cron_preview import preview_cron
    from scheduler.cron import convert as cron_convert
    from scheduler.cron import dst as cron_dst
    from scheduler.cron import fires as cron_fires
    from scheduler.models.cron_previews import CronPreviewRequest

    now = datetime.now(UTC)
    every_minute = CronPreviewRequest(cron="* * * * *", timezone="Europe/Berlin")

    def cold() -> None:
        cron_convert._compile.cache_clear()
        cron_fires._PREVIEWS.clear()
        cron_fires._croniter_template.cache_clear()
        cron_dst._changes.cache_clear()
        cron_dst._fires_between.cache_clear()
        preview_cron(every_minute, now)

    return {
        "cron.preview_cold_us": round(_median_us(cold, backends.sized(50, 2)), 1),
        "cron.preview_us": round(_median_us(lambda: preview_cron(every_minute, now), REPEATS), 1),
        "cron.dst_notes_us": round(
            _median_us(lambda: cron.dst_notes("30 2 * * *", "Europe/Berlin", now), REPEATS), 1
        ),
    }


def _median_us(call: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


if __name__ == "__main__":
    print(json.dumps(measure()))
