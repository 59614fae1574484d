"""The TypeScript types (clients/typescript/src/api.d.ts) are those of the API as the code
serves it, and the example client and the dashboard's ES modules type-check against them."""

from __future__ import annotations

from pathlib import Path

from tests.typescript_client import CLIENT, COMMITTED_TYPES, drift, generate_types, npm_tool, run

REGENERATE = "run clients/typescript/generate.sh (or make types) and commit src/api.d.ts"


def test_the_committed_types_are_generated_from_the_current_api(tmp_path: Path) -> None:
    generated = tmp_path / "api.d.ts"

    result = generate_types(generated)

    assert result.returncode == 0, result.stdout + result.stderr
    difference = drift(COMMITTED_TYPES.read_text(encoding="utf-8"), generated.read_text("utf-8"))
    assert difference is None, (
        f"The API changed, its TypeScript types did not: {REGENERATE}.\n{difference}"
    )


def test_the_drift_check_sees_a_changed_type() -> None:
    committed = COMMITTED_TYPES.read_text(encoding="utf-8")
    field = "            enabled: boolean;\n"
    assert field in committed
    changed = committed.replace(field, field.replace("boolean", "string"), 1)

    difference = drift(committed, changed)

    assert difference is not None
    assert "-            enabled: boolean;" in difference
    assert "+            enabled: string;" in difference
    assert drift(committed, committed.rstrip("\n")) is not None  # even a lost final newline
    assert drift(committed, committed) is None


def test_the_example_client_and_the_dashboard_type_check() -> None:
    # tsconfig.json includes the dashboard's ES modules (allowJs + checkJs) beside src/, so a
    # dashboard using a field the API does not have fails here too; while there is no
    # dashboard, the glob matching nothing must not fail tsc.
    result = run(npm_tool("tsc"), "--noEmit", "--pretty", "false", "-p", CLIENT)

    assert result.returncode == 0, result.stdout + result.stderr
