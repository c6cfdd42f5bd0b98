#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, a virtualenv, Talon.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the project and its tests use, keyed by the command that proves them.
declare -A NEED=(
  [python3]=python3
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [kubectl]=kubernetes-client
  [openssl]=openssl
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian redis-server package starts a system instance; Talon's tests start their own.

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  python3 -m venv .venv
fi
stamp=.venv/.talon-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Talon and its Python dependencies into .venv"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
# Compiled bytecode keeps `talon --help` fast on the first run too.
"$PY" -m compileall -q src >/dev/null
