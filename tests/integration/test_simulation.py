"""The simulation (tests/simulation) on a few fixed seeds: `make test` runs these; `make soak`
runs many more. SIM_SEED=<n> runs that one seed instead (to replay a failure)."""

from __future__ import annotations

import os

import pytest

from tests.simulation.driver import run_seed

SEEDS = [int(os.environ["SIM_SEED"])] if os.environ.get("SIM_SEED") else list(range(4))


@pytest.mark.parametrize("seed", SEEDS)
def test_simulated_sequence_keeps_every_invariant(clean_db: str, seed: int) -> None:
    result = run_seed(clean_db, seed)
    assert not result.violations, result.repro()
