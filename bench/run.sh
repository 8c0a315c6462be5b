#!/usr/bin/env bash
# Benchmark Switchgear against nginx on the PERFORMANCE.md rig; writes bench/RESULTS.md.
#   bash bench/run.sh [--quick] [--million] [--help for all flags]
# Installs its tools if missing, then runs bench/run.py with the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$PWD/bench/.work"

# The bench's system tools, in one place: "command:debian-package".
APT_TOOLS=("nginx:nginx-light" "wrk:wrk" "taskset:util-linux")

missing=()
for pair in "${APT_TOOLS[@]}"; do
  cmd="${pair%%:*}" pkg="${pair#*:}"
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench: installing ${missing[*]}" >&2
  # Debian's nginx packages would start a system nginx; the bench never uses it (own prefix and config).
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" \
    || { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"; }
fi
export PATH="$PATH:/usr/sbin"

# The gateway itself, installed the project's way (only when the venv is not there yet).
if [ ! -x .venv/bin/switchgear ]; then
  source scripts/_venv.sh serve ""
fi

# run.py stops what it starts; this catches anything left if it was killed outright.
# Only pids the bench recorded, and only while their command line still points into bench/.work.
cleanup() {
  local f pid
  for f in "$work"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q "$work"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      sleep 1
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}
trap cleanup EXIT
mkdir -p "$work"
.venv/bin/python bench/run.py "$@"
