#!/usr/bin/env bash
# Set up, then run Talon's main job on this machine: one check cycle of the example
# config, which probes things every machine has. (`talon demo` replaces it with the lab.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
chmod go-w examples/*.toml  # Talon refuses config files others can edit
exec .venv/bin/talon --config examples/config.toml check "$@"
