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
  [ssh]=openssh-client             # the ssh probe kind and the remote runtime
  [/usr/sbin/sshd]=openssh-server  # a real sshd on loopback for the ssh probe's tests
  [chromium]=chromium              # the status page's test in a real headless browser
  [promtool]=prometheus            # validates docs/prometheus rules (promtool check/test rules)
  [amtool]=prometheus-alertmanager  # amtool check-config and a real Alertmanager (docs/prometheus)
  [faketime]=faketime              # libfaketime: a real wall-clock step for a running `talon run` (F22)
  [dockerd]=docker.io              # a real Docker engine in its own namespaces (engine adapter, linux lab)
  [busybox]=busybox-static         # the rootfs of the tiny local image those containers run
  [systemd-nspawn]=systemd-container  # a real system-mode systemd in a container (system scope)
  [/usr/lib/nagios/plugins/check_tcp]=monitoring-plugins-basic  # real Nagios plugins
  [/lib/systemd/systemd]=systemd   # a real systemd user manager in a private mount namespace
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=("${NEED[$cmd]}")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages may start system instances (redis, sshd, prometheus) where an init
# system runs; Talon's tests start their own, on their own loopback ports.

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
