#!/usr/bin/env bash
# What the benchmarks need besides scripts/setup.sh: the peers Talon is compared with
# (bench/compare.py), Debian's monit and prometheus-blackbox-exporter. Installs only what
# is missing; the benchmark starts its own instances on loopback, with its own configs.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

declare -A NEED=(
  [monit]=monit
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench-setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Where an init system runs, Debian starts system instances of both (monit with
# /etc/monit/monitrc, the exporter on :9115); the benchmark never talks to them.
# The profiler used on the daemon (docs/performance.md), into Talon's own venv.
if [ ! -x .venv/bin/py-spy ]; then
  .venv/bin/python -m pip install -q -e ".[bench]"
fi
