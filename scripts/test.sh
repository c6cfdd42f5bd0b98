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
# Three workers on CI's 2 cores: most of the suite waits on real processes, sockets and
# daemons' cycles, so a third worker fills the idle CPU (measured: 460 s against 513 s of
# pytest with two, on this 2-core box). A file's tests stay on one worker, so module
# fixtures (a lab, a systemd, a dockerd) are shared.
.venv/bin/pytest -n "${TALON_TEST_WORKERS:-3}" --dist loadfile "$@"
