"""Unzipped size of what `sam build` produced: every function plus the shared layer."""

from __future__ import annotations

from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / ".aws-sam" / "build"


def measure() -> dict[str, float]:
    if not BUILD.is_dir():
        raise FileNotFoundError("no .aws-sam/build: run `make build` first")
    total = sum(p.stat().st_size for p in BUILD.rglob("*") if p.is_file() and not p.is_symlink())
    return {"package_mb": total / 1_000_000}
