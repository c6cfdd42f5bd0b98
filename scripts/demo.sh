#!/usr/bin/env bash
# Set up, then run Talon's main job: `talon demo` on the built-in lab (real processes
# on 127.0.0.2 and 127.0.0.1; faults injected; what Talon sees and decides, narrated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/talon demo "$@"
