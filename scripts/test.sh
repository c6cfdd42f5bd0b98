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
# Four workers on CI's 2 cores: most of the suite waits on real processes, sockets and
# daemons' cycles, so more workers fill the idle CPU (measured on this 2-core box, the
# same 1224 tests: 523 s of pytest with three, 430 s with four). A file's tests stay on
# one worker, so module fixtures (a lab, a systemd, a dockerd) are shared.
.venv/bin/pytest -n "${TALON_TEST_WORKERS:-4}" --dist loadfile "$@"
