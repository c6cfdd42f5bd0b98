#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set-up, lint, type-check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy --strict"; .venv/bin/mypy
echo "== pytest"
# pytest exits 5 when it collected no tests: with set -e that fails the run, as it must.
# Two workers (CI has 2 cores); a file's tests stay on one worker, so module fixtures are shared.
.venv/bin/pytest -n "${TALON_TEST_WORKERS:-2}" --dist loadfile "$@"
